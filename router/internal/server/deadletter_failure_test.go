package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/syncbuf"
)

// A dead-letter store that fails (here: the output's file is a directory,
// as a broken disk would refuse it) must neither hang a config reload nor
// /healthz, must be reported in the log, a metric and the health detail,
// and must lose nothing: once the store works, the refused alert is in it.
func TestFailingDeadLetterStoreIsVisibleAndHangsNothing(t *testing.T) {
	s := newSink(t)
	s.setStatus(400) // every alert is refused permanently
	logs := &syncbuf.Buffer{}
	e := startLogged(t, fmt.Sprintf("outputs: {webhook: {soc: {address: %s}}}\n", s.srv.URL),
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	broken := filepath.Join(e.dir, "data", "deadletters", "webhook.soc.dlq")
	if err := os.Mkdir(broken, 0o750); err != nil {
		t.Fatal(err)
	}
	sendBatches(t, withToken(context.Background(), sensorToken), e.dial(t, true),
		[]*harrierv1.Alert{mkAlert(1, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall")})

	client := &http.Client{Timeout: 2 * time.Second} // an answer, not a hang
	get := func(path string) string {
		t.Helper()
		resp, err := client.Get("http://" + e.r.MetricsAddr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	health := func() healthReport {
		t.Helper()
		var h healthReport
		if err := json.Unmarshal([]byte(get("/healthz")), &h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	soc := func(h healthReport) (o struct{ state, deadErr string }) {
		for _, out := range h.Outputs {
			if out.Name == "webhook.soc" {
				o.state, o.deadErr = out.State, out.DeadLetterError
			}
		}
		return o
	}
	poll.Until(t, 10*time.Second, "the dead-letter failure in /healthz", func() bool { return soc(health()).deadErr != "" })
	h := health()
	if h.Status != "degraded" || !strings.Contains(soc(h).deadErr, "is a directory") || soc(h).state != "retrying" {
		t.Fatalf("healthz: %+v", h)
	}
	if m := get("/metrics"); !strings.Contains(m, `harrier_router_output_dead_letter_failures_total{output="webhook.soc"}`) {
		t.Fatalf("metrics lack the dead-letter failures")
	}
	if !strings.Contains(logs.String(), "cannot store dead letters") {
		t.Fatalf("no log line for the failure: %s", logs.String())
	}

	// A reload that restarts the output returns although its worker is
	// stuck with unstorable dead letters.
	p := filepath.Join(e.dir, "next.yaml")
	old, _ := os.ReadFile(e.cfgPath)
	i := bytes.Index(old, []byte("outputs:"))
	os.WriteFile(p, append(old[:i:i], fmt.Sprintf("outputs: {webhook: {soc: {address: %s, timeout: 3s}}}\n", s.srv.URL)...), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 1)
	go func() { reloaded <- e.r.Reload(cfg) }()
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("config reload hangs on the failing dead-letter store")
	}
	poll.Until(t, 10*time.Second, "the restarted output reports the failure again", func() bool { return soc(health()).deadErr != "" })

	// The disk recovers: the alert is stored once, the failure clears.
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the dead letter stored", func() bool {
		h := health()
		return h.DeadLetters["webhook.soc"] == 1 && soc(h).deadErr == ""
	})
	if n := e.r.dead.Counts()["webhook.soc"]; n != 1 {
		t.Fatalf("%d dead letters, want exactly 1", n)
	}
}
