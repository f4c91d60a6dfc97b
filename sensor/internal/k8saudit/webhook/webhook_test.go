package webhook_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit/webhook"
	"github.com/harrier-security/harrier/sensor/internal/testkit/audittest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
	"github.com/harrier-security/harrier/sensor/internal/testkit/testcerts"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const auditDir = "../../../../../shared/testdata/falco/k8s_audit"

// collector is the evaluation side: it records the events it is handed.
type collector struct {
	mu     sync.Mutex
	events []*k8saudit.Event
	gate   chan struct{} // when non-nil, each batch waits for a token
}

func (c *collector) handle(evs []*k8saudit.Event) error {
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	c.events = append(c.events, evs...)
	c.mu.Unlock()
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("handler saw %d events, want %d", c.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type server struct {
	*webhook.Server
	url    string
	col    *collector
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg webhook.Config, col *collector) *server {
	t.Helper()
	if col == nil {
		col = &collector{}
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = quiet
	s := webhook.New(cfg, col.handle)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &server{Server: s, col: col, cancel: cancel, done: make(chan error, 1)}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	srv.url = scheme + "://" + s.Addr()
	go func() { srv.done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		if col.gate != nil {
			close(col.gate)
			col.gate = nil
		}
		cancel()
		if err := <-srv.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

func post(t *testing.T, c *http.Client, url string, body []byte, hdr ...string) (int, http.Header, string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// eventList wraps audit events (one JSON object per line, as in the shared
// files) into the EventList that kube-apiserver's webhook backend POSTs.
func eventList(lines [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i, l := range lines {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(l)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func sharedFiles(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join(auditDir, "*.json"))
	if len(files) == 0 {
		require.Missing(t, fmt.Sprintf("Falco's audit test files are not at %s (they live beside the repository in the development workspace)", auditDir))
	}
	return files
}

func TestSharedAuditFilesPostedAsEventLists(t *testing.T) {
	srv := start(t, webhook.Config{}, nil)
	want := 0
	var ids []string
	for i, f := range sharedFiles(t) {
		lines := audittest.Lines(t, f)
		path := webhook.Paths[i%2] // both paths
		code, _, body := post(t, nil, srv.url+path, eventList(lines))
		if code != http.StatusOK {
			t.Fatalf("%s: status %d (%s)", filepath.Base(f), code, body)
		}
		want += len(lines)
		for _, l := range lines {
			ev, err := k8saudit.ParseEvent(l)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ev.AuditID())
		}
	}
	srv.col.waitFor(t, want)
	got := map[string]bool{}
	for _, ev := range srv.col.events {
		got[ev.AuditID()] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("audit event %s was accepted but never reached evaluation", id)
		}
	}
}

func TestSingleEventAndLineDelimitedBodies(t *testing.T) {
	files := sharedFiles(t)
	srv := start(t, webhook.Config{}, nil)
	lines := audittest.Lines(t, files[0])
	if code, _, body := post(t, nil, srv.url+"/k8s_audit", lines[0]); code != 200 {
		t.Fatalf("single Event: %d %s", code, body)
	}
	srv.col.waitFor(t, 1)
	if code, _, body := post(t, nil, srv.url+"/k8s-audit", bytes.Join(lines, []byte("\n"))); code != 200 {
		t.Fatalf("events one per line: %d %s", code, body)
	}
	srv.col.waitFor(t, 1+len(lines))
	if code, _, _ := post(t, nil, srv.url+"/k8s_audit", []byte(`{"kind":"EventList","items":[]}`)); code != 200 {
		t.Fatalf("empty EventList: %d", code)
	}
}

func TestBadRequestsAreRefusedAndServingGoesOn(t *testing.T) {
	files := sharedFiles(t)
	lines := audittest.Lines(t, files[0])
	good := eventList(lines)
	srv := start(t, webhook.Config{MaxBodyBytes: int64(len(good)) + 100}, nil)
	cases := []struct {
		name    string
		body    []byte
		code    int
		reason  string
		chunked bool
	}{
		{"not JSON", []byte("hello"), 400, "malformed audit payload", false},
		{"truncated EventList", good[:len(good)/2], 400, "truncated", false},
		{"broken JSON", []byte(`{"kind":"EventList","items":[{"auditID":}]}`), 400, "line 1", false},
		{"empty body", nil, 400, "empty body", false},
		{"event without auditID", []byte(`{"kind":"Event","verb":"get"}`), 400, "auditID", false},
		{"item of the wrong type", []byte(`{"kind":"EventList","items":[42]}`), 400, "item 0", false},
		{"a number", []byte(`42`), 400, "expected an audit Event", false},
		{"wrong kind", []byte(`{"kind":"Pod","auditID":"x"}`), 400, "kind", false},
		{"oversized", bytes.Repeat([]byte(" "), len(good)+200), 413, "over the limit", false},
		{"oversized, chunked", bytes.Repeat([]byte(" "), len(good)+200), 413, "over the limit", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var code int
			var body string
			if c.chunked {
				// No Content-Length: the limit must hold while reading.
				req, _ := http.NewRequest(http.MethodPost, srv.url+"/k8s_audit", io.MultiReader(bytes.NewReader(c.body)))
				req.ContentLength = -1
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				code, body = resp.StatusCode, string(b)
			} else {
				code, _, body = post(t, nil, srv.url+"/k8s_audit", c.body)
			}
			if code != c.code || !strings.Contains(body, c.reason) {
				t.Fatalf("status %d body %q; want %d with %q", code, body, c.code, c.reason)
			}
			// The server goes on serving.
			if code, _, body := post(t, nil, srv.url+"/k8s_audit", good); code != 200 {
				t.Fatalf("valid request after a bad one: %d %s", code, body)
			}
		})
	}
	// 200 means queued, not yet handled: wait for the valid requests' events,
	// then check that nothing of the refused requests came through as well.
	srv.col.waitFor(t, len(cases)*len(lines))
	for deadline := time.Now().Add(5 * time.Second); srv.Queued() != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := srv.col.count(); n != len(cases)*len(lines) {
		t.Fatalf("%d events evaluated; want only those of the %d valid requests", n, len(cases))
	}
	resp, err := http.Get(srv.url + "/k8s_audit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, _ = http.Post(srv.url+"/other", "application/json", bytes.NewReader(good))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
}

func TestBearerToken(t *testing.T) {
	lines := audittest.Lines(t, sharedFiles(t)[0])
	srv := start(t, webhook.Config{Token: "t0ken"}, nil)
	for _, c := range []struct {
		hdr  []string
		code int
	}{
		{nil, 401},
		{[]string{"Authorization", "Bearer nope"}, 401},
		{[]string{"Authorization", "t0ken"}, 401},
		{[]string{"Authorization", "Bearer t0ken"}, 200},
	} {
		code, h, _ := post(t, nil, srv.url+"/k8s_audit", eventList(lines), c.hdr...)
		if code != c.code {
			t.Fatalf("headers %v: status %d, want %d", c.hdr, code, c.code)
		}
		if code == 401 && h.Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
	}
	srv.col.waitFor(t, len(lines))
}

// TestFullQueueAnswers503 checks back-pressure: events beyond the queue are
// refused with Retry-After, never dropped after a 200.
func TestFullQueueAnswers503(t *testing.T) {
	lines := audittest.Lines(t, sharedFiles(t)[0])
	ev := lines[0]
	col := &collector{gate: make(chan struct{})}
	// Acknowledged once queued, so that a batch can wait in the queue.
	srv := start(t, webhook.Config{QueueEvents: 4, RetryAfter: 2 * time.Second, AckQueued: true}, col)
	three := eventList([][]byte{ev, ev, ev})
	if code, _, _ := post(t, nil, srv.url+"/k8s_audit", three); code != 200 {
		t.Fatalf("first batch: %d", code)
	}
	code, h, _ := post(t, nil, srv.url+"/k8s_audit", three)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "2" {
		t.Fatalf("batch beyond the queue: %d Retry-After %q; want 503 and 2", code, h.Get("Retry-After"))
	}
	if code, _, _ := post(t, nil, srv.url+"/k8s_audit", eventList([][]byte{ev, ev, ev, ev, ev})); code != 413 {
		t.Fatalf("batch larger than the whole queue: %d, want 413", code)
	}
	col.gate <- struct{}{} // evaluation catches up
	col.waitFor(t, 3)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Queued() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	go func() { col.gate <- struct{}{} }()
	if code, _, _ := post(t, nil, srv.url+"/k8s_audit", three); code != 200 {
		t.Fatalf("after the queue drained: %d", code)
	}
	col.waitFor(t, 6)
}

func TestConcurrentRequestsLoseNothing(t *testing.T) {
	lines := audittest.Lines(t, sharedFiles(t)[0])
	srv := start(t, webhook.Config{Workers: 2}, nil)
	body := eventList(lines)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if code, _, _ := post(t, nil, srv.url+"/k8s_audit", body); code != 200 {
					t.Errorf("status %d", code)
				}
			}
		})
	}
	wg.Wait()
	srv.col.waitFor(t, 8*25*len(lines))
}

func TestTLSAndClientCertificates(t *testing.T) {
	lines := audittest.Lines(t, sharedFiles(t)[0])
	body := eventList(lines)
	certs := testcerts.New(t)
	client := func(cert *tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: certs.ClientTLS(cert)}, Timeout: 5 * time.Second}
	}

	t.Run("server TLS", func(t *testing.T) {
		srv := start(t, webhook.Config{TLS: certs.ServerTLS(false)}, nil)
		if code, _, _ := post(t, client(nil), srv.url+"/k8s_audit", body); code != 200 {
			t.Fatalf("HTTPS POST: %d", code)
		}
		plain := strings.Replace(srv.url, "https://", "http://", 1)
		resp, err := http.Post(plain+"/k8s_audit", "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Fatal("plain HTTP accepted on the TLS port")
			}
		}
		untrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}
		if _, err := untrusting.Post(srv.url+"/k8s_audit", "application/json", bytes.NewReader(body)); err == nil {
			t.Fatal("a client that does not trust the CA connected")
		}
		srv.col.waitFor(t, len(lines))
	})
	t.Run("client certificate required", func(t *testing.T) {
		srv := start(t, webhook.Config{TLS: certs.ServerTLS(true)}, nil)
		if code, _, _ := post(t, client(&certs.Client), srv.url+"/k8s_audit", body); code != 200 {
			t.Fatalf("with a client certificate: %d", code)
		}
		for name, c := range map[string]*http.Client{
			"none":       client(nil),
			"another CA": client(&certs.OtherCAClient),
		} {
			resp, err := c.Post(srv.url+"/k8s_audit", "application/json", bytes.NewReader(body))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("client certificate %s: accepted with %d", name, resp.StatusCode)
			}
		}
		srv.col.waitFor(t, len(lines))
		if n := srv.col.count(); n != len(lines) {
			t.Fatalf("%d events evaluated, want %d", n, len(lines))
		}
	})
}

func TestShutdownEvaluatesWhatWasAccepted(t *testing.T) {
	lines := audittest.Lines(t, sharedFiles(t)[0])
	col := &collector{}
	s := webhook.New(webhook.Config{Listen: "127.0.0.1:0", Logger: quiet}, func(evs []*k8saudit.Event) error {
		time.Sleep(time.Millisecond) // slow evaluation: the queue fills
		return col.handle(evs)
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	accepted := 0
	for range 50 {
		code, _, _ := post(t, nil, "http://"+s.Addr()+"/k8s_audit", lines[0])
		if code == 200 {
			accepted++
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if col.count() != accepted {
		t.Fatalf("accepted %d events but evaluated %d before Serve returned", accepted, col.count())
	}
}

func Example() {
	s := webhook.New(webhook.Config{Listen: "127.0.0.1:0", Logger: quiet}, func(evs []*k8saudit.Event) error {
		for _, ev := range evs {
			fmt.Println(ev.AuditID())
		}
		return nil
	})
	_ = s.Listen()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx); close(done) }()
	resp, err := http.Post("http://"+s.Addr()+"/k8s_audit", "application/json",
		strings.NewReader(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","auditID":"a-1","verb":"get"}]}`))
	if err == nil {
		resp.Body.Close()
	}
	cancel()
	<-done
	// Output: a-1
}

// TestFalcoWebserverPaths: Falco's webserver.k8s_audit_endpoint replaces
// the default paths, k8s_healthz_endpoint answers {"status": "ok"}, and
// extra handlers (Falco's /metrics) share the listener.
func TestFalcoWebserverPaths(t *testing.T) {
	srv := start(t, webhook.Config{
		Path: "/audit", HealthzPath: "/healthz",
		Extra: map[string]http.Handler{"/metrics": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m 1\n")) })},
	}, nil)
	if code, _, body := post(t, nil, srv.url+"/audit", []byte(`{"kind":"Event","auditID":"x","verb":"get"}`)); code != 200 {
		t.Fatalf("configured endpoint: %d %s", code, body)
	}
	srv.col.waitFor(t, 1)
	if code, _, _ := post(t, nil, srv.url+"/k8s_audit", []byte(`{"kind":"Event","auditID":"y"}`)); code != http.StatusNotFound {
		t.Errorf("default path answered %d once another endpoint is configured, want 404", code)
	}
	for path, want := range map[string]string{"/healthz": `{"status": "ok"}`, "/metrics": "m 1\n"} {
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("%s: %d %q, want %q", path, resp.StatusCode, b, want)
		}
	}
}

// TestAckWaitsForTheHandler: by default the 200 comes only after the
// handler returned for the request's events, and a handler error (alerts
// not stored) answers 503 with Retry-After so that kube-apiserver resends.
func TestAckWaitsForTheHandler(t *testing.T) {
	lines := audittest.Lines(t, sharedFiles(t)[0])
	var fail sync.Mutex
	failing := false
	handled := make(chan int, 16)
	s := webhook.New(webhook.Config{Listen: "127.0.0.1:0", Logger: quiet, RetryAfter: 3 * time.Second}, func(evs []*k8saudit.Event) error {
		handled <- len(evs)
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return fmt.Errorf("disk full")
		}
		return nil
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	url := "http://" + s.Addr() + "/k8s_audit"
	body := eventList([][]byte{lines[0], lines[0], lines[0]})
	if code, _, _ := post(t, nil, url, body); code != 200 {
		t.Fatalf("durable batch: %d", code)
	}
	// The handler has already run when the 200 arrives.
	select {
	case n := <-handled:
		if n != 3 {
			t.Fatalf("handler saw %d events, want 3", n)
		}
	default:
		t.Fatal("200 before the handler ran")
	}
	fail.Lock()
	failing = true
	fail.Unlock()
	code, h, msg := post(t, nil, url, body)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "3" {
		t.Fatalf("handler failed: %d Retry-After %q (%s); want 503 and 3", code, h.Get("Retry-After"), msg)
	}
}
