// Package delivery moves alerts from the journal to the outputs. Each output
// has one worker that runs the same stages, one file each:
//
//	read.go       read the journal from the output's cursor, decode (shared: journal/decoded)
//	filter.go     minimumpriority and the allow-lists
//	deliver.go    one Deliver call to the output and the sorting of its result
//	retry.go      exponential backoff with jitter until the batch is through
//	deadletter.go store permanent failures, replay them on request
//	cursor.go     where an output starts and the persisted position
//	worker.go     the loop that ties the stages together
//	health.go     state for /healthz; metrics.go the Prometheus series
//
// It knows nothing about any particular output.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/harrier-security/harrier/router/internal/alertfilter"
	"github.com/harrier-security/harrier/router/internal/journal"
	"github.com/harrier-security/harrier/router/internal/journal/decoded"
	"github.com/harrier-security/harrier/router/internal/output"
)

// Spec is one output with its routing settings.
type Spec struct {
	// Name is the output's configured name (its cursor and dead letters
	// are kept under it).
	Name string
	// Build constructs the output; Apply calls it only for outputs that are
	// new or changed.
	Build func() (output.Output, error)
	// Filter selects the alerts for this output (minimumpriority and
	// source/rule/tag/hostname allow-lists); nil passes everything.
	Filter *alertfilter.Filter
	// Condition selects alerts in the rules' condition language; nil
	// passes everything.
	Condition *alertfilter.Condition
	// Throttle bounds alerts per key per window (zero Rate: off).
	Throttle Throttle
	// BatchSize bounds the alerts per Deliver call (default 500).
	BatchSize int
	Backoff   Backoff
	// Fingerprint identifies the configuration; Apply restarts a worker
	// only when it changes.
	Fingerprint string
}

// Pipeline runs one worker per output.
type Pipeline struct {
	j         *journal.Journal // nil with a shared log
	shared    SharedLog        // nil with the local journal
	cursorDir string
	dead      DeadLetterStore
	m         *Metrics
	log       *slog.Logger

	mu      sync.Mutex
	workers map[string]*worker
	decoded *decoded.Ring
}

// New returns a pipeline with no outputs; call Apply.
func New(j *journal.Journal, cursorDir string, dead DeadLetterStore, m *Metrics, log *slog.Logger) *Pipeline {
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{j: j, cursorDir: cursorDir, dead: dead, m: m, log: log, workers: map[string]*worker{},
		decoded: decoded.NewRing(decoded.DefaultSize)}
}

// Decoded is the ring of decoded records the pipeline's workers share; the
// journal's other readers (the subscription hub, the console index) pass
// it theirs so that a record is decoded once for all of them.
func (p *Pipeline) Decoded() *decoded.Ring { return p.decoded }

// Apply makes the running outputs those of specs: new ones start, removed
// ones stop, changed ones (by Fingerprint) restart. Stopped outputs keep
// their cursor, so nothing queued for them is lost (a restarted or re-added
// output resumes where it stopped); an output seen for the first time
// starts at the end of the journal. When an output cannot be built, the
// error names it and its running instance, if any, stays.
func (p *Pipeline) Apply(specs []Spec) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[string]Spec{}
	for _, s := range specs {
		if _, dup := want[s.Name]; dup {
			return fmt.Errorf("output %q configured twice", s.Name)
		}
		want[s.Name] = s
	}
	for name, w := range p.workers {
		if _, keep := want[name]; !keep {
			w.stop(expired(2 * time.Second))
			delete(p.workers, name)
			p.log.Info("output removed; its cursor is kept", "output", name)
		}
	}
	var errs []error
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := want[name]
		old := p.workers[name]
		if old != nil && s.Fingerprint != "" && s.Fingerprint == old.spec.Fingerprint {
			continue
		}
		out, err := s.Build()
		if err != nil {
			errs = append(errs, fmt.Errorf("output %q: %w", name, err))
			continue
		}
		if old != nil {
			old.stop(expired(2 * time.Second))
			delete(p.workers, name)
			p.log.Info("output changed; restarting", "output", name)
		}
		w, err := p.start(s, out)
		if err != nil {
			out.Close()
			errs = append(errs, fmt.Errorf("output %q: %w", name, err))
			continue
		}
		p.workers[name] = w
	}
	return errors.Join(errs...)
}

func expired(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	_ = cancel // released when the timer fires
	return ctx
}

func (p *Pipeline) start(s Spec, out output.Output) (*worker, error) {
	if s.BatchSize <= 0 {
		s.BatchSize = 500
	}
	s.Backoff = s.Backoff.withDefaults()
	if p.shared != nil {
		return p.startGroup(s, out)
	}
	cur, pos, err := p.startPosition(s.Name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{
		p: p, spec: s, out: out, name: s.Name, cursor: cur, pos: pos, stored: pos,
		reader: p.j.NewReader(pos), cancel: cancel, done: make(chan struct{}),
		drain: make(chan struct{}), replay: make(chan replayReq), state: StateIdle,
		thr: newThrottler(s.Throttle),
	}
	p.m.zero(s.Name)
	go w.run(ctx)
	return w, nil
}

func (p *Pipeline) startGroup(s Spec, out output.Output) (*worker, error) {
	g, err := p.shared.Join(GroupName(s.Name))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{p: p, spec: s, out: out, name: s.Name, cancel: cancel, done: make(chan struct{}),
		drain: make(chan struct{}), replay: make(chan replayReq), state: StateIdle}
	p.m.zero(s.Name)
	p.log.Info("output joined its consumer group", "output", s.Name, "group", GroupName(s.Name))
	go w.runGroup(ctx, g)
	return w, nil
}

// Stop lets every worker deliver what the journal holds (ingest should be
// stopped first) until ctx ends, then stops them, stores cursors and closes
// the outputs.
func (p *Pipeline) Stop(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var wg sync.WaitGroup
	for name, w := range p.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.stop(ctx) }()
		delete(p.workers, name)
	}
	wg.Wait()
}

// Outputs lists the running outputs' names.
func (p *Pipeline) Outputs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, len(p.workers))
	for n := range p.workers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
