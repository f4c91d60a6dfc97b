package httplimit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/httplimit"
)

// held is a handler that reads its body, then waits until released, so a
// test controls what is in flight.
type held struct {
	entered chan struct{}
	release chan struct{}
}

func (h *held) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	h.entered <- struct{}{}
	<-h.release
}

func TestBoundsAnswerAtOnceWithRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		cfg    httplimit.Config
		hold   []int64 // bodies of the requests kept in flight
		next   int64   // body of the request that must be refused (-1: chunked)
		status int
		bound  string
	}{
		{"concurrency", httplimit.Config{MaxConcurrent: 2, MaxBodyBytes: 100, MaxInflightBytes: 1000}, []int64{10, 10}, 10, 503, "requests"},
		{"bytes", httplimit.Config{MaxConcurrent: 10, MaxBodyBytes: 100, MaxInflightBytes: 150}, []int64{100}, 60, 503, "bytes"},
		{"chunked counts as the largest body", httplimit.Config{MaxConcurrent: 10, MaxBodyBytes: 100, MaxInflightBytes: 150}, []int64{60}, -1, 503, "bytes"},
		{"429 when asked", httplimit.Config{MaxConcurrent: 1, MaxBodyBytes: 100, MaxInflightBytes: 100, Status: 429, RetryAfter: 3 * time.Second}, []int64{1}, 1, 429, "requests"},
		{"declared body over the limit", httplimit.Config{MaxConcurrent: 10, MaxBodyBytes: 100, MaxInflightBytes: 1000}, nil, 101, 413, "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &held{entered: make(chan struct{}, 16), release: make(chan struct{})}
			tc.cfg.Listener = "test"
			lim := httplimit.New(tc.cfg)
			srv := httptest.NewServer(lim.Wrap(h))
			defer srv.Close()
			var wg sync.WaitGroup
			for _, n := range tc.hold {
				wg.Go(func() {
					resp, err := http.Post(srv.URL, "application/json", strings.NewReader(strings.Repeat("x", int(n))))
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("held request: %d", resp.StatusCode)
					}
				})
				<-h.entered
			}
			var body io.Reader = strings.NewReader(strings.Repeat("y", int(max(tc.next, 0))))
			if tc.next < 0 {
				body = io.MultiReader(strings.NewReader("chunked")) // no length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			close(h.release)
			wg.Wait()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 413 {
				want := "1"
				if tc.cfg.RetryAfter > 0 {
					want = "3"
				}
				if got := resp.Header.Get("Retry-After"); got != want {
					t.Fatalf("Retry-After %q, want %q", got, want)
				}
			}
			if n, b := lim.Inflight(); n != 0 || b != 0 {
				t.Fatalf("after every request: %d requests and %d bytes still counted", n, b)
			}
		})
	}
}

// TestChunkedBodyIsCutAtTheLargestBody: a body of unknown length cannot
// grow past what was reserved for it.
func TestChunkedBodyIsCutAtTheLargestBody(t *testing.T) {
	h := &held{entered: make(chan struct{}, 1), release: make(chan struct{})}
	close(h.release)
	srv := httptest.NewServer(httplimit.New(httplimit.Config{MaxBodyBytes: 1000}).Wrap(h))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, io.MultiReader(strings.NewReader(strings.Repeat("z", 5000))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked body over the limit: %d, want 413", resp.StatusCode)
	}
}

// TestExemptPathsAnswerWhileBusy: health checks get through a full listener.
func TestExemptPathsAnswerWhileBusy(t *testing.T) {
	h := &held{entered: make(chan struct{}, 1), release: make(chan struct{})}
	lim := httplimit.New(httplimit.Config{MaxConcurrent: 1, Exempt: []string{"/healthz"}})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := httptest.NewServer(lim.Wrap(mux))
	defer srv.Close()
	go func() {
		if resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader("a")); err == nil {
			resp.Body.Close()
		}
	}()
	<-h.entered
	defer close(h.release)
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz while busy: %d", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/", "text/plain", strings.NewReader("b"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("second request while busy: %d, want 503", resp.StatusCode)
	}
}
