package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
)

// Two replicas on one Kafka topic (kfake peer): alerts sent to one are
// searchable in both consoles, including those stored before the second
// replica started (it rebuilds its index from the retained log).
func TestConsoleOnKafkaJournalEveryReplicaSearchesEveryAlert(t *testing.T) {
	kc := kafkapeer.Start(t, 3, nil)
	cfg := fmt.Sprintf(`journal: {backend: kafka, kafka: {brokers: [%q], partitions: 3, replication_factor: 1}}
outputs: {file: {a: {path: DIR/a.jsonl}}}
`, kc.Addr())
	a := start(t, cfg)
	ctx := withToken(context.Background(), sensorToken)
	var before, after []*harrierv1.Alert
	for i := range 6 {
		before = append(before, mkAlert(i, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall"))
	}
	if acks := sendBatches(t, ctx, a.dial(t, true), before); acks[0].GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK {
		t.Fatalf("ack %v", acks[0])
	}
	b := start(t, cfg) // after the first alerts: must find them in the log
	for i := 6; i < 12; i++ {
		after = append(after, mkAlert(i, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall"))
	}
	if acks := sendBatches(t, ctx, a.dial(t, true), after); acks[0].GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK {
		t.Fatalf("ack %v", acks[0])
	}
	want := map[string]bool{}
	for _, al := range append(before, after...) {
		want[al.GetId()] = true
	}
	for name, e := range map[string]*env{"replica a": a, "replica b": b} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, total, err := consoleSearch("http://" + e.r.HTTPAddr())
			if err == nil && total == len(want) && sameKeys(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: console search: %d alerts %v, err %v; want %d", name, total, got, err, len(want))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// consoleSearch signs in (an open console hands a session to whoever asks
// /ui/api/me) and lists the alerts the search API returns.
func consoleSearch(base string) (map[string]bool, int, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	me, err := hc.Get(base + "/ui/api/me")
	if err != nil {
		return nil, 0, err
	}
	me.Body.Close()
	resp, err := hc.Get(base + "/ui/api/search?limit=100")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var res struct {
		Total  int `json:"total"`
		Alerts []struct {
			Alert struct {
				UUID string `json:"uuid"`
			} `json:"alert"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, 0, err
	}
	got := map[string]bool{}
	for _, h := range res.Alerts {
		got[h.Alert.UUID] = true
	}
	return got, res.Total, nil
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// With console.oidc the console is not open on loopback: /ui/api/me asks
// for sign-in and names the OIDC start, which redirects to the provider's
// authorization endpoint (the full flow is tested in console/auth).
func TestConsoleOIDCWiring(t *testing.T) {
	var idp *httptest.Server
	idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": idp.URL, "authorization_endpoint": idp.URL + "/authorize",
			"token_endpoint": idp.URL + "/token", "jwks_uri": idp.URL + "/keys"})
	}))
	defer idp.Close()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	e := start(t, fmt.Sprintf(`console: {oidc: {issuer: %q, client_id: harrier, client_secret_file: %s, redirect_url: "http://127.0.0.1/ui/api/oidc/callback", responders: [soc]}}
outputs: {file: {a: {path: DIR/a.jsonl}}}
`, idp.URL, secret))
	base := "http://" + e.r.HTTPAddr()
	resp, err := http.Get(base + "/ui/api/me")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "/ui/api/oidc/login") {
		t.Fatalf("me with OIDC on loopback: %d %s (want 401 naming the OIDC login)", resp.StatusCode, b)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = hc.Get(base + "/ui/api/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, idp.URL+"/authorize?") ||
		!strings.Contains(loc, "client_id=harrier") || !strings.Contains(loc, "code_challenge=") {
		t.Fatalf("oidc login: %d %q", resp.StatusCode, loc)
	}
}
