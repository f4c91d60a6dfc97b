// Package webhook is the Kubernetes audit webhook of the k8s_audit
// source: an HTTP(S) endpoint that takes what kube-apiserver's webhook
// backend POSTs (audit.k8s.io/v1 EventList batches, or single Events) and
// queues the decoded events for evaluation.
//
// By default a request is answered 200 only once its events are evaluated
// and the handler has made their alerts durable (the daemon's spool,
// fsynced by group commit): kube-apiserver never resends a batch it saw
// acknowledged, so an acknowledgement must survive a crash. With
// Config.AckQueued the answer comes once the events are queued in memory
// (faster, but a crash loses what was queued). A body that does not decode
// is refused whole (400, with the place of the error), so a retry never
// duplicates part of a batch. When the queue is full, or the handler could
// not make the alerts durable, the answer is 503 with Retry-After, which
// kube-apiserver's webhook backend retries: events are never dropped
// silently.
package webhook

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harrier-security/harrier/proto/httplimit"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
)

// Paths are the endpoints, as in Falco's k8saudit plugin.
var Paths = []string{"/k8s_audit", "/k8s-audit"}

// Defaults.
const (
	DefaultListen       = ":8765"
	DefaultMaxBodyBytes = 16 << 20
	DefaultQueueEvents  = 65536
	DefaultConcurrent   = 16
	DefaultInflight     = 64 << 20
)

// Config configures a Server.
type Config struct {
	// Listen is the address to listen on (default ":8765").
	Listen string
	// TLS serves HTTPS when set (with client-certificate verification when
	// its ClientAuth asks for it).
	TLS *tls.Config
	// Token, when set, is required as "Authorization: Bearer TOKEN".
	Token string
	// MaxBodyBytes bounds a request body (default 16 MiB); larger is 413.
	MaxBodyBytes int64
	// QueueEvents bounds the events queued for evaluation (default 65536).
	QueueEvents int
	// Workers evaluate queued batches concurrently (default 1).
	Workers int
	// AckQueued answers 200 once the events are queued for evaluation
	// instead of once the handler returned for them (see the package
	// comment).
	AckQueued bool
	// MaxConcurrent and MaxInflightBytes bound the requests handled at
	// once and their body bytes (defaults 16 and 64 MiB), so that memory
	// stays bounded whatever arrives; beyond them the answer is 503 with
	// Retry-After before the body is read.
	MaxConcurrent    int
	MaxInflightBytes int64
	// RetryAfter is the delay suggested with 503 (default 1s).
	RetryAfter time.Duration
	Logger     *slog.Logger
	// Path is the audit endpoint ("": both of Paths), Falco's
	// webserver.k8s_audit_endpoint.
	Path string
	// HealthzPath, when set, answers {"status": "ok"} there, as Falco's
	// webserver.k8s_healthz_endpoint.
	HealthzPath string
	// Extra handlers served on the same listener (e.g. /metrics).
	Extra map[string]http.Handler
}

// Handler evaluates a batch of events taken from the queue. An error means
// the batch's alerts could not be made durable: the request that brought
// it is answered 503 (kube-apiserver sends it again).
type Handler func(events []*k8saudit.Event) error

// job is a queued batch; done (nil with AckQueued) receives the handler's
// verdict.
type job struct {
	events []*k8saudit.Event
	done   chan error
}

// Server is the audit webhook. Create it with New, then Listen and Serve.
type Server struct {
	cfg    Config
	log    *slog.Logger
	handle Handler
	queue  chan job
	queued atomic.Int64 // events reserved in the queue
	// qmu guards closing the queue against a late request (one still
	// running when Shutdown gave up waiting) sending on it.
	qmu     sync.RWMutex
	qclosed bool
	ln      net.Listener
	srv     *http.Server
	mux     *http.ServeMux
	limit   *httplimit.Limiter
	handler http.Handler // mux behind limit
	paths   []string
	workers sync.WaitGroup

	requests *prometheus.CounterVec
	events   prometheus.Counter
	depth    prometheus.GaugeFunc
}

// New returns a server that passes queued events to handle.
func New(cfg Config, handle Handler) *Server {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.QueueEvents <= 0 {
		cfg.QueueEvents = DefaultQueueEvents
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultConcurrent
	}
	if cfg.MaxInflightBytes <= 0 {
		cfg.MaxInflightBytes = max(DefaultInflight, cfg.MaxBodyBytes)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "k8s_audit_webhook"),
		handle: handle,
		// Every queued batch holds at least one event, so this many slots
		// can never block a sender that reserved its events.
		queue: make(chan job, cfg.QueueEvents),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harrier_sensor_webhook_requests_total",
			Help: "Kubernetes audit webhook requests by HTTP status code.",
		}, []string{"code"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harrier_sensor_webhook_events_total",
			Help: "Kubernetes audit events accepted by the webhook.",
		}),
	}
	s.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "harrier_sensor_webhook_queue_events",
		Help: "Kubernetes audit events queued for evaluation.",
	}, func() float64 { return float64(s.queued.Load()) })
	s.mux = http.NewServeMux()
	paths := Paths
	if cfg.Path != "" {
		paths = []string{cfg.Path}
	}
	for _, p := range paths {
		s.mux.HandleFunc(p, s.serveAudit)
	}
	if cfg.HealthzPath != "" && !slices.Contains(paths, cfg.HealthzPath) {
		s.mux.HandleFunc(cfg.HealthzPath, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status": "ok"}`)
		})
	}
	for p, h := range cfg.Extra {
		if !slices.Contains(paths, p) && p != cfg.HealthzPath {
			s.mux.Handle(p, h)
		}
	}
	s.paths = paths
	exempt := []string{}
	if cfg.HealthzPath != "" {
		exempt = append(exempt, cfg.HealthzPath)
	}
	for p := range cfg.Extra {
		exempt = append(exempt, p)
	}
	s.limit = httplimit.New(httplimit.Config{
		Listener: "k8s_audit", MaxConcurrent: cfg.MaxConcurrent, MaxInflightBytes: cfg.MaxInflightBytes,
		MaxBodyBytes: cfg.MaxBodyBytes, RetryAfter: cfg.RetryAfter, Exempt: exempt,
	})
	s.handler = s.limit.Wrap(s.mux)
	return s
}

// Collectors returns the webhook's Prometheus metrics.
func (s *Server) Collectors() []prometheus.Collector {
	return append([]prometheus.Collector{s.requests, s.events, s.depth}, s.limit.Collectors()...)
}

// ServeHTTP serves the webhook paths (for embedding in another mux).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Listen binds the listening socket, so that errors (port in use) surface
// before Serve and Addr is known.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("k8s audit webhook: listen on %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.ln = ln
	return nil
}

// Close releases the listener of a server that was not (or is no longer)
// serving. Serve itself stops with its context.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve answers requests and runs the evaluation workers until ctx is done;
// then it stops taking requests, waits for those in progress and for the
// queue to be evaluated, and returns.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	for range s.cfg.Workers {
		s.workers.Go(s.work)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("k8s audit webhook listening", "addr", s.Addr(), "tls", s.cfg.TLS != nil, "paths", s.paths)
	var err error
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.srv.Shutdown(sctx)
		cancel()
		<-errc
	case err = <-errc:
	}
	s.qmu.Lock()
	s.qclosed = true
	close(s.queue)
	s.qmu.Unlock()
	s.workers.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Server) work() {
	for j := range s.queue {
		err := s.handle(j.events)
		if err != nil && j.done == nil {
			s.log.Error("audit events acknowledged before evaluation could not be made durable", "events", len(j.events), "err", err)
		}
		s.queued.Add(-int64(len(j.events)))
		if j.done != nil {
			j.done <- err
		}
	}
}

// Queued is the number of events waiting for evaluation.
func (s *Server) Queued() int { return int(s.queued.Load()) }

func (s *Server) reply(w http.ResponseWriter, code int, msg string) {
	s.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == http.StatusOK {
		w.WriteHeader(code)
		return
	}
	http.Error(w, msg, code)
}

func (s *Server) serveAudit(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reply(w, http.StatusMethodNotAllowed, "only POST is allowed")
		return
	}
	if s.cfg.Token != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="harrier"`)
		s.reply(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the limit of %d", r.ContentLength, s.cfg.MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is over the limit of %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		s.reply(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	events, err := DecodeBody(body)
	if err != nil {
		s.log.Debug("refused a malformed audit payload", "remote", r.RemoteAddr, "err", err)
		s.reply(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(events) == 0 {
		s.reply(w, http.StatusOK, "")
		return
	}
	if len(events) > s.cfg.QueueEvents {
		// It could never be queued; retrying would loop forever.
		s.reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch of %d events is over the queue size of %d", len(events), s.cfg.QueueEvents))
		return
	}
	j := job{events: events}
	if !s.cfg.AckQueued {
		j.done = make(chan error, 1)
	}
	if !s.enqueue(j) {
		s.retryLater(w, "evaluation queue full; retry later")
		return
	}
	if j.done != nil {
		// The worker always answers: the queue is drained before Serve
		// returns, and Serve waits for this handler first.
		if err := <-j.done; err != nil {
			s.log.Warn("audit events not acknowledged: their alerts could not be stored", "events", len(events), "err", err)
			s.retryLater(w, "alerts could not be stored; retry later")
			return
		}
	}
	s.events.Add(float64(len(events)))
	s.reply(w, http.StatusOK, "")
}

func (s *Server) retryLater(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.cfg.RetryAfter.Round(time.Second)/time.Second))))
	s.reply(w, http.StatusServiceUnavailable, msg)
}

// DecodeBody decodes a webhook body: an EventList, an Event, a JSON array of
// events or events one after another. An error names the place of the
// problem; no event is returned then.
func DecodeBody(body []byte) ([]*k8saudit.Event, error) {
	if events, ok := splitEventList(body); ok {
		return events, nil
	}
	var events []*k8saudit.Event
	err := k8saudit.DecodeBytes(body, func(ev *k8saudit.Event) error {
		events = append(events, ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("malformed audit payload: %w", err)
	}
	if len(events) == 0 && len(trimSpace(body)) == 0 {
		return nil, errors.New("malformed audit payload: empty body")
	}
	return events, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// enqueue reserves room for all events or for none.
func (s *Server) enqueue(j job) bool {
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	if s.qclosed {
		return false
	}
	n := int64(len(j.events))
	for {
		cur := s.queued.Load()
		if cur+n > int64(s.cfg.QueueEvents) {
			return false
		}
		if s.queued.CompareAndSwap(cur, cur+n) {
			break
		}
	}
	s.queue <- j
	return true
}

func (s *Server) authorized(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	want := "Bearer " + s.cfg.Token
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
