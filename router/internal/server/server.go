// Package server assembles the router: journal, delivery pipeline,
// subscription hub, gRPC and HTTP listeners, metrics and health, live
// configuration reload and graceful shutdown.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/httplimit"
	"github.com/harrier-security/harrier/proto/redact"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/console/index"
	"github.com/harrier-security/harrier/router/internal/deadletter"
	"github.com/harrier-security/harrier/router/internal/delivery"
	"github.com/harrier-security/harrier/router/internal/fleet"
	"github.com/harrier-security/harrier/router/internal/ingest"
	"github.com/harrier-security/harrier/router/internal/journal"
	"github.com/harrier-security/harrier/router/internal/journal/kafkalog"
	"github.com/harrier-security/harrier/router/internal/outputs"
	"github.com/harrier-security/harrier/router/internal/subscription"
)

// Router is one running router process.
type Router struct {
	log  *slog.Logger
	reg  *prometheus.Registry
	lock *os.File

	j       *journal.Journal // the local journal; nil with Kafka
	kl      *kafkalog.Log    // the Kafka journal; nil with the local one
	app     journal.Appender // where ingest appends: j or kl
	dead    deadLetterStore
	pipe    *delivery.Pipeline
	outputs outputs.Factory
	hub     *subscription.Hub
	im      *ingest.Metrics
	fl      *fleet.Service

	grpcSrv    *grpc.Server
	httpSrv    *http.Server
	metricsSrv *http.Server
	grpcLn     net.Listener
	httpLn     net.Listener
	metricsLn  net.Listener

	hubCancel context.CancelFunc
	hubDone   chan struct{}
	auth      *tokenAuth

	consoleStop  context.CancelFunc
	consoleDone  chan struct{} // closed when the indexer stopped and closed its database
	consoleIndex *index.Index

	mu      sync.Mutex
	cfg     *config.Config
	reloads *prometheus.CounterVec
}

// New opens the data directory (exclusively) and the journal; Start serves.
func New(cfg *config.Config, log *slog.Logger) (*Router, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	r := &Router{log: log, reg: prometheus.NewRegistry(), lock: lock, cfg: cfg}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Journal.Backend == config.BackendKafka {
		if err := r.openKafka(cfg); err != nil {
			lock.Close()
			return nil, err
		}
	} else if err := r.openLocal(cfg); err != nil {
		lock.Close()
		return nil, err
	}
	r.im = ingest.NewMetrics(r.reg)
	if r.fl, err = fleet.New(filepath.Join(cfg.DataDir, "rulesets"), log); err != nil {
		r.closeLog()
		lock.Close()
		return nil, err
	}
	r.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_config_reloads_total",
		Help: "Configuration reloads, by result (applied, rejected)."}, []string{"result"})
	r.reg.MustRegister(r.reloads)
	return r, nil
}

// openLocal opens the embedded journal, cursors and dead-letter files.
func (r *Router) openLocal(cfg *config.Config) error {
	j, err := journal.Open(filepath.Join(cfg.DataDir, "journal"), journal.Options{
		SegmentBytes: cfg.Journal.SegmentBytes, MaxBytes: cfg.Journal.MaxBytes, MaxAge: cfg.Journal.MaxAge,
		SyncInterval: cfg.Journal.FsyncInterval, Logger: r.log,
	})
	if err != nil {
		return err
	}
	r.j, r.app = j, j
	r.reg.MustRegister(&journalCollector{j: r.j})
	dead, err := deadletter.Open(filepath.Join(cfg.DataDir, "deadletters"))
	if err != nil {
		r.j.Close()
		return err
	}
	r.dead = dead
	r.reg.MustRegister(&deadLetterCollector{s: r.dead})
	r.pipe = delivery.New(r.j, filepath.Join(cfg.DataDir, "cursors"), dead, delivery.NewMetrics(r.reg), r.log)
	r.reg.MustRegister(r.pipe.Collector())
	r.hub = subscription.NewHub(r.j, subscription.Options{Buffer: cfg.Subscriptions.Buffer, Decoded: r.pipe.Decoded(), MaxReplay: cfg.Subscriptions.MaxReplay,
		Registerer: r.reg, Logger: r.log})
	return nil
}

func (r *Router) closeLog() {
	if r.j != nil {
		r.j.Close()
	}
	if r.kl != nil {
		r.kl.Close()
	}
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data_dir %s is in use by another router: %w", dir, err)
	}
	return f, nil
}

// Start applies the outputs and starts the listeners.
func (r *Router) Start() error {
	cfg := r.cfg
	if err := r.pipe.Apply(r.outputs.Specs(cfg.Outputs)); err != nil {
		// A broken output must not keep the others (and ingest) down.
		r.log.Error("some outputs could not start", "err", err)
	}
	hubCtx, cancel := context.WithCancel(context.Background())
	r.hubCancel, r.hubDone = cancel, make(chan struct{})
	go func() { defer close(r.hubDone); r.hub.Run(hubCtx) }()

	r.auth = newTokenAuth(cfg.GRPC.IngestTokens, cfg.GRPC.ClientTokens, cfg.GRPC.AdminTokens)
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.GRPC.MaxRecvBytes),
		grpc.ChainUnaryInterceptor(r.auth.unary),
		grpc.ChainStreamInterceptor(r.auth.stream),
		grpc.WaitForHandlers(true),
		grpc.ForceServerCodecV2(ingest.Codec()),
		// Sensors keep one long-lived stream: allow their keepalive pings
		// and find dead peers within a minute.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 20 * time.Second}),
	}
	if cfg.GRPC.MaxConcurrentStreams > 0 {
		// One connection cannot open unbounded streams (each holds a
		// goroutine and buffers); the excess waits for a free slot.
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(cfg.GRPC.MaxConcurrentStreams)))
	}
	tc, err := cfg.GRPC.TLS.Config()
	if err != nil {
		return fmt.Errorf("grpc.tls: %w", err)
	}
	if tc != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	r.grpcSrv = grpc.NewServer(opts...)
	grpcAck, err := journal.ParseAck(cfg.GRPC.Ack)
	if err != nil {
		return fmt.Errorf("grpc.ack: %w", err)
	}
	is := ingest.NewStream(r.app, r.im, r.log).WithAck(grpcAck)
	is.SetDeadLetters(r.dead)
	ingest.Register(r.grpcSrv, is)
	harrierv1.RegisterSubscriptionServer(r.grpcSrv, r.hub)
	harrierv1.RegisterDeadLettersServer(r.grpcSrv, &deadLetters{store: r.dead, r: r})
	harrierv1.RegisterFleetServer(r.grpcSrv, r.fl.ControlServer())
	harrierv1.RegisterFleetAdminServer(r.grpcSrv, r.fl.AdminServer())
	if r.grpcLn, err = net.Listen("tcp", cfg.GRPC.Address); err != nil {
		return fmt.Errorf("grpc.address: %w", err)
	}

	httpAck, err := journal.ParseAck(cfg.HTTP.Ack)
	if err != nil {
		return fmt.Errorf("http.ack: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/{$}", ingest.NewHTTP(r.app, r.im, r.log, cfg.HTTP.Token, cfg.HTTP.MaxBodyBytes).WithAck(httpAck)) // exactly "/", like falcosidekick
	if err := r.startConsole(mux); err != nil {
		return err
	}
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "pong") })
	obs := http.NewServeMux()
	obs.HandleFunc("/healthz", r.serveHealth)
	obs.Handle("/metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg}))
	if cfg.HTTP.MetricsAddress == "" {
		mux.Handle("/healthz", obs)
		mux.Handle("/metrics", obs)
	} else {
		if r.metricsLn, err = net.Listen("tcp", cfg.HTTP.MetricsAddress); err != nil {
			return fmt.Errorf("http.metrics_address: %w", err)
		}
		r.metricsSrv = &http.Server{Handler: obs, ReadHeaderTimeout: 10 * time.Second}
		go r.metricsSrv.Serve(r.metricsLn)
	}
	htc, err := cfg.HTTP.TLS.Config()
	if err != nil {
		return fmt.Errorf("http.tls: %w", err)
	}
	// Bounded memory whatever arrives: the ingest handler reads whole
	// bodies, so the listener bounds how many it holds at once. Health and
	// metrics stay exempt so that probes answer while it is busy.
	lim := httplimit.New(httplimit.Config{Listener: "http", MaxConcurrent: cfg.HTTP.MaxConcurrentRequests,
		MaxInflightBytes: cfg.HTTP.MaxInflightBytes, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Exempt: []string{"/healthz", "/metrics", "/ping"}})
	for _, c := range lim.Collectors() {
		if err := r.reg.Register(c); err != nil {
			return fmt.Errorf("http limits: %w", err)
		}
	}
	r.httpSrv = &http.Server{Handler: lim.Wrap(mux), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, TLSConfig: htc,
		IdleTimeout: 2 * time.Minute, Protocols: httpProtocols(),
		ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelWarn)}
	if r.httpLn, err = net.Listen("tcp", cfg.HTTP.Address); err != nil {
		return fmt.Errorf("http.address: %w", err)
	}
	go func() {
		if err := r.grpcSrv.Serve(r.grpcLn); err != nil {
			r.log.Error("grpc server", "err", err)
		}
	}()
	go func() {
		var err error
		if htc != nil {
			err = r.httpSrv.ServeTLS(r.httpLn, "", "")
		} else {
			err = r.httpSrv.Serve(r.httpLn)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("http server", "err", err)
		}
	}()
	if cfg.InsecureAllowPlaintextTokens {
		if !cfg.GRPC.TLS.Enabled() && !config.IsLoopback(cfg.GRPC.Address) || cfg.HTTP.Token != "" && !cfg.HTTP.TLS.Enabled() && !config.IsLoopback(cfg.HTTP.Address) {
			r.log.Warn("tokens travel in plaintext on a listener reachable from other hosts (insecure_allow_plaintext_tokens): anyone on the path can read and replay them")
		}
	}
	if !cfg.GRPC.TLS.Enabled() && !config.IsLoopback(cfg.GRPC.Address) && len(cfg.GRPC.IngestTokens)+len(cfg.GRPC.ClientTokens) == 0 {
		r.log.Warn("the gRPC listener is reachable from other hosts without TLS or tokens: anyone can send alerts and subscribe", "address", cfg.GRPC.Address)
	}
	if r.j != nil {
		r.log.Info("router started", "grpc", r.grpcLn.Addr().String(), "http", r.httpLn.Addr().String(),
			"metrics", r.MetricsAddr(), "journal_next", r.j.Next(), "config", cfg)
	} else {
		r.log.Info("router started", "grpc", r.grpcLn.Addr().String(), "http", r.httpLn.Addr().String(),
			"metrics", r.MetricsAddr(), "journal", "kafka", "config", cfg)
	}
	return nil
}

// httpProtocols are what the HTTP listener speaks: HTTP/1.1 with keep-alive
// (Falco's http_output), HTTP/2 over TLS (ALPN h2) and, on a plaintext
// listener, HTTP/2 with prior knowledge (h2c) for clients that multiplex.
func httpProtocols() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return &p
}

// GRPCAddr is the bound gRPC address.
func (r *Router) GRPCAddr() string { return r.grpcLn.Addr().String() }

// HTTPAddr is the bound HTTP address.
func (r *Router) HTTPAddr() string { return r.httpLn.Addr().String() }

// MetricsAddr is where /metrics and /healthz answer: their own listener's
// bound address, or the HTTP listener's when http.metrics_address is "".
func (r *Router) MetricsAddr() string {
	if r.metricsLn != nil {
		return r.metricsLn.Addr().String()
	}
	return r.HTTPAddr()
}

// Registry exposes the metrics (tests, benchmarks).
func (r *Router) Registry() *prometheus.Registry { return r.reg }

// Journal exposes the local journal (tests, benchmarks); nil with Kafka.
func (r *Router) Journal() *journal.Journal { return r.j }

func (r *Router) pipeline() *delivery.Pipeline { return r.pipe }

// Reload applies a new configuration's outputs and gRPC tokens (rotation:
// new streams and calls are checked against the new sets). Listener, TLS,
// journal and subscription settings take effect at the next restart
// (logged).
func (r *Router) Reload(cfg *config.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cfg
	if r.auth != nil {
		r.auth.set(cfg.GRPC.IngestTokens, cfg.GRPC.ClientTokens, cfg.GRPC.AdminTokens)
	}
	if cfg.GRPC.Address != old.GRPC.Address || cfg.HTTP.Address != old.HTTP.Address || cfg.DataDir != old.DataDir ||
		!reflect.DeepEqual(cfg.Journal, old.Journal) || cfg.HTTP.MetricsAddress != old.HTTP.MetricsAddress ||
		cfg.GRPC.TLS != old.GRPC.TLS || cfg.GRPC.MaxConcurrentStreams != old.GRPC.MaxConcurrentStreams || cfg.HTTP.TLS != old.HTTP.TLS || cfg.HTTP.Token != old.HTTP.Token ||
		cfg.Subscriptions != old.Subscriptions || cfg.HTTP.Ack != old.HTTP.Ack || cfg.GRPC.Ack != old.GRPC.Ack {
		r.log.Warn("config reload: listener, TLS, HTTP token, ack, data_dir, journal and subscription changes take effect at the next restart")
	}
	err := r.pipe.Apply(r.outputs.Specs(cfg.Outputs))
	r.cfg = cfg
	if err != nil {
		r.reloads.WithLabelValues("partial").Inc()
		r.log.Error("config reload: some outputs could not start; they keep their previous instance", "err", err)
		return err
	}
	r.reloads.WithLabelValues("applied").Inc()
	r.log.Info("config reloaded", "config", cfg)
	return nil
}

// Rejected counts a reload refused by validation.
func (r *Router) Rejected(err error) {
	r.reloads.WithLabelValues("rejected").Inc()
	r.log.Error("config reload refused; the running configuration stays", "err", err)
}

// Shutdown stops ingest, lets the outputs drain until ctx ends, and closes
// the journal cleanly.
func (r *Router) Shutdown(ctx context.Context) error {
	r.log.Info("router stopping")
	r.hub.Close()
	if r.consoleStop != nil {
		r.consoleStop() // ends live console streams and the indexer
	}
	if r.httpSrv != nil {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = r.httpSrv.Shutdown(hctx)
		cancel()
	}
	if r.grpcSrv != nil {
		done := make(chan struct{})
		go func() { r.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			r.grpcSrv.Stop() // sensors keep streams open; acks in flight still complete
			<-done
		}
	}
	if r.metricsSrv != nil {
		_ = r.metricsSrv.Close()
	}
	if r.hubCancel != nil {
		r.hubCancel()
		<-r.hubDone
	}
	if r.j != nil {
		// Ingest is closed: what was acknowledged "written" becomes
		// readable now, so the drain below delivers it.
		if err := r.j.Flush(); err != nil {
			r.log.Error("journal flush before drain failed; undelivered alerts stay in the journal", "err", err)
		}
	}
	r.pipe.Stop(ctx)
	if r.consoleDone != nil {
		// The indexer ends its batch and closes its database.
		select {
		case <-r.consoleDone:
		case <-ctx.Done():
		}
	}
	var err error
	if r.j != nil {
		err = r.j.Close()
	} else {
		err = r.kl.Close()
	}
	r.lock.Close()
	r.log.Info("router stopped", "err", err)
	return err
}

func (r *Router) secrets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg.Secrets()
}

type healthReport struct {
	Status      string            `json:"status"`
	Journal     any               `json:"journal"`
	Outputs     []delivery.Health `json:"outputs"`
	DeadLetters map[string]int    `json:"dead_letters"`
	Subscribers int               `json:"subscribers"`
}

func (r *Router) serveHealth(w http.ResponseWriter, _ *http.Request) {
	rep := healthReport{Status: "ok", Journal: r.journalStats(), Outputs: r.pipe.Health(), DeadLetters: r.dead.Counts(),
		Subscribers: r.hub.Subscribers()}
	for _, o := range rep.Outputs {
		if o.State == delivery.StateRetrying || o.DeadLetterError != "" {
			rep.Status = "degraded"
		}
	}
	if st, ok := rep.Journal.(journal.Stats); ok && st.WriteError != "" {
		rep.Status = "degraded" // a full or failing disk: ingest is refused
	}
	w.Header().Set("Content-Type", "application/json")
	// /healthz is unauthenticated: errors of outputs (URLs with tokens)
	// pass redact's rule first.
	b, _ := json.MarshalIndent(rep, "", "  ")
	_, _ = io.WriteString(w, redact.Secrets(redact.String(string(b)), r.secrets())+"\n")
}

func (r *Router) journalStats() any {
	if r.j != nil {
		return r.j.Stats()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return r.kl.Stats(ctx)
}

type journalCollector struct{ j *journal.Journal }

var (
	jBytes    = prometheus.NewDesc("harrier_router_journal_bytes", "Bytes stored in journal segments.", nil, nil)
	jSegments = prometheus.NewDesc("harrier_router_journal_segments", "Journal segment files.", nil, nil)
	jRecords  = prometheus.NewDesc("harrier_router_journal_records", "Alerts stored in the journal.", nil, nil)
	jDropped  = prometheus.NewDesc("harrier_router_journal_retention_dropped_total",
		"Alerts deleted by journal retention (max_bytes/max_age) since start, consumed by every output or not.", nil, nil)
	jSyncs = prometheus.NewDesc("harrier_router_journal_fsyncs_total", "Group commits (fsyncs) of the journal.", nil, nil)
	jLost  = prometheus.NewDesc("harrier_router_journal_lost_records_total",
		"Alerts the journal lost since start, by reason: damaged (bad records skipped), missing (sequence numbers with no record: a lost tail below the high-water mark, a cursor ahead).",
		[]string{"reason"}, nil)
	jWritable = prometheus.NewDesc("harrier_router_journal_writable",
		"0 while the journal's last commit failed (disk full or failing; ingest is refused), 1 otherwise.", nil, nil)
	jUnsynced = prometheus.NewDesc("harrier_router_journal_unsynced_records",
		"Alerts acknowledged (ack: written) and not yet fsynced: what a power loss now could take.", nil, nil)
	jSyncErrors = prometheus.NewDesc("harrier_router_journal_fsync_errors_total", "Failed journal fsyncs.", nil, nil)
)

func (c *journalCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jBytes
	ch <- jSegments
	ch <- jRecords
	ch <- jDropped
	ch <- jSyncs
	ch <- jLost
	ch <- jWritable
	ch <- jUnsynced
	ch <- jSyncErrors
}

func (c *journalCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.j.Stats()
	ch <- prometheus.MustNewConstMetric(jBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(jSegments, prometheus.GaugeValue, float64(st.Segments))
	ch <- prometheus.MustNewConstMetric(jRecords, prometheus.GaugeValue, float64(st.Next-st.First))
	ch <- prometheus.MustNewConstMetric(jDropped, prometheus.CounterValue, float64(st.DroppedRecords))
	ch <- prometheus.MustNewConstMetric(jSyncs, prometheus.CounterValue, float64(st.Syncs))
	ch <- prometheus.MustNewConstMetric(jLost, prometheus.CounterValue, float64(st.DamagedRecords), journal.LossDamaged)
	ch <- prometheus.MustNewConstMetric(jLost, prometheus.CounterValue, float64(st.MissingRecords), journal.LossMissing)
	writable := 1.0
	if st.WriteError != "" {
		writable = 0
	}
	ch <- prometheus.MustNewConstMetric(jWritable, prometheus.GaugeValue, writable)
	ch <- prometheus.MustNewConstMetric(jUnsynced, prometheus.GaugeValue, float64(st.Unsynced))
	ch <- prometheus.MustNewConstMetric(jSyncErrors, prometheus.CounterValue, float64(st.SyncErrors))
}

// deadLetterStore is the local store or the Kafka dead-letter topic.
type deadLetterStore interface {
	delivery.DeadLetterStore
	List(output string, limit int) ([]*harrierv1.DeadLetter, int, error)
	Outputs() ([]string, error)
	Counts() map[string]int
}

type deadLetterCollector struct{ s deadLetterStore }

var dlStored = prometheus.NewDesc("harrier_router_dead_letters",
	"Dead letters stored per output (awaiting harrierctl deadletters replay).", []string{"output"}, nil)

func (c *deadLetterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dlStored }

func (c *deadLetterCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.s.Counts()
	if _, ok := counts[ingest.IngestOutput]; !ok {
		// The ingest pseudo-output always exists: show its 0.
		ch <- prometheus.MustNewConstMetric(dlStored, prometheus.GaugeValue, 0, ingest.IngestOutput)
	}
	for out, n := range counts {
		ch <- prometheus.MustNewConstMetric(dlStored, prometheus.GaugeValue, float64(n), out)
	}
}
