// Package daemon runs the sensor: it wires the event sources (eBPF syscall
// capture, Kubernetes audit webhook) to the rules engine and the engine's
// alerts to the outputs (stdout, file, HTTP, the router stream through the
// spool), and owns reload, metrics, health and shutdown.
//
// Data flows one way: source → event → ruleset → alert → aggregation →
// outputs. The ruleset in use sits behind an atomic pointer, so a reload
// swaps it between two events without stopping any source and without
// touching process state.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/config"
	"github.com/harrier-security/harrier/sensor/internal/engine/alertfmt"
	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit/webhook"
	"github.com/harrier-security/harrier/sensor/internal/ship/aggregate"
	"github.com/harrier-security/harrier/sensor/internal/ship/control"
	"github.com/harrier-security/harrier/sensor/internal/ship/sink"
	"github.com/harrier-security/harrier/sensor/internal/ship/spool"
	"github.com/harrier-security/harrier/sensor/internal/ship/transport"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Options are what the daemon takes besides its configuration.
type Options struct {
	// Stdout receives the stdout output (default os.Stdout).
	Stdout io.Writer
	Logger *slog.Logger
	// Version is the build's version, reported to the router.
	Version string
	// Ready is called once every source is capturing (systemd's
	// READY=1), Stopping when shutdown begins.
	Ready, Stopping func()
	// Replay, when set, replaces the live sources: it emits recorded
	// events (Falco's -e capture file) and Run returns once it has and
	// the alerts are delivered.
	Replay func(ctx context.Context, emit func(fields.Event) error) error
}

// active is the ruleset in use with the alert builder stamped with its
// version; both change together on reload.
type active struct {
	rs      *rules.Ruleset
	builder *alertfmt.Builder
}

// Daemon is a configured sensor. New checks and opens everything that can
// fail (rules, listeners, the spool, the BPF programs) so that Run only runs.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	regs    map[string]*fields.Registry
	appends *alertfmt.Appends

	cur      atomic.Pointer[active]
	reloadMu sync.Mutex
	central  centralState
	version  string
	opts     Options

	reg *prometheus.Registry
	m   *metrics

	fan *sink.Fanout
	agg *aggregate.Aggregator
	sp  *spool.Spool
	tr  *transport.Client

	hook    *webhook.Server
	sys     *syscallSource
	replay  func(ctx context.Context, emit func(fields.Event) error) error
	metLn   net.Listener
	metSrv  *http.Server
	ready   atomic.Bool
	closers []func() error
}

// New builds the daemon from cfg. On error everything opened is closed.
func New(cfg *config.Config, opts Options) (_ *Daemon, err error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := &Daemon{cfg: cfg, log: opts.Logger, reg: prometheus.NewRegistry(), version: opts.Version, opts: opts, replay: opts.Replay}
	defer func() {
		if err != nil {
			d.closeAll()
		}
	}()
	d.m = newMetrics(d.reg)

	// Every source's fields are known whether or not the source runs, so
	// a rules file validates the same everywhere (a typo in a syscall rule
	// is an error even on a sensor that only serves the audit webhook).
	d.regs = sources.Registries()
	fields.SetClusterName(cfg.ClusterName)
	if d.appends, err = compileAppends(cfg, d.regs); err != nil {
		return nil, err
	}
	rs, err := d.loadRules()
	if err != nil {
		return nil, err
	}
	d.install(rs)

	if err := d.openOutputs(opts.Stdout); err != nil {
		return nil, err
	}
	if cfg.Sources.K8sAudit.Enabled && d.replay == nil {
		if err := d.openWebhook(); err != nil {
			return nil, err
		}
	}
	if cfg.Sources.Syscall.Enabled && d.replay == nil {
		if d.sys, err = openSyscall(d); err != nil {
			return nil, err
		}
		d.closers = append(d.closers, d.sys.close)
	}
	if cfg.Metrics.Enabled {
		if err := d.openMetrics(); err != nil {
			return nil, err
		}
	}
	d.registerMetrics()
	return d, nil
}

func (d *Daemon) closeAll() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		_ = d.closers[i]()
	}
	d.closers = nil
}

// Registry is the daemon's Prometheus registry.
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// WebhookAddr is the audit webhook's bound address ("" when disabled).
func (d *Daemon) WebhookAddr() string {
	if d.hook == nil {
		return ""
	}
	return d.hook.Addr()
}

// MetricsAddr is the metrics listener's bound address ("" when disabled).
func (d *Daemon) MetricsAddr() string {
	if d.metLn == nil {
		return ""
	}
	return d.metLn.Addr().String()
}

// Ruleset is the ruleset in use.
func (d *Daemon) Ruleset() *rules.Ruleset { return d.cur.Load().rs }

func (d *Daemon) openOutputs(stdout io.Writer) error {
	o := d.cfg.Outputs
	format := func(f string) sink.Format {
		if f != "json" {
			return sink.TextFormat
		}
		return sink.Format{JSON: true, Props: sink.JSONProperties{
			Output: o.JSON.Output, Message: o.JSON.Message, OutputFields: o.JSON.OutputFields, Tags: o.JSON.Tags,
		}}
	}
	var sinks []sink.Sink
	if o.Stdout.Enabled {
		sinks = append(sinks, sink.NewFormatWriter("stdout", stdout, format(o.Stdout.Format), o.Buffered))
	}
	if o.File.Enabled {
		f, err := sink.NewFormatFile(o.File.Path, format(o.File.Format), o.Buffered)
		if err != nil {
			return fmt.Errorf("outputs.file: %w", err)
		}
		sinks = append(sinks, f)
	}
	if o.Syslog.Enabled {
		sinks = append(sinks, sink.NewSyslog("", "", format(o.Syslog.Format), d.log))
	}
	if o.Program.Enabled {
		sinks = append(sinks, sink.NewProgram(sink.ProgramConfig{
			Command: o.Program.Program, KeepAlive: o.Program.KeepAlive, Format: format(o.Program.Format), Logger: d.log,
		}))
	}
	if o.HTTP.Enabled {
		tc, err := o.HTTP.TLS.ClientConfig()
		if err != nil {
			return fmt.Errorf("outputs.http.tls: %w", err)
		}
		hf := format(o.HTTP.Format)
		sinks = append(sinks, sink.NewHTTP(sink.HTTPConfig{
			URL: o.HTTP.URL, Timeout: o.HTTP.Timeout, TLS: tc, Queue: o.HTTP.Queue, Logger: d.log,
			Format: &hf, UserAgent: o.HTTP.UserAgent, Compress: o.HTTP.Compress, NoKeepAlive: !o.HTTP.KeepAlive, Echo: o.HTTP.Echo,
			Batch: sink.HTTPBatch(o.HTTP.Batch), BatchSize: o.HTTP.BatchSize, Concurrency: o.HTTP.Concurrency,
		}))
	}
	if g := o.GRPC; g.Enabled {
		sp, err := spool.Open(g.Spool.Dir, spool.Options{MaxBytes: g.Spool.MaxBytes, SyncInterval: g.Spool.SyncInterval, Logger: d.log})
		if err != nil {
			return fmt.Errorf("outputs.grpc.spool: %w", err)
		}
		d.sp = sp
		d.closers = append(d.closers, sp.Close)
		tc, err := g.TLS.ClientConfig()
		if err != nil {
			return fmt.Errorf("outputs.grpc.tls: %w", err)
		}
		tr, err := transport.New(transport.Config{
			Addr: g.Address, Addrs: g.Addresses, TLS: tc, Token: g.Token, InsecureToken: g.InsecureToken, SensorID: d.cfg.SensorID,
			BatchSize: g.BatchSize, Window: g.Window, Linger: g.Linger, Logger: d.log,
		}, sp)
		if err != nil {
			return fmt.Errorf("outputs.grpc: %w", err)
		}
		d.tr = tr
		d.closers = append(d.closers, tr.Close)
		if n := sp.Len(); n > 0 {
			d.log.Info("spool holds alerts from a previous run; they will be delivered", "alerts", n)
		}
		sinks = append(sinks, grpcSink{tr})
	}
	minPrio, _ := harrierv1.ParsePriority(o.MinPriority)
	d.fan = sink.NewFanout(minPrio, d.log, sinks...)
	d.closers = append(d.closers, d.fan.Close)
	if a := d.cfg.Aggregation; a.Enabled && len(a.Rules) > 0 {
		var ars []aggregate.Rule
		for _, r := range a.Rules {
			w := r.Window
			if w == 0 {
				w = a.Window
			}
			ars = append(ars, aggregate.Rule{Pattern: r.Rule, Fields: r.Fields, Window: w})
		}
		d.agg = aggregate.New(ars, d.fan.Send, nil)
	}
	return nil
}

// grpcSink puts alerts into the spool; the transport delivers them.
type grpcSink struct{ c *transport.Client }

func (g grpcSink) Name() string                  { return "grpc" }
func (g grpcSink) Send(a *harrierv1.Alert) error { return g.c.Send(a) }
func (g grpcSink) Close() error                  { return nil }

// SendBatch appends the alerts to the spool in one write.
func (g grpcSink) SendBatch(as []*harrierv1.Alert) error { return g.c.Send(as...) }

func (d *Daemon) openWebhook() error {
	ka := d.cfg.Sources.K8sAudit
	tc, err := ka.TLS.ServerConfig()
	if err != nil {
		return fmt.Errorf("sources.k8s_audit.tls: %w", err)
	}
	var extra map[string]http.Handler
	if ka.Prometheus {
		// Falco serves /metrics on its webserver.
		extra = map[string]http.Handler{"/metrics": promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg})}
	}
	d.hook = webhook.New(webhook.Config{
		Listen: ka.Listen, TLS: tc, Token: ka.Token, MaxBodyBytes: ka.MaxBodyBytes,
		QueueEvents: ka.QueueEvents, Workers: ka.Workers, Logger: d.log, AckQueued: ka.Ack == "queued",
		MaxConcurrent: ka.MaxConcurrentRequests, MaxInflightBytes: ka.MaxInflightBytes,
		Path: ka.Path, HealthzPath: ka.HealthzPath, Extra: extra,
	}, d.evaluateAudit)
	if err := d.hook.Listen(); err != nil {
		return fmt.Errorf("sources.k8s_audit.listen: %w", err)
	}
	d.closers = append(d.closers, d.hook.Close)
	return nil
}

var scratchPool = sync.Pool{New: func() any { return new(filter.Scratch) }}

// evaluateAudit evaluates one webhook batch and hands its alerts to the
// outputs together (one spool write for the batch), then commits the spool
// (group fsync) so that the webhook acknowledges only durable alerts. An
// error (the spool could not take or sync them) makes the webhook answer
// 503: kube-apiserver sends the batch again.
func (d *Daemon) evaluateAudit(evs []*k8saudit.Event) error {
	s := scratchPool.Get().(*filter.Scratch)
	defer scratchPool.Put(s)
	cur := d.cur.Load()
	var alerts []*harrierv1.Alert
	for _, ev := range evs {
		cur.rs.EvaluateScratch(ev, s, func(r *rules.Rule) {
			alerts = append(alerts, cur.builder.Alert(r.AlertRule(), ev))
			d.m.alerts.WithLabelValues(r.Name, r.Priority.FalcoName()).Inc()
		})
	}
	var err error
	if d.agg != nil {
		// Repeats that aggregation folds wait in memory for their window:
		// only the first alert of a kind reaches the spool now.
		for _, a := range alerts {
			d.agg.Add(a)
		}
	} else {
		err = d.fan.SendAll(alerts)
	}
	if err == nil && d.sp != nil && len(alerts) > 0 {
		err = d.sp.Commit()
	}
	// Counted once their alerts are handed to the outputs.
	d.m.evaluatedAudit.Add(float64(len(evs)))
	return err
}

// evaluate runs the current ruleset on ev and delivers its alerts.
func (d *Daemon) evaluate(ev fields.Event, s *filter.Scratch, evaluated prometheus.Counter) {
	cur := d.cur.Load()
	resolved := false
	cur.rs.EvaluateScratch(ev, s, func(r *rules.Rule) {
		if se, ok := ev.(*sysevent.Event); ok && !resolved && se.FDInfo == nil && d.sys != nil {
			// An fd whose open stayed in the kernel (no rule condition
			// needed it): the alert's fd.* fields come from /proc, looked
			// up once for all the rules the event fires.
			resolved = true
			d.sys.src.Table.ResolveFD(se)
		}
		a := cur.builder.Alert(r.AlertRule(), ev)
		d.m.alerts.WithLabelValues(r.Name, r.Priority.FalcoName()).Inc()
		if se, ok := ev.(*sysevent.Event); ok && se.Thread != nil {
			if c := se.Thread.Placeholder(); c != nil && !c.Resolved() && d.sys != nil {
				d.sys.src.Containers.MissAlert()
			}
		}
		d.deliver(a)
	})
	// Counted once its alerts are handed to the outputs.
	evaluated.Inc()
}

func (d *Daemon) deliver(a *harrierv1.Alert) {
	if d.agg != nil {
		d.agg.Add(a)
		return
	}
	d.fan.Send(a)
}

func (d *Daemon) openMetrics() error {
	mc := d.cfg.Metrics
	tc, err := mc.TLS.ServerConfig()
	if err != nil {
		return fmt.Errorf("metrics.tls: %w", err)
	}
	ln, err := net.Listen("tcp", mc.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen: %w", err)
	}
	if tc != nil {
		ln = newTLSListener(ln, tc)
	}
	d.metLn = ln
	d.closers = append(d.closers, func() error { return ln.Close() })
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
		// Container runtimes are details, not readiness: alerts still flow
		// (with <NA> metadata) while one is down and being retried.
		if d.sys != nil && d.sys.src.Containers != nil {
			for _, st := range d.sys.src.Containers.Status() {
				state := "connected"
				if !st.Connected {
					state = "unavailable"
				}
				fmt.Fprintf(w, "container runtime %s: %s (%s) since %s\n", st.Name, state, st.Detail, st.Since.UTC().Format(time.RFC3339))
			}
		}
	})
	d.metSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// Run runs the sensor until ctx ends, then shuts down in order: sources stop
// and drain what they queued into evaluation, aggregates are flushed, the
// outputs flush (alerts for the router are in the spool, which is closed
// last), and Run returns.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.closeAll()
	var bg sync.WaitGroup
	// Delivery and metrics outlive the sources: they stop last.
	dctx, stopDelivery := context.WithCancel(context.Background())
	defer stopDelivery()
	if d.tr != nil {
		bg.Go(func() { _ = d.tr.Run(dctx) })
		// The control stream shares the alert stream's connection.
		bg.Go(func() {
			control.Run(dctx, d.tr.Conn(), control.Config{Interval: d.cfg.Outputs.GRPC.ReportInterval, Logger: d.log}, d)
		})
	}
	if d.metSrv != nil {
		bg.Go(func() {
			if err := d.metSrv.Serve(d.metLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("metrics server", "err", err)
			}
		})
	}
	if d.agg != nil {
		bg.Go(func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-dctx.Done():
					return
				case <-t.C:
					d.agg.Tick()
				}
			}
		})
	}

	// Sources stop when ctx ends or when one of them fails.
	sctx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	var srcs sync.WaitGroup
	errc := make(chan error, 3)
	if d.hook != nil {
		srcs.Go(func() {
			if err := d.hook.Serve(sctx); err != nil {
				errc <- fmt.Errorf("k8s_audit webhook: %w", err)
			}
		})
	}
	if d.sys != nil {
		srcs.Go(func() {
			if err := d.sys.run(sctx); err != nil {
				errc <- fmt.Errorf("syscall source: %w", err)
			}
		})
	}
	replayed := make(chan struct{})
	if d.replay != nil {
		srcs.Go(func() {
			defer close(replayed)
			s := new(filter.Scratch)
			err := d.replay(sctx, func(ev fields.Event) error {
				d.evaluate(ev, s, d.m.evaluated.WithLabelValues(ev.Source()))
				return sctx.Err()
			})
			if err != nil && sctx.Err() == nil {
				errc <- fmt.Errorf("replay: %w", err)
			}
		})
	}
	if d.cfg.Rules.Watch && d.replay == nil {
		srcs.Go(func() { d.watchRules(sctx) })
	}
	d.ready.Store(true)
	if d.opts.Ready != nil {
		d.opts.Ready()
	}
	d.log.Info("harrier-sensor running",
		"sensor_id", d.cfg.SensorID, "rules", len(d.Ruleset().Rules()), "ruleset", d.Ruleset().Version(),
		"syscall", d.sys != nil, "k8s_audit", d.WebhookAddr(), "metrics", d.MetricsAddr(), "router", d.cfg.Outputs.GRPC.Enabled)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		d.log.Error("a source failed; stopping", "err", runErr)
	case <-replayed:
		select {
		case runErr = <-errc:
		default:
			d.log.Info("capture replayed; stopping")
		}
	}
	d.ready.Store(false)
	if d.opts.Stopping != nil {
		d.opts.Stopping()
	}
	d.log.Info("stopping: draining sources")
	stopSources()
	srcs.Wait()
	// Everything the sources queued is evaluated; hand what aggregation
	// holds to the outputs, then stop delivery. Alerts for the router
	// stay in the spool, closed last by closeAll (outputs flush first).
	if d.agg != nil {
		d.agg.Flush()
	}
	if d.sp != nil {
		d.log.Info("alerts waiting in the spool for the router", "alerts", d.sp.Len())
	}
	stopDelivery()
	if d.metSrv != nil {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.metSrv.Shutdown(c)
		cancel()
	}
	bg.Wait()
	d.log.Info("stopped")
	return runErr
}

// compileAppends compiles the append_output entries for every source.
func compileAppends(cfg *config.Config, regs map[string]*fields.Registry) (*alertfmt.Appends, error) {
	specs := make([]alertfmt.AppendSpec, 0, len(cfg.Rules.AppendOutput))
	for i, a := range cfg.Rules.AppendOutput {
		xf, err := a.Fields()
		if err != nil {
			return nil, fmt.Errorf("rules.append_output[%d]: %w", i, err)
		}
		sp := alertfmt.AppendSpec{Rule: a.Match.Rule, Source: a.Match.Source, Tags: a.Match.Tags,
			ExtraOutput: a.ExtraOutput, Suggested: a.SuggestedOutput}
		for _, f := range xf {
			// Falco expands ${VAR} in its configuration.
			sp.ExtraFields = append(sp.ExtraFields, alertfmt.ExtraField{Name: f.Name, Format: os.Expand(f.Format, os.Getenv)})
		}
		specs = append(specs, sp)
	}
	a, err := alertfmt.CompileAppends(specs, regs, sources.Suggested())
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Close releases what New opened, for a daemon that will not Run.
func (d *Daemon) Close() error {
	d.closeAll()
	return nil
}

// Check loads and selects the configured rules without opening anything
// (no listener, spool or BPF program): `run --check`.
func Check(cfg *config.Config, log *slog.Logger) (*rules.Ruleset, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Daemon{cfg: cfg, log: log, regs: sources.Registries()}
	return d.loadRules()
}
