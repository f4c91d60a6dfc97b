package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/testkit/poll"
)

// TestNoSecretLeaks configures each secret form (a token in a webhook
// URL's query, basic-auth userinfo, bearer and API-key headers, ingest,
// client and HTTP tokens), makes every webhook fail (nothing listens at
// their address), and looks for each secret in every log line, /healthz,
// /metrics and `config show`.
func TestNoSecretLeaks(t *testing.T) {
	dir := t.TempDir()
	grpcAddr, httpAddr := freePort(t), freePort(t)
	secrets := []string{"LEAK-QUERY-1a2b", "LEAK-PASS-3c4d", "LEAK-BEARER-5e6f", "LEAK-HEADER-8a9b",
		"LEAK-INGEST-7f3a", "LEAK-CLIENT-9b2c", "LEAK-HTTP-4d1e"}
	cfg := filepath.Join(dir, "router.yaml")
	body := `data_dir: ` + dir + `/data
grpc: {address: "` + grpcAddr + `", ingest_tokens: [LEAK-INGEST-7f3a], client_tokens: [LEAK-CLIENT-9b2c]}
http: {address: "` + httpAddr + `", metrics_address: "` + metricsFor(t, httpAddr) + `", token: LEAK-HTTP-4d1e}
log: {level: debug, format: json}
delivery: {backoff: {initial: 20ms, max: 100ms}}
outputs:
  webhook:
    query: {address: "http://127.0.0.1:1/hook?token=LEAK-QUERY-1a2b&team=soc"}
    userinfo: {address: "http://alice:LEAK-PASS-3c4d@127.0.0.1:1/hook"}
    header: {address: "http://127.0.0.1:1/h", customheaders: {Authorization: "Bearer LEAK-BEARER-5e6f", X-Api-Key: LEAK-HEADER-8a9b}}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRouter(t, cfg, grpcAddr, httpAddr)
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/", strings.NewReader(
		`{"output":"x","priority":"Warning","rule":"R","time":"2026-11-24T10:00:00.000000000Z","source":"syscall","hostname":"h1","output_fields":{}}`))
	req.Header.Set("Authorization", "Bearer LEAK-HTTP-4d1e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST with the HTTP token: %d", resp.StatusCode)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + metricsFor(t, httpAddr) + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// Every output has failed at least once and says so.
	var health string
	poll.Until(t, 20*time.Second, "every webhook failing in /healthz", func() bool {
		health = get("/healthz")
		return strings.Count(health, "127.0.0.1:1") >= 3 || strings.Count(health, "connection refused") >= 3
	})
	places := map[string]string{"/healthz": health, "/metrics": get("/metrics")}
	show := exec.Command(binary, "config", "show", cfg)
	out, err := show.CombinedOutput()
	if err != nil {
		t.Fatalf("config show: %v\n%s", err, out)
	}
	places["config show"] = string(out)
	r.stop()
	places["logs"] = r.logs()
	if !strings.Contains(places["logs"], "127.0.0.1:1") {
		t.Fatalf("no delivery failure was logged; the test proves nothing:\n%s", places["logs"])
	}
	for where, text := range places {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s shows %s: ...%s...", where, s, text[max(0, i-200):min(len(text), i+60)])
			}
		}
	}
}
