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

// TestFalcoSingleFileCertificate: Falco's webserver.ssl_certificate is one
// PEM holding the key and the certificate; as both cert_file and key_file
// it makes a working server configuration.
func TestFalcoSingleFileCertificate(t *testing.T) {
	s := testcerts.New(t)
	cert, _ := os.ReadFile(s.ServerCert)
	key, _ := os.ReadFile(s.ServerKey)
	pem := filepath.Join(t.TempDir(), "falco.pem")
	if err := os.WriteFile(pem, append(append(key, '\n'), cert...), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Source{File: write(t, "webserver: {enabled: true, ssl_enabled: true, ssl_certificate: "+pem+"}\n"), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := c.Sources.K8sAudit.TLS.ServerConfig()
	if err != nil || tc == nil || len(tc.Certificates) != 1 {
		t.Fatalf("server TLS from Falco's single PEM: %v", err)
	}
}

// TestCAPathTrustsItsCertificates: Falco's http_output.ca_path, a
// directory of CA files, verifies a real TLS server signed by one of them.
func TestCAPathTrustsItsCertificates(t *testing.T) {
	s := testcerts.New(t)
	dir := t.TempDir()
	ca, _ := os.ReadFile(s.CAFile)
	_ = os.WriteFile(filepath.Join(dir, "one.pem"), ca, 0o600)
	_ = os.WriteFile(filepath.Join(dir, "README"), []byte("not a certificate"), 0o600)
	cc, err := TLS{Enabled: true, CAPath: dir, ServerName: "localhost"}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.ServerTLS(false))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), cc)
	if err != nil {
		t.Fatalf("handshake with the CA from ca_path: %v", err)
	}
	conn.Close()
	if _, err := (TLS{Enabled: true, CAPath: "/nonexistent"}).ClientConfig(); err == nil {
		t.Error("a missing ca_path was accepted")
	}
}
