package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/webhookrecv"
)

// falcoSender posts one Falco JSON alert per request over a single
// keep-alive connection and waits for each answer, as Falco's http_output
// does. An alert counts as acknowledged only on 200; after an error it is
// sent again (Falco itself would drop it).
type falcoSender struct {
	url            string
	mu             sync.Mutex
	acked          []string
	reused, dialed atomic.Int64
}

func (s *falcoSender) ackedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acked...)
}

func (s *falcoSender) run(ctx context.Context) {
	client := &http.Client{Timeout: 2 * time.Second,
		Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			s.reused.Add(1)
		} else {
			s.dialed.Add(1)
		}
	}}
	for n := 1; ctx.Err() == nil; {
		id := fmt.Sprintf("falco-%07d", n)
		body := fmt.Sprintf(`{"uuid":%q,"output":"shell","priority":"Warning","rule":"Terminal shell in container","time":"2026-11-24T10:00:00.000000000Z","source":"syscall","hostname":"h","output_fields":{"proc.name":"bash"}}`, id)
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, s.url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			time.Sleep(20 * time.Millisecond) // router down: wait for it
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			s.mu.Lock()
			s.acked = append(s.acked, id)
			s.mu.Unlock()
			n++
		}
	}
}

// The default acknowledgement policy (http.ack: written) answers Falco as
// soon as the alert is in the journal file; the claim is that this survives
// the router being SIGKILLed: every alert answered 200 before the kill is
// delivered after the restart.
func TestFalcoKeepAliveSenderSIGKILLLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	hook := webhookrecv.New(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	// A long fsync window: acknowledged alerts are certainly not fsynced yet
	// when the kill comes, so only the page cache holds them.
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf(`
journal: {fsync_interval: 10s}
outputs:
  webhook:
    soc: {address: %s, format: ndjson}
`, hook.URL))
	r := startRouter(t, cfg, grpcAddr, httpAddr)

	ctx, cancel := context.WithCancel(context.Background())
	s := &falcoSender{url: "http://" + httpAddr + "/"}
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx) }()

	poll.Until(t, 20*time.Second, "alerts acknowledged", func() bool { return len(s.ackedIDs()) >= 1500 })
	r.kill() // SIGKILL mid-stream
	killedAt := len(s.ackedIDs())
	// Falco keeps one connection; a request that outlives the client's 2 s
	// timeout on a loaded machine makes it dial again, as Falco would, so a
	// few dials are fine as long as requests ride a kept-alive connection.
	if d, u := s.dialed.Load(), s.reused.Load(); d < 1 || d > 3 || u < int64(killedAt)-d {
		t.Fatalf("before the kill: %d connections dialed, %d requests reused one; want a keep-alive connection", d, u)
	}
	startRouter(t, cfg, grpcAddr, httpAddr)
	poll.Until(t, 20*time.Second, "the sender to resume", func() bool { return len(s.ackedIDs()) >= killedAt+500 })
	cancel()
	<-done
	acked := s.ackedIDs()
	poll.Until(t, 30*time.Second, "every acknowledged alert at the webhook", func() bool { return hook.Missing(acked[:killedAt]) == 0 })
	poll.Until(t, 30*time.Second, "the alerts after the restart too", func() bool { return hook.Missing(acked) == 0 })
	t.Logf("%d alerts answered 200 over one keep-alive connection (%d before SIGKILL, unfsynced), all delivered", len(acked), killedAt)
}
