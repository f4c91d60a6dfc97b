package elasticsearch_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/elasticsearch"
	"github.com/harrier-security/harrier/router/internal/testcerts"
	"github.com/harrier-security/harrier/router/internal/testpeers/espeer"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// TestMutualTLS serves the peer over HTTPS requiring client certificates.
func TestMutualTLS(t *testing.T) {
	certs, err := testcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	peer := espeer.Start(t, espeer.Options{TLSCert: certs.ServerCert, TLSKey: certs.ServerKey, ClientCA: certs.CA})
	good := tlsconfig.Client{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}
	clientTLS, err := good.Config()
	if err != nil {
		t.Fatal(err)
	}
	peer.Client.Transport = &http.Transport{TLSClientConfig: clientTLS}
	ctx := context.Background()
	in := alertsAt("mtls", 3, time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC), time.Second)

	o := newOutput(t, elasticsearch.Config{HostPort: peer.URL, Index: "mtls", TLS: good})
	if err := o.Deliver(ctx, in); err != nil {
		t.Fatalf("Deliver over mutual TLS: %v", err)
	}
	countIs(t, peer, "mtls-2026.11.24", nil, 3)

	for name, c := range map[string]tlsconfig.Client{
		"no client certificate": {CAFile: certs.CA},
		"unknown CA":            {CertFile: certs.ClientCert, KeyFile: certs.ClientKey},
	} {
		bad := newOutput(t, elasticsearch.Config{HostPort: peer.URL, Index: "mtls", TLS: c, Timeout: 3 * time.Second})
		err := bad.Deliver(ctx, in)
		if err == nil {
			t.Errorf("%s: Deliver succeeded", name)
		} else if output.IsPermanent(err) {
			t.Errorf("%s: TLS failure is permanent: %v", name, err)
		}
	}
	// checkcert: false skips server verification, not the client certificate.
	skip := newOutput(t, elasticsearch.Config{HostPort: peer.URL, Index: "mtls",
		TLS: tlsconfig.Client{InsecureSkipVerify: true, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}})
	if err := skip.Deliver(ctx, in); err != nil {
		t.Errorf("Deliver with checkcert false: %v", err)
	}
}
