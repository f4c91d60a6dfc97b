package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SIGTERM stops ingest and lets the outputs drain what the journal holds
// before the process exits.
func TestSIGTERMDrainsQueuedAlerts(t *testing.T) {
	dir := t.TempDir()
	slow := newReceiver(t)
	slow.mu.Lock()
	slow.delay = 5 * time.Millisecond // per request; one alert per request
	slow.mu.Unlock()
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf("outputs: {webhook: {slow: {address: %s, parallel: 1}}}\n", slow.srv.URL))
	// Enough time to drain under a loaded CI machine.
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "shutdown_timeout: 5s", "shutdown_timeout: 60s", 1)), 0o600)
	r := startRouter(t, cfg, grpcAddr, httpAddr)

	ctx, cancel := context.WithCancel(context.Background())
	s := &sensor{addr: grpcAddr}
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx, 20, "d", 0) }()
	eventually(t, 10*time.Second, "a backlog", func() bool { return len(s.ackedIDs()) >= 300 })
	cancel()
	<-done
	acked := s.ackedIDs()
	if slow.has(acked) == 0 {
		t.Fatal("no backlog to drain; the test proves nothing")
	}
	r.Signal(os.Interrupt)
	select {
	case <-r.Exited():
	case <-time.After(60 * time.Second):
		t.Fatal("router did not exit")
	}
	if missing := slow.has(acked); missing != 0 {
		t.Fatalf("%d of %d acknowledged alerts undelivered at exit", missing, len(acked))
	}
	if !strings.Contains(r.logs(), "router stopped") {
		t.Fatalf("no clean stop in the log:\n%s", r.logs())
	}
}
