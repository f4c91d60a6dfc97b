package tlsconfig_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/harrier-security/harrier/router/internal/testcerts"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

func TestServerAndClientConfigs(t *testing.T) {
	dir := t.TempDir()
	c, err := testcerts.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := (tlsconfig.Server{}).Config(); cfg != nil || err != nil {
		t.Fatalf("plaintext: %v %v", cfg, err)
	}
	s, err := tlsconfig.Server{CertFile: c.ServerCert, KeyFile: c.ServerKey, ClientCAFile: c.CA}.Config()
	if err != nil || s.ClientAuth != tls.RequireAndVerifyClientCert || s.MinVersion != tls.VersionTLS12 {
		t.Fatalf("mTLS server: %+v %v", s, err)
	}
	cl, err := tlsconfig.Client{CAFile: c.CA, CertFile: c.ClientCert, KeyFile: c.ClientKey}.Config()
	if err != nil || len(cl.Certificates) != 1 || cl.RootCAs == nil {
		t.Fatalf("client: %v", err)
	}
	notPEM := filepath.Join(dir, "junk.pem")
	os.WriteFile(notPEM, []byte("junk"), 0o600)
	for name, bad := range map[string]func() error{
		"key without cert": func() error { _, err := tlsconfig.Server{KeyFile: c.ServerKey}.Config(); return err },
		"missing cert":     func() error { _, err := tlsconfig.Server{CertFile: "/nope", KeyFile: "/nope"}.Config(); return err },
		"junk CA":          func() error { _, err := tlsconfig.Client{CAFile: notPEM}.Config(); return err },
		"cert without key": func() error { _, err := tlsconfig.Client{CertFile: c.ClientCert}.Config(); return err },
		"junk client CA": func() error {
			_, err := tlsconfig.Server{CertFile: c.ServerCert, KeyFile: c.ServerKey, ClientCAFile: notPEM}.Config()
			return err
		},
	} {
		if bad() == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
