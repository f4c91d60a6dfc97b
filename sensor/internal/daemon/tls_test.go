package daemon

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/testcerts"
)

// TestTLSEverywhereFromConfig sets TLS up through the configuration keys
// only: the webhook requires client certificates, the router stream uses
// mTLS and a token read from a file, and /metrics is served over TLS.
func TestTLSEverywhereFromConfig(t *testing.T) {
	certs := testcerts.New(t)
	rcv, store := transporttest.Run(t, transporttest.Options{TLS: certs.ServerTLS(true), Token: "r0uter"})
	tokenFile := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(tokenFile, []byte("r0uter\n"), 0o600)
	cfg := testConfigWith(t, rcv.Addr, []string{writeFile(t, "rules.yaml", ruleAny)}, []string{
		"sources.k8s_audit.tls.enabled=true",
		"sources.k8s_audit.tls.cert_file=" + certs.ServerCert,
		"sources.k8s_audit.tls.key_file=" + certs.ServerKey,
		"sources.k8s_audit.tls.ca_file=" + certs.CAFile,
		"metrics.tls.enabled=true",
		"metrics.tls.cert_file=" + certs.ServerCert,
		"metrics.tls.key_file=" + certs.ServerKey,
		"outputs.grpc.tls.enabled=true",
		"outputs.grpc.tls.cert_file=" + certs.ClientCert,
		"outputs.grpc.tls.key_file=" + certs.ClientKey,
		"outputs.grpc.tls.ca_file=" + certs.CAFile,
		"outputs.grpc.tls.server_name=127.0.0.1",
		"outputs.grpc.token_file=" + tokenFile,
	})
	r := start(t, cfg)
	defer r.stop(t)

	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: certs.ClientTLS(&certs.Client)}, Timeout: 5 * time.Second}
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: certs.ClientTLS(nil)}, Timeout: 5 * time.Second}
	url := "https://" + r.d.WebhookAddr() + "/k8s_audit"
	if resp, err := noCert.Post(url, "application/json", bytes.NewReader(auditEvent(1))); err == nil {
		resp.Body.Close()
		t.Fatalf("webhook accepted a client without a certificate (%d)", resp.StatusCode)
	}
	resp, err := withCert.Post(url, "application/json", bytes.NewReader(auditEvent(2)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook over mTLS: %d", resp.StatusCode)
	}
	if !store.WaitUnique(1, 10*time.Second) {
		t.Fatal("alert did not reach the router over mTLS with a token")
	}
	if rcv.Unauthenticated.Load() != 0 {
		t.Fatal("the router refused the token")
	}
	mresp, err := noCert.Get("https://" + r.d.MetricsAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	mresp.Body.Close()
	if mresp.StatusCode != 200 || mresp.TLS == nil || mresp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("metrics over TLS: %d %v", mresp.StatusCode, mresp.TLS)
	}
}
