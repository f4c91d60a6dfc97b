package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/testkit/testcerts"
)

func TestTLSConfigs(t *testing.T) {
	certs := testcerts.New(t)
	off, err := TLS{}.ServerConfig()
	if err != nil || off != nil {
		t.Fatalf("disabled TLS: %v %v", off, err)
	}
	srv, err := TLS{Enabled: true, CertFile: certs.ServerCert, KeyFile: certs.ServerKey}.ServerConfig()
	if err != nil || len(srv.Certificates) != 1 || srv.ClientAuth != tls.NoClientCert {
		t.Fatalf("server TLS: %+v %v", srv, err)
	}
	mtls, err := TLS{Enabled: true, CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CAFile}.ServerConfig()
	if err != nil || mtls.ClientAuth != tls.RequireAndVerifyClientCert || mtls.ClientCAs == nil {
		t.Fatalf("a CA file must require client certificates: %+v %v", mtls, err)
	}
	cli, err := TLS{Enabled: true, CertFile: certs.ClientCert, KeyFile: certs.ClientKey, CAFile: certs.CAFile, ServerName: "router"}.ClientConfig()
	if err != nil || len(cli.Certificates) != 1 || cli.RootCAs == nil || cli.ServerName != "router" {
		t.Fatalf("client mTLS: %+v %v", cli, err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o600)
	if _, err := (TLS{Enabled: true, CAFile: notPEM}).ClientConfig(); err == nil {
		t.Fatal("a CA file without certificates was accepted")
	}
	if _, err := (TLS{Enabled: true, CertFile: certs.ServerCert, KeyFile: certs.ClientKey}).ServerConfig(); err == nil {
		t.Fatal("a key that does not match the certificate was accepted")
	}
}
