package daemon

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/testkit/syncbuf"
)

// TestEveryOutputFromConfig: stdout (JSON), the JSON-lines file and the
// HTTP POST (as falcosidekick takes it) all carry the alert in Falco's JSON;
// outputs.min_priority keeps less severe alerts out of all of them.
func TestEveryOutputFromConfig(t *testing.T) {
	var mu sync.Mutex
	var posted []*harrierv1.Alert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a, err := falcojson.Unmarshal(b)
		if err != nil {
			t.Errorf("posted body is not Falco JSON: %v", err)
			return
		}
		mu.Lock()
		posted = append(posted, a)
		mu.Unlock()
	}))
	defer hook.Close()
	file := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg := testConfigWith(t, "127.0.0.1:1", []string{writeFile(t, "rules.yaml", ruleAny+ruleCreate)}, []string{
		"outputs.grpc.enabled=false",
		"outputs.stdout.enabled=true",
		"outputs.stdout.format=json",
		"outputs.file.enabled=true",
		"outputs.file.path=" + file,
		"outputs.http.enabled=true",
		"outputs.http.url=" + hook.URL,
		"outputs.min_priority=notice",
		"rules.rule_matching=all",
	})
	var stdout syncbuf.Buffer
	d, err := New(cfg, Options{Logger: quiet, Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for !d.ready.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.Post("http://"+d.WebhookAddr()+"/k8s_audit", "application/json", bytes.NewReader(auditEvent(7)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(posted)
		mu.Unlock()
		if n >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Only "Create seen" (Notice) passes min_priority; "Any audit event"
	// (Informational) goes nowhere.
	check := func(where string, a *harrierv1.Alert) {
		t.Helper()
		if a.GetRule() != "Create seen" || a.GetPriority() != harrierv1.Priority_PRIORITY_NOTICE || a.GetHostname() != "node-1" {
			t.Fatalf("%s: %v", where, a)
		}
	}
	if len(posted) != 1 {
		t.Fatalf("http output posted %d alerts, want 1", len(posted))
	}
	check("http", posted[0])
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("file output has %d lines", len(lines))
	}
	a, err := falcojson.Unmarshal([]byte(lines[0]))
	if err != nil {
		t.Fatal(err)
	}
	check("file", a)
	outLines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(outLines) != 1 {
		t.Fatalf("stdout has %d lines: %q", len(outLines), stdout.String())
	}
	a, err = falcojson.Unmarshal([]byte(outLines[0]))
	if err != nil {
		t.Fatal(err)
	}
	check("stdout", a)
}
