package faulttest

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNoSecretLeaks configures the sensor's secret forms (a token in the
// HTTP output's query and basic-auth userinfo, the webhook's bearer token,
// the router token), makes the outputs fail (nothing listens there), and
// looks for each secret in every log line, /healthz and /metrics.
func TestNoSecretLeaks(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(ruleEvery), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"LEAK-QUERY-1a2b", "LEAK-PASS-3c4d", "LEAK-WEBHOOK-5e6f", "LEAK-ROUTER-7f3a"}
	cfg := filepath.Join(dir, "sensor.yaml")
	body := `
log: {level: debug}
rules: {files: [` + rules + `], watch: false}
sources:
  syscall: {enabled: false}
  k8s_audit: {listen: 127.0.0.1:0, token: LEAK-WEBHOOK-5e6f}
metrics: {listen: 127.0.0.1:0}
outputs:
  stdout: {enabled: false}
  http: {enabled: true, url: "http://alice:LEAK-PASS-3c4d@127.0.0.1:1/in?token=LEAK-QUERY-1a2b&team=soc", timeout: 200ms}
  grpc:
    enabled: true
    address: 127.0.0.1:1
    token: LEAK-ROUTER-7f3a
    insecure_token: true
    spool: {dir: ` + filepath.Join(dir, "spool") + `}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, cfg)
	batch, _ := auditBatch(1, 0, 5)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.webhook+"/k8s_audit", bytes.NewReader(batch))
	req.Header.Set("Authorization", "Bearer LEAK-WEBHOOK-5e6f")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("audit POST with the token: %d", resp.StatusCode)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + s.metrics + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	eventually(t, 20*time.Second, "the HTTP output's failure in the logs", func() bool {
		return strings.Contains(s.Logs(), "127.0.0.1:1/in")
	})
	places := map[string]string{"/healthz": get("/healthz"), "/readyz": get("/readyz"), "/metrics": get("/metrics")}
	s.Stop(t)
	places["logs"] = s.Logs()
	for where, text := range places {
		for _, sec := range secrets {
			if i := strings.Index(text, sec); i >= 0 {
				t.Errorf("%s shows %s: ...%s...", where, sec, text[max(0, i-200):min(len(text), i+60)])
			}
		}
	}
}
