package sink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// HTTPConfig configures an HTTP sink.
type HTTPConfig struct {
	URL     string
	Timeout time.Duration // per request (default 5s)
	TLS     *tls.Config
	// Queue bounds the alerts waiting to be posted (default 10000).
	Queue int
	// Attempts per alert before it is dropped (default 4), with backoff.
	Attempts int
	// CloseTimeout bounds how long Close keeps posting what is queued
	// (default 5s); what is left then is dropped and counted.
	CloseTimeout time.Duration
	Logger       *slog.Logger
	// Format of the body (default Falco's JSON; text posts the alert line
	// as text/plain, as Falco does without json_output).
	Format *Format
	// UserAgent (default "harrier-sensor").
	UserAgent string
	// Compress gzips bodies (Content-Encoding: gzip; Falco's
	// compress_uploads).
	Compress bool
	// NoKeepAlive opens a connection per post (Falco's http_output
	// keep_alive: false).
	NoKeepAlive bool
	// Echo logs the receiver's answer bodies (Falco's http_output.echo).
	Echo bool
}

// HTTP POSTs each alert as Falco's JSON (or its text line), as Falco's
// http_output does, so
// falcosidekick or any webhook can take it. Posting happens on its own
// goroutine from a bounded queue: a slow or absent receiver costs this
// output its alerts (counted, logged), never the sensor its evaluation.
type HTTP struct {
	cfg    HTTPConfig
	client *http.Client
	queue  chan *harrierv1.Alert
	done   chan struct{}
	mu     sync.RWMutex
	closed bool
	abort  atomic.Bool
	log    *slog.Logger

	posted, dropped prometheus.Counter
}

// NewHTTP starts an HTTP sink.
func NewHTTP(cfg HTTPConfig) *HTTP {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 10000
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Format == nil {
		cfg.Format = &JSONFormat
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "harrier-sensor"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	tr.DisableKeepAlives = cfg.NoKeepAlive
	s := &HTTP{
		cfg:    cfg,
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout},
		queue:  make(chan *harrierv1.Alert, cfg.Queue),
		done:   make(chan struct{}),
		log:    cfg.Logger.With("output", "http"),
		posted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harrier_sensor_http_output_posted_total", Help: "Alerts POSTed by the http output.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harrier_sensor_http_output_dropped_total", Help: "Alerts the http output dropped (queue full or receiver failing).",
		}),
	}
	go s.run()
	return s
}

func (s *HTTP) Name() string { return "http" }

// Collectors returns the sink's metrics.
func (s *HTTP) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.posted, s.dropped}
}

// Send queues a for posting.
func (s *HTTP) Send(a *harrierv1.Alert) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("http output closed; alert %s not sent", a.GetId())
	}
	select {
	case s.queue <- a:
		return nil
	default:
		s.dropped.Inc()
		return fmt.Errorf("http output queue full (%d); alert %s dropped from this output", s.cfg.Queue, a.GetId())
	}
}

func (s *HTTP) run() {
	defer close(s.done)
	for a := range s.queue {
		if s.abort.Load() {
			s.dropped.Inc()
			continue
		}
		body, err := s.cfg.Format.Append(nil, a)
		if err != nil {
			s.dropped.Inc()
			continue
		}
		if s.cfg.Compress {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			zw.Write(body)
			zw.Close()
			body = zb.Bytes()
		}
		var last error
		for attempt := range s.cfg.Attempts {
			if attempt > 0 && s.abort.Load() {
				break
			}
			if attempt > 0 {
				d := 100 * time.Millisecond << attempt
				time.Sleep(d/2 + rand.N(d/2))
			}
			last = s.post(body)
			if _, perm := last.(permanent); last == nil || perm {
				break
			}
		}
		if last != nil {
			s.dropped.Inc()
			s.log.Error("http output: alert dropped", "id", a.GetId(), "rule", a.GetRule(), "err", last)
			continue
		}
		s.posted.Inc()
	}
}

// permanent marks a refusal that resending cannot change (4xx but 429).
type permanent struct{ error }

func (s *HTTP) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", s.cfg.Format.ContentType())
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	if s.cfg.Compress {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	if s.cfg.Echo {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		s.log.Info("http output: receiver answered", "status", resp.Status, "body", string(answer))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
		return permanent{fmt.Errorf("%s answered %s", s.cfg.URL, resp.Status)}
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", s.cfg.URL, resp.Status)
	}
	return nil
}

// Close posts what is queued for up to CloseTimeout, drops (and counts)
// the rest, and stops: a dead receiver must not hold up a shutdown.
func (s *HTTP) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-time.After(s.cfg.CloseTimeout):
	}
	left := len(s.queue)
	s.abort.Store(true)
	<-s.done
	return fmt.Errorf("http output: %d queued alerts not posted before the close timeout (%s); dropped", left, s.cfg.CloseTimeout)
}
