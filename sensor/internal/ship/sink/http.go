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
	"github.com/harrier-security/harrier/proto/retry"
)

// HTTPBatch is how the HTTP sink groups alerts into a request body.
type HTTPBatch string

const (
	// BatchNone posts one alert per request, as Falco's http_output does:
	// what a stock falcosidekick (and any Falco webhook) accepts.
	BatchNone HTTPBatch = "none"
	// BatchNDJSON posts up to BatchSize alerts as JSON lines
	// (application/x-ndjson), as the Harrier router accepts.
	BatchNDJSON HTTPBatch = "ndjson"
	// BatchArray posts up to BatchSize alerts as one JSON array.
	BatchArray HTTPBatch = "array"
)

// HTTPConfig configures an HTTP sink.
type HTTPConfig struct {
	URL     string
	Timeout time.Duration // per request (default 5s)
	TLS     *tls.Config
	// Queue bounds the alerts waiting to be posted (default 10000).
	Queue int
	// Attempts per request before its alerts are dropped (default 4),
	// with backoff, or the receiver's Retry-After when longer (at most
	// retry.MaxAfter); proto/retry decides which failures are worth another.
	Attempts int
	// CloseTimeout bounds how long Close keeps posting what is queued
	// (default 5s); what is left then is dropped and counted.
	CloseTimeout time.Duration
	Logger       *slog.Logger
	// Format of the body (default Falco's JSON; text posts the alert line
	// as text/plain, as Falco does without json_output).
	Format *Format
	// Batch groups queued alerts into one request (default BatchNone);
	// batching needs the JSON format and a receiver that takes it.
	Batch HTTPBatch
	// BatchSize bounds the alerts of a batched request (default 100). A
	// request takes what is queued, up to this, without waiting for more.
	BatchSize int
	// Concurrency is the number of requests in flight, each on its own
	// kept-alive connection (default 1: alerts arrive in order, as from
	// Falco). Above 1, alerts may arrive out of order.
	Concurrency int
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

// HTTP POSTs alerts as Falco's JSON (or its text line), as Falco's
// http_output does, so falcosidekick or any webhook can take them: one per
// request unless Batch says otherwise. Posting happens on Concurrency
// goroutines from a bounded queue: a slow or absent receiver costs this
// output its alerts (counted, logged), never the sensor its evaluation.
type HTTP struct {
	cfg       HTTPConfig
	client    *http.Client
	header    http.Header // shared by every request, never modified
	queue     chan *harrierv1.Alert
	done      chan struct{}
	mu        sync.RWMutex
	closed    bool
	abort     atomic.Bool
	abortOnce sync.Once
	aborted   chan struct{} // closed with abort: backoffs and requests end
	ctx       context.Context
	cancel    context.CancelFunc
	log       *slog.Logger

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
	if cfg.Batch == "" || !cfg.Format.JSON {
		cfg.Batch = BatchNone // text lines have no batch framing
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.Batch == BatchNone {
		cfg.BatchSize = 1
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "harrier-sensor"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	tr.DisableKeepAlives = cfg.NoKeepAlive
	// An idle connection per poster: with net/http's default (2), more
	// posters would close and reopen connections on every request.
	tr.MaxIdleConnsPerHost = max(cfg.Concurrency, 2)
	h := http.Header{}
	h.Set("Content-Type", cfg.contentType())
	h.Set("User-Agent", cfg.UserAgent)
	if cfg.Compress {
		h.Set("Content-Encoding", "gzip")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &HTTP{
		cfg:     cfg,
		client:  &http.Client{Transport: tr, Timeout: cfg.Timeout},
		header:  h,
		queue:   make(chan *harrierv1.Alert, cfg.Queue),
		done:    make(chan struct{}),
		aborted: make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		log:     cfg.Logger.With("output", "http"),
		posted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harrier_sensor_http_output_posted_total", Help: "Alerts POSTed by the http output.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harrier_sensor_http_output_dropped_total", Help: "Alerts the http output dropped (queue full or receiver failing).",
		}),
	}
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(s.run)
	}
	go func() { wg.Wait(); close(s.done) }()
	return s
}

func (c HTTPConfig) contentType() string {
	if c.Batch == BatchNDJSON {
		return "application/x-ndjson"
	}
	return c.Format.ContentType()
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

// poster is one posting goroutine's reused memory: at a steady state a
// request allocates only what net/http does.
type poster struct {
	batch []*harrierv1.Alert
	body  []byte
	zbuf  bytes.Buffer
	zw    *gzip.Writer
}

func (s *HTTP) run() {
	p := &poster{batch: make([]*harrierv1.Alert, 0, s.cfg.BatchSize)}
	for a := range s.queue {
		p.batch = append(p.batch[:0], a)
	fill:
		for len(p.batch) < s.cfg.BatchSize {
			select {
			case a, ok := <-s.queue:
				if !ok {
					break fill
				}
				p.batch = append(p.batch, a)
			default:
				break fill
			}
		}
		s.deliver(p)
		clear(p.batch) // the alerts are garbage once posted
	}
}

// deliver posts p.batch, retrying what proto/retry calls transient.
func (s *HTTP) deliver(p *poster) {
	n := len(p.batch)
	if s.abort.Load() {
		s.dropped.Add(float64(n))
		return
	}
	body, n := s.encode(p)
	if n == 0 {
		return
	}
	var last *postError
	for attempt := range s.cfg.Attempts {
		if attempt > 0 {
			d := 100 * time.Millisecond << attempt
			d = d/2 + rand.N(d/2)
			if last.after > d {
				d = last.after // the receiver asked for longer (Retry-After)
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.aborted:
				t.Stop()
			}
			if s.abort.Load() {
				break
			}
		}
		last = s.post(body)
		if last == nil || !last.transient {
			break
		}
	}
	if last != nil {
		s.dropped.Add(float64(n))
		s.log.Error("http output: alerts dropped", "alerts", n, "first_id", p.batch[0].GetId(),
			"rule", p.batch[0].GetRule(), "err", last.err)
		return
	}
	s.posted.Add(float64(n))
}

// encode writes p.batch's body into p's buffers and returns it with the
// number of alerts it holds (an alert that cannot be formatted is dropped
// and counted).
func (s *HTTP) encode(p *poster) ([]byte, int) {
	body, n := p.body[:0], 0
	if s.cfg.Batch == BatchArray {
		body = append(body, '[')
	}
	for _, a := range p.batch {
		mark := len(body)
		if n > 0 && s.cfg.Batch == BatchArray {
			body = append(body, ',')
		}
		var err error
		if body, err = s.cfg.Format.Append(body, a); err != nil {
			body = body[:mark]
			s.dropped.Inc()
			s.log.Error("http output: alert cannot be formatted; dropped", "id", a.GetId(), "err", err)
			continue
		}
		if s.cfg.Batch == BatchNDJSON {
			body = append(body, '\n')
		}
		n++
	}
	if s.cfg.Batch == BatchArray {
		body = append(body, ']')
	}
	p.body = body
	if !s.cfg.Compress || n == 0 {
		return body, n
	}
	p.zbuf.Reset()
	if p.zw == nil {
		p.zw = gzip.NewWriter(&p.zbuf)
	} else {
		p.zw.Reset(&p.zbuf)
	}
	p.zw.Write(body)
	p.zw.Close()
	return p.zbuf.Bytes(), n
}

// postError is a failed post, classified by the shared rule (proto/retry):
// only transient failures are tried again.
type postError struct {
	err       error
	transient bool
	after     time.Duration // the receiver's Retry-After, if any
}

func (s *HTTP) post(body []byte) *postError {
	// client.Timeout bounds the request; s.ctx ends it on abort.
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return &postError{err: err}
	}
	req.Header = s.header
	resp, err := s.client.Do(req)
	if err != nil {
		return &postError{err: err, transient: retry.TransientError(err)}
	}
	if s.cfg.Echo {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		s.log.Info("http output: receiver answered", "status", resp.Status, "body", string(answer))
	}
	// Drained, so the connection is kept alive for the next request.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		after, _ := retry.After(resp.Header, time.Now())
		return &postError{err: fmt.Errorf("%s answered %s", s.cfg.URL, resp.Status),
			transient: retry.TransientStatus(resp.StatusCode), after: after}
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
		s.cancel()
		return nil
	case <-time.After(s.cfg.CloseTimeout):
	}
	left := len(s.queue)
	s.abortOnce.Do(func() {
		s.abort.Store(true)
		close(s.aborted)
		s.cancel()
	})
	<-s.done
	return fmt.Errorf("http output: %d queued alerts not posted before the close timeout (%s); dropped", left, s.cfg.CloseTimeout)
}
