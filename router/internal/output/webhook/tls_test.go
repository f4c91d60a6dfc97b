package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/testcerts"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

func TestMutualTLS(t *testing.T) {
	certs, err := testcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := tlsconfig.Server{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CA}.Config()
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 1 && r.TLS.PeerCertificates[0].Subject.CommonName == "sensor-1" {
			got++
		}
	}))
	srv.TLS = srvTLS
	srv.StartTLS()
	defer srv.Close()
	a := []*harrierv1.Alert{alert("m")}

	noCert, _ := New(Config{Name: "w", Address: srv.URL, TLS: tlsconfig.Client{CAFile: certs.CA}})
	if err := noCert.Deliver(context.Background(), a); err == nil {
		t.Fatal("delivered without a client certificate")
	}
	withCert, err := New(Config{Name: "w", Address: srv.URL,
		TLS: tlsconfig.Client{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}})
	if err != nil {
		t.Fatal(err)
	}
	if err := withCert.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got != 1 {
		t.Fatalf("server saw %d authenticated requests", got)
	}
}
