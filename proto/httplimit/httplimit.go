// Package httplimit bounds what one HTTP listener holds in memory: the
// requests handled at once and the body bytes they may bring. A request
// beyond either bound is answered at once (503 by default, or 429) with
// Retry-After, before its body is read, so hostile or bursty senders cost
// a bounded amount of memory and well-behaved ones retry later.
//
// A request's cost is its Content-Length, or the largest body allowed when
// the length is not declared (chunked); the body is then cut at that size,
// so the reservation always covers what the handler can read. A declared
// length over the largest body is refused with 413 without reading it.
package httplimit

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults, for a listener that takes bodies of up to 16 MiB.
const (
	DefaultMaxConcurrent    = 64
	DefaultMaxInflightBytes = 64 << 20
	DefaultMaxBodyBytes     = 16 << 20
)

// Config bounds one listener. The zero value takes the defaults.
type Config struct {
	// Listener names the listener in metrics ("webhook", "http").
	Listener string
	// MaxConcurrent bounds the requests handled at once.
	MaxConcurrent int
	// MaxInflightBytes bounds the body bytes of the requests handled at
	// once. It should be at least MaxBodyBytes, or a largest request is
	// never taken.
	MaxInflightBytes int64
	// MaxBodyBytes is the largest body: a larger declared length is 413,
	// and a body of unknown length counts as this much.
	MaxBodyBytes int64
	// RetryAfter is suggested when a request is refused (default 1s).
	RetryAfter time.Duration
	// Status answers a refused request: 503 (default) or 429.
	Status int
	// Exempt paths are never limited (health and metrics on a shared
	// listener: they must answer while the listener is busy).
	Exempt []string
}

// Limiter applies a Config to the handlers it wraps. Create it with New;
// every handler wrapped by one Limiter shares its bounds.
type Limiter struct {
	cfg Config

	mu       sync.Mutex
	requests int
	bytes    int64

	refused  *prometheus.CounterVec
	inflight *prometheus.GaugeVec
	// resolved once: a label lookup per request costs more than the
	// accounting itself
	inflightReqs, inflightBytes prometheus.Gauge
}

// New returns a Limiter for cfg with the defaults filled in.
func New(cfg Config) *Limiter {
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxInflightBytes <= 0 {
		cfg.MaxInflightBytes = max(DefaultMaxInflightBytes, cfg.MaxBodyBytes)
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.Status != http.StatusTooManyRequests {
		cfg.Status = http.StatusServiceUnavailable
	}
	labels := prometheus.Labels{"listener": cfg.Listener}
	l := &Limiter{
		cfg: cfg,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "harrier_http_limited_total",
			Help:        "HTTP requests refused at once because the listener's bound was reached, by bound (requests, bytes, body).",
			ConstLabels: labels,
		}, []string{"bound"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "harrier_http_inflight",
			Help:        "What the listener's requests hold now, by unit (requests, bytes).",
			ConstLabels: labels,
		}, []string{"unit"}),
	}
	// Every series exists from the start, so dashboards see zeros.
	for _, b := range []string{"requests", "bytes", "body"} {
		l.refused.WithLabelValues(b)
	}
	l.inflightReqs = l.inflight.WithLabelValues("requests")
	l.inflightBytes = l.inflight.WithLabelValues("bytes")
	return l
}

// Config is the configuration in effect (defaults filled in).
func (l *Limiter) Config() Config { return l.cfg }

// Collectors are the limiter's metrics.
func (l *Limiter) Collectors() []prometheus.Collector {
	return []prometheus.Collector{l.refused, l.inflight}
}

// Inflight is what the requests being handled hold now.
func (l *Limiter) Inflight() (requests int, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests, l.bytes
}

// acquire reserves one request of cost bytes, or says which bound refused.
func (l *Limiter) acquire(cost int64) (bound string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.requests >= l.cfg.MaxConcurrent {
		return "requests", false
	}
	if l.bytes+cost > l.cfg.MaxInflightBytes {
		return "bytes", false
	}
	l.requests++
	l.bytes += cost
	l.inflightReqs.Set(float64(l.requests))
	l.inflightBytes.Set(float64(l.bytes))
	return "", true
}

func (l *Limiter) release(cost int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests--
	l.bytes -= cost
	l.inflightReqs.Set(float64(l.requests))
	l.inflightBytes.Set(float64(l.bytes))
}

// Wrap returns h behind the limiter's bounds.
func (l *Limiter) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range l.cfg.Exempt {
			if r.URL.Path == p {
				h.ServeHTTP(w, r)
				return
			}
		}
		cost := r.ContentLength
		switch {
		case cost > l.cfg.MaxBodyBytes:
			l.refused.WithLabelValues("body").Inc()
			// The body is not read: close the connection rather than
			// drain it.
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("body of %d bytes is over the limit of %d", cost, l.cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		case cost < 0:
			cost = l.cfg.MaxBodyBytes
			r.Body = http.MaxBytesReader(w, r.Body, cost)
		}
		bound, ok := l.acquire(cost)
		if !ok {
			l.refused.WithLabelValues(bound).Inc()
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((l.cfg.RetryAfter+time.Second-1)/time.Second))))
			if cost > 0 {
				w.Header().Set("Connection", "close")
			}
			http.Error(w, "busy: too many requests or bytes in flight on this listener; retry later", l.cfg.Status)
			return
		}
		defer l.release(cost)
		h.ServeHTTP(w, r)
	})
}
