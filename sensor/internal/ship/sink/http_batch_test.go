package sink

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Each batch mode posts bodies its receiver can split back into Falco JSON
// alerts, with the matching content type, and never more alerts a request
// than BatchSize; concurrent requests and connections stay within
// Concurrency.
func TestHTTPBatchModes(t *testing.T) {
	for _, tt := range []struct {
		name        string
		cfg         HTTPConfig
		contentType string
		maxPer      int
	}{
		{"one object per request (falcosidekick)", HTTPConfig{}, "application/json", 1},
		{"ndjson", HTTPConfig{Batch: BatchNDJSON, BatchSize: 7}, "application/x-ndjson", 7},
		{"array", HTTPConfig{Batch: BatchArray, BatchSize: 5, Concurrency: 3}, "application/json", 5},
		{"array gzip", HTTPConfig{Batch: BatchArray, Compress: true}, "application/json", 100},
		{"text ignores batching", HTTPConfig{Batch: BatchNDJSON, Format: &TextFormat}, "text/plain", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu              sync.Mutex
				ids             []string
				conns           = map[string]bool{}
				inFlight, peak  atomic.Int64
				release         = make(chan struct{})
				releaseOnce     sync.Once
				concurrencyWant = max(tt.cfg.Concurrency, 1)
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if n >= int64(concurrencyWant) {
					releaseOnce.Do(func() { close(release) })
				}
				// Hold the first requests until all posters are busy, so a
				// poster over the bound would show in peak.
				select {
				case <-release:
				case <-time.After(time.Second):
				}
				if ct := r.Header.Get("Content-Type"); ct != tt.contentType {
					t.Errorf("content type %q, want %q", ct, tt.contentType)
				}
				var rd io.Reader = r.Body
				if r.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(r.Body)
					if err != nil {
						t.Error(err)
						return
					}
					rd = zr
				}
				body, _ := io.ReadAll(rd)
				got, err := splitBody(body, tt.cfg)
				if err != nil {
					t.Errorf("body %q: %v", body, err)
					http.Error(w, "bad", http.StatusBadRequest)
					return
				}
				if len(got) == 0 || len(got) > tt.maxPer {
					t.Errorf("%d alerts in one request, want 1..%d", len(got), tt.maxPer)
				}
				mu.Lock()
				conns[r.RemoteAddr] = true
				ids = append(ids, got...)
				mu.Unlock()
			}))
			defer srv.Close()
			cfg := tt.cfg
			cfg.URL, cfg.Logger = srv.URL, quiet
			h := NewHTTP(cfg)
			var want []string
			for i := range 40 {
				id := fmt.Sprintf("a%02d", i)
				a := alert(id, harrierv1.Priority_PRIORITY_WARNING)
				a.Output = id // the text format carries only the line
				want = append(want, id)
				if err := h.Send(a); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			sort.Strings(ids)
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Fatalf("receiver got %v", ids)
			}
			if p := peak.Load(); p > int64(concurrencyWant) {
				t.Fatalf("%d requests in flight, bound %d", p, concurrencyWant)
			}
			// Kept alive: one connection per poster, never one per request.
			if len(conns) > concurrencyWant {
				t.Fatalf("%d connections for %d posters", len(conns), concurrencyWant)
			}
			if v := testutil.ToFloat64(h.posted); v != 40 {
				t.Fatalf("posted counter %v, want 40", v)
			}
		})
	}
}

// splitBody returns the ids (or, for text, the lines) of the alerts in body.
func splitBody(body []byte, cfg HTTPConfig) ([]string, error) {
	var parts [][]byte
	switch {
	case cfg.Format != nil && !cfg.Format.JSON:
		return []string{string(body)}, nil
	case cfg.Batch == BatchNDJSON:
		if !bytes.HasSuffix(body, []byte("\n")) {
			return nil, fmt.Errorf("NDJSON body does not end its last line")
		}
		parts = bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
	case cfg.Batch == BatchArray:
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, err
		}
		for _, r := range raw {
			parts = append(parts, r)
		}
	default:
		parts = [][]byte{body}
	}
	var ids []string
	for _, p := range parts {
		a, err := falcojson.Unmarshal(p)
		if err != nil {
			return nil, err
		}
		ids = append(ids, a.GetOutput())
	}
	return ids, nil
}

// A batch the receiver refuses for a while is retried whole, as the shared
// rule says; every alert arrives once.
func TestHTTPBatchRetriedWhole(t *testing.T) {
	var calls, alerts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusTooManyRequests)
			return
		}
		alerts.Add(int64(bytes.Count(body, []byte("\n"))))
	}))
	defer srv.Close()
	h := NewHTTP(HTTPConfig{URL: srv.URL, Batch: BatchNDJSON, Logger: quiet})
	for i := range 10 {
		_ = h.Send(alert(fmt.Sprint(i), harrierv1.Priority_PRIORITY_WARNING))
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if alerts.Load() != 10 || testutil.ToFloat64(h.posted) != 10 || testutil.ToFloat64(h.dropped) != 0 {
		t.Fatalf("receiver took %d alerts; posted %v dropped %v", alerts.Load(), testutil.ToFloat64(h.posted), testutil.ToFloat64(h.dropped))
	}
}

// One poster reuses its buffers and connection: a batched alert costs no
// allocation of its own.
func TestHTTPBatchEncodeAllocatesNothingPerAlert(t *testing.T) {
	h := &HTTP{cfg: HTTPConfig{Format: &JSONFormat, Batch: BatchNDJSON, BatchSize: 100}}
	p := &poster{}
	for range 100 {
		p.batch = append(p.batch, alert("0193a4f2-7c1e-7a55-9d0e-3f1c2b4a5d6e", harrierv1.Priority_PRIORITY_WARNING))
	}
	h.encode(p) // grows the buffer once
	if n := testing.AllocsPerRun(10, func() { h.encode(p) }); n > 0 {
		t.Fatalf("encoding a batch of 100 made %v allocations, want 0", n)
	}
}

// A receiver's Retry-After (the router's 503 when its memory bound is
// reached) is honoured when longer than the sink's own backoff.
func TestHTTPHonoursRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "full", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	h := NewHTTP(HTTPConfig{URL: srv.URL, Logger: quiet})
	_ = h.Send(alert("a", harrierv1.Priority_PRIORITY_WARNING))
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 {
		t.Fatalf("%d requests, want 2", len(times))
	}
	// The sink's own first backoff is 100-200 ms.
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Fatalf("retried after %v, before the receiver's Retry-After of 1s", gap)
	}
}
