package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/sensorstream"
	"github.com/harrier-security/harrier/router/internal/testkit/webhookrecv"
)

// SIGTERM stops ingest and lets the outputs drain every acknowledged alert,
// including those acknowledged "written" inside the last fsync window,
// before the process exits.
func TestSIGTERMDrainsQueuedAlerts(t *testing.T) {
	dir := t.TempDir()
	slow := webhookrecv.New(t)
	slow.SetDelay(5 * time.Millisecond) // per request; one alert per request
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf("outputs: {webhook: {slow: {address: %s, parallel: 1}}}\n", slow.URL))
	// Enough time to drain under a loaded CI machine.
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "shutdown_timeout: 5s", "shutdown_timeout: 60s", 1)), 0o600)
	r := startRouter(t, cfg, grpcAddr, httpAddr)

	s := &sensorstream.Sensor{Addr: grpcAddr, Prefix: "d"}
	stopSensor := s.Start(t, 20, 0)
	poll.Until(t, 10*time.Second, "a backlog", func() bool { return len(s.Acked()) >= 300 })
	stopSensor()
	acked := s.Acked()
	if slow.Missing(acked) == 0 {
		t.Fatal("no backlog to drain; the test proves nothing")
	}
	r.Signal(os.Interrupt)
	select {
	case <-r.Exited():
	case <-time.After(60 * time.Second):
		t.Fatal("router did not exit")
	}
	if missing := slow.Missing(acked); missing != 0 {
		t.Fatalf("%d of %d acknowledged alerts undelivered at exit", missing, len(acked))
	}
	if !strings.Contains(r.logs(), "router stopped") {
		t.Fatalf("no clean stop in the log:\n%s", r.logs())
	}
}
