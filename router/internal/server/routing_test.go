package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
)

// Outputs route by condition, and a live edit with a bad condition is
// refused while the running configuration keeps routing.
func TestConditionRoutingAndLiveEditRefusal(t *testing.T) {
	shell, rest := newSink(t), newSink(t)
	outputs := func(shellCond string) string {
		return fmt.Sprintf("outputs:\n  webhook:\n    shell:\n      address: %s\n      condition: '%s'\n    rest:\n      address: %s\n      condition: 'not tags in (shell) and priority in (Error, Critical)'\n",
			shell.srv.URL, shellCond, rest.srv.URL)
	}
	e := start(t, outputs("tags in (shell) and rule startswith Terminal"))
	conn := e.dial(t, true)
	ctx := withToken(context.Background(), sensorToken)
	err, crit, warn := harrierv1.Priority_PRIORITY_ERROR, harrierv1.Priority_PRIORITY_CRITICAL, harrierv1.Priority_PRIORITY_WARNING
	sendBatches(t, ctx, conn, []*harrierv1.Alert{
		mkAlert(1, warn, "Terminal shell in container", "syscall", "container", "shell"), // shell
		mkAlert(2, err, "Terminal shell in container", "syscall", "network"),             // rest
		mkAlert(3, warn, "Write below etc", "syscall", "shell"),                          // neither
		mkAlert(4, crit, "Write below etc", "syscall"),                                   // rest
		mkAlert(5, warn, "Outbound", "syscall"),                                          // neither
	})
	poll.Until(t, 10*time.Second, "routed alerts", func() bool { return shell.count() == 1 && rest.count() == 2 })
	has := func(s *sink, id string) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.alerts[id] != nil }
	if !has(shell, "id-000001") || !has(rest, "id-000002") || !has(rest, "id-000004") {
		t.Fatalf("wrong alerts routed: shell %v rest %v", shell.alerts, rest.alerts)
	}

	// Live edits through the file watcher, as harrier-router run does.
	wctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var rejected []error
	applied := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		config.Watch(wctx, e.cfgPath, func(c *config.Config) {
			e.r.Reload(c)
			mu.Lock()
			applied++
			mu.Unlock()
		}, func(err error) {
			e.r.Rejected(err)
			mu.Lock()
			rejected = append(rejected, err)
			mu.Unlock()
		})
	}()
	defer func() { stop(); <-done }()
	old, _ := os.ReadFile(e.cfgPath)
	i := bytes.Index(old, []byte("outputs:"))
	n := 0
	var lastEdit time.Time
	edit := func(cond string) {
		n++ // a new comment each time: the watcher ignores unchanged content
		os.WriteFile(e.cfgPath, append(old[:i:i], fmt.Sprintf("# edit %d\n%s", n, outputs(cond))...), 0o600)
	}
	// The watcher may not be watching yet: edit until it sees one.
	poll.Until(t, 10*time.Second, "the bad edit refused", func() bool {
		mu.Lock()
		defer mu.Unlock()
		// Spaced beyond the watcher's 200ms debounce.
		if len(rejected) == 0 && time.Since(lastEdit) > 500*time.Millisecond {
			edit("tags in (shell) and rule startswith")
			lastEdit = time.Now()
		}
		return len(rejected) > 0
	})
	mu.Lock()
	msg := rejected[0].Error()
	mu.Unlock()
	if !strings.Contains(msg, "outputs.webhook.shell.condition: 1:36: ") {
		t.Fatalf("refusal does not name the key and column: %s", msg)
	}
	sendBatches(t, ctx, conn, []*harrierv1.Alert{mkAlert(6, warn, "Terminal shell", "syscall", "shell")})
	poll.Until(t, 10*time.Second, "the running condition still routes", func() bool { return shell.count() == 2 })

	edit("rule = Outbound")
	poll.Until(t, 10*time.Second, "the good edit applied", func() bool { mu.Lock(); defer mu.Unlock(); return applied >= 1 })
	sendBatches(t, ctx, conn, []*harrierv1.Alert{
		mkAlert(7, warn, "Outbound", "syscall"),
		mkAlert(8, warn, "Terminal shell", "syscall", "shell"),
	})
	poll.Until(t, 10*time.Second, "the new condition routes", func() bool { return has(shell, "id-000007") })
	if has(shell, "id-000008") {
		t.Fatal("the old condition still applies after the edit")
	}
}

// A subscriber's condition selects like an output's; a bad one is refused
// with its position.
func TestSubscriptionCondition(t *testing.T) {
	e := start(t, "")
	conn := e.dial(t, true)
	cctx, cancel := context.WithCancel(withToken(context.Background(), clientToken))
	defer cancel()
	client := harrierv1.NewSubscriptionClient(conn)
	bad, err := client.Subscribe(cctx, &harrierv1.SubscribeRequest{Filter: &harrierv1.AlertFilter{Condition: "tags in (shell"}})
	if err == nil {
		_, err = bad.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "1:9: ") {
		t.Fatalf("bad condition: %v", err)
	}
	st, err := client.Subscribe(cctx, &harrierv1.SubscribeRequest{Filter: &harrierv1.AlertFilter{
		Sources: []string{"syscall"}, Condition: `tags in (shell) and rule startswith Terminal`}})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "1 subscriber", func() bool { return e.r.hub.Subscribers() == 1 })
	warn := harrierv1.Priority_PRIORITY_WARNING
	sendBatches(t, withToken(context.Background(), sensorToken), conn, []*harrierv1.Alert{
		mkAlert(1, warn, "Write below etc", "syscall", "shell"),
		mkAlert(2, warn, "Terminal shell", "k8s_audit", "shell"),
		mkAlert(3, warn, "Terminal shell", "syscall", "network"),
		mkAlert(4, warn, "Terminal shell", "syscall", "shell"),
	})
	m, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.GetAlert().GetId(); got != "id-000004" {
		t.Fatalf("subscriber got %s (%v), want only id-000004", got, m)
	}
}
