// Package faultproxy is an HTTP reverse proxy on 127.0.0.1 that injects
// failures in front of a real server: error statuses, dropped connections,
// delays and, for Elasticsearch bulk requests, per-item rejections. Tests
// use it where the real peer cannot be made to fail on demand.
package faultproxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ItemReject is the per-item error a bulk response reports for a document.
type ItemReject struct {
	Status int    // e.g. 400, 429, 503
	Type   string // e.g. "mapper_parsing_exception"
	Reason string
}

// Proxy forwards to a target and misbehaves on demand.
type Proxy struct {
	// URL is the proxy's base URL.
	URL string

	srv    *httptest.Server
	target *url.URL
	rp     *httputil.ReverseProxy

	mu         sync.Mutex
	failStatus int
	failLeft   int // requests still to fail; <0: until Heal
	dropLeft   int
	delay      time.Duration
	rejects    map[string]ItemReject // by document _id

	requests atomic.Int64
	last     atomic.Pointer[http.Request] // headers and URL of the latest request
}

// New starts a proxy to target (a base URL) and closes it when tb ends.
func New(tb testing.TB, target string) *Proxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("faultproxy: target %q: %v", target, err)
	}
	p := &Proxy{target: u, rejects: map[string]ItemReject{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	tb.Cleanup(p.srv.Close)
	return p
}

// Fail answers the next n requests with status (n < 0: until Heal).
func (p *Proxy) Fail(status, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failStatus, p.failLeft = status, n
}

// Drop closes the connection of the next n requests without an answer.
func (p *Proxy) Drop(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLeft = n
}

// Delay holds every request for d before forwarding it.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Reject makes bulk requests report r for the document with this _id
// instead of indexing it (the document is removed from the forwarded
// request), until Heal.
func (p *Proxy) Reject(id string, r ItemReject) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rejects[id] = r
}

// Heal stops every injected fault.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failLeft, p.dropLeft, p.delay = 0, 0, 0
	p.rejects = map[string]ItemReject{}
}

// Requests is the number of requests the proxy has received.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// LastHeader returns the headers of the latest request (nil before any).
func (p *Proxy) LastHeader() http.Header {
	if r := p.last.Load(); r != nil {
		return r.Header
	}
	return nil
}

// LastURL returns the URL of the latest request (nil before any).
func (p *Proxy) LastURL() *url.URL {
	if r := p.last.Load(); r != nil {
		return r.URL
	}
	return nil
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	p.last.Store(&http.Request{Header: r.Header.Clone(), URL: r.URL})
	p.mu.Lock()
	delay := p.delay
	drop := p.dropLeft > 0
	if drop {
		p.dropLeft--
	}
	fail := 0
	if !drop && p.failLeft != 0 {
		fail = p.failStatus
		if p.failLeft > 0 {
			p.failLeft--
		}
	}
	var rejects map[string]ItemReject
	if len(p.rejects) > 0 {
		rejects = make(map[string]ItemReject, len(p.rejects))
		for k, v := range p.rejects {
			rejects[k] = v
		}
	}
	p.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // reset, like a crashed server
				}
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case fail != 0:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.WriteHeader(fail)
		fmt.Fprintf(w, `{"error":{"type":"injected","reason":"faultproxy injected %d"},"status":%d}`, fail, fail)
	case rejects != nil && strings.HasSuffix(r.URL.Path, "/_bulk"):
		p.bulk(w, r, rejects)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// bulk forwards a bulk request without the rejected documents and splices
// their errors into the answer at their positions.
func (p *Proxy) bulk(w http.ResponseWriter, r *http.Request, rejects map[string]ItemReject) {
	body, err := readBody(r)
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadRequest)
		return
	}
	type pos struct {
		id     string
		index  string
		reject *ItemReject
	}
	var items []pos
	var kept bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		action := append([]byte(nil), sc.Bytes()...)
		if len(bytes.TrimSpace(action)) == 0 {
			continue
		}
		if !sc.Scan() {
			http.Error(w, "faultproxy: bulk action without document", http.StatusBadRequest)
			return
		}
		doc := sc.Bytes()
		var meta map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(action, &meta); err != nil {
			http.Error(w, "faultproxy: bulk action: "+err.Error(), http.StatusBadRequest)
			return
		}
		var it pos
		for _, m := range meta {
			it.id, it.index = m.ID, m.Index
		}
		if rj, ok := rejects[it.id]; ok {
			it.reject = &rj
		} else {
			kept.Write(action)
			kept.WriteByte('\n')
			kept.Write(doc)
			kept.WriteByte('\n')
		}
		items = append(items, it)
	}
	var upstream struct {
		Items []json.RawMessage `json:"items"`
	}
	if kept.Len() > 0 {
		req := r.Clone(r.Context())
		req.Body = io.NopCloser(bytes.NewReader(kept.Bytes()))
		req.ContentLength = int64(kept.Len())
		req.Header.Del("Content-Encoding")
		req.Header.Set("Content-Length", fmt.Sprint(kept.Len()))
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &upstream); err != nil {
			http.Error(w, "faultproxy: upstream bulk answer: "+err.Error(), http.StatusBadGateway)
			return
		}
	}
	out := make([]any, 0, len(items))
	next := 0
	for _, it := range items {
		if it.reject == nil {
			if next >= len(upstream.Items) {
				http.Error(w, "faultproxy: upstream answered too few items", http.StatusBadGateway)
				return
			}
			out = append(out, upstream.Items[next])
			next++
			continue
		}
		out = append(out, map[string]any{"index": map[string]any{
			"_index": it.index, "_id": it.id, "status": it.reject.Status,
			"error": map[string]any{"type": it.reject.Type, "reason": it.reject.Reason},
		}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	_ = json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": true, "items": out})
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	}
	return io.ReadAll(rd)
}
