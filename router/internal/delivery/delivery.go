// Package delivery moves alerts from the journal to the outputs. Each output
// has one worker that reads the journal through its own persisted cursor,
// filters, batches, delivers, retries transient failures with exponential
// backoff and jitter, and stores permanent failures as dead letters. It
// knows nothing about any particular output.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/alertfilter"
	"github.com/harrier-security/harrier/router/internal/deadletter"
	"github.com/harrier-security/harrier/router/internal/journal"
	"github.com/harrier-security/harrier/router/internal/output"
)

// Backoff is an exponential backoff with full jitter between Initial and Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Delay returns the wait before retry attempt n (0-based): a random duration
// in [d/2, d] where d = min(Max, Initial*2^n).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Initial
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

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
	// BatchSize bounds the alerts per Deliver call (default 500).
	BatchSize int
	Backoff   Backoff
	// Fingerprint identifies the configuration; Apply restarts a worker
	// only when it changes.
	Fingerprint string
}

// Pipeline runs one worker per output.
type Pipeline struct {
	j         *journal.Journal
	cursorDir string
	dead      *deadletter.Store
	m         *Metrics
	log       *slog.Logger

	mu      sync.Mutex
	workers map[string]*worker
	decoded *decodedRing
}

// New returns a pipeline with no outputs; call Apply.
func New(j *journal.Journal, cursorDir string, dead *deadletter.Store, m *Metrics, log *slog.Logger) *Pipeline {
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{j: j, cursorDir: cursorDir, dead: dead, m: m, log: log, workers: map[string]*worker{},
		decoded: newDecodedRing(4096)}
}

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
	if s.Backoff.Initial <= 0 {
		s.Backoff.Initial = 100 * time.Millisecond
	}
	if s.Backoff.Max < s.Backoff.Initial {
		s.Backoff.Max = 30 * time.Second
	}
	name := s.Name
	cur, err := journal.OpenCursor(p.cursorDir, name)
	if err != nil {
		return nil, err
	}
	pos, err := cur.Load()
	switch {
	case errors.Is(err, journal.ErrNoCursor):
		pos = p.j.Next()
		if err := cur.Store(pos); err != nil {
			return nil, err
		}
		p.log.Info("output added; starts at the end of the journal", "output", name, "seq", pos)
	case err != nil:
		// Redeliver rather than lose: outputs deduplicate by alert id.
		pos = p.j.First()
		p.log.Error("cursor unreadable; redelivering from the oldest stored alert", "output", name, "err", err, "seq", pos)
	default:
		p.log.Info("output started", "output", name, "seq", pos, "backlog", int64(p.j.Next())-int64(pos))
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{
		p: p, spec: s, out: out, name: name, cursor: cur, pos: pos, stored: pos,
		reader: p.j.NewReader(pos), cancel: cancel, done: make(chan struct{}),
		drain: make(chan struct{}), replay: make(chan replayReq), state: StateIdle,
	}
	p.m.zero(name)
	go w.run(ctx)
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

// Replay delivers the dead letters of output again (one bounded retry run);
// those refused again stay stored.
func (p *Pipeline) Replay(ctx context.Context, name string) (replayed, failed int, err error) {
	p.mu.Lock()
	w := p.workers[name]
	p.mu.Unlock()
	if w == nil {
		return 0, 0, fmt.Errorf("output %q is not configured", name)
	}
	req := replayReq{ctx: ctx, res: make(chan replayRes, 1)}
	select {
	case w.replay <- req:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-w.done:
		return 0, 0, fmt.Errorf("output %q stopped", name)
	}
	r := <-req.res
	return r.ok, r.failed, r.err
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

// States of an output.
const (
	StateIdle     = "idle"     // caught up
	StateBusy     = "busy"     // delivering a backlog
	StateRetrying = "retrying" // the last attempt failed; backing off
)

// Health is one output's state for /healthz.
type Health struct {
	Name                     string    `json:"name"`
	State                    string    `json:"state"`
	QueueDepth               uint64    `json:"queue_depth"`
	OldestUndeliveredSeconds float64   `json:"oldest_undelivered_seconds"`
	LastError                string    `json:"last_error,omitempty"`
	LastErrorTime            time.Time `json:"last_error_time,omitzero"`
	LastSuccess              time.Time `json:"last_success,omitzero"`
	Position                 uint64    `json:"position"`
}

// Health reports every running output, sorted by name.
func (p *Pipeline) Health() []Health {
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.workers))
	for _, w := range p.workers {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	next := p.j.Next()
	out := make([]Health, 0, len(ws))
	for _, w := range ws {
		w.mu.Lock()
		h := Health{Name: w.name, State: w.state, LastError: w.lastErr, LastErrorTime: w.lastErrAt,
			LastSuccess: w.lastOK, Position: w.pos}
		if next > w.pos {
			h.QueueDepth = next - w.pos
		}
		if !w.oldest.IsZero() {
			h.OldestUndeliveredSeconds = time.Since(w.oldest).Seconds()
		}
		w.mu.Unlock()
		out = append(out, h)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

type replayReq struct {
	ctx context.Context
	res chan replayRes
}

type replayRes struct {
	ok, failed int
	err        error
}

type worker struct {
	p      *Pipeline
	spec   Spec
	out    output.Output
	name   string
	cursor *journal.Cursor
	reader *journal.Reader
	cancel context.CancelFunc
	done   chan struct{}
	drain  chan struct{}
	replay chan replayReq

	stored    uint64 // position last written to the cursor
	lastStore time.Time

	mu        sync.Mutex
	pos       uint64 // next journal record to consume
	state     string
	lastErr   string
	lastErrAt time.Time
	lastOK    time.Time
	oldest    time.Time // stored time of the oldest record in flight
}

// stop drains until ctx ends, then cancels; it always closes the output.
func (w *worker) stop(ctx context.Context) {
	close(w.drain)
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
	}
	w.cancel()
}

type item struct {
	seq    uint64
	stored time.Time
	alert  *harrierv1.Alert
}

// fetched is one batch read and decoded ahead of delivery.
type fetched struct {
	items []item    // alerts that pass the filter
	last  uint64    // last journal record covered
	first time.Time // stored time of the first record covered
}

// run delivers in journal order. A fetcher goroutine reads and decodes the
// next batches while the current one is being delivered, so decoding and
// encoding overlap with the output's round trips.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	fctx, stopFetch := context.WithCancel(ctx)
	batches := make(chan fetched, 2)
	fetcherDone := make(chan struct{})
	go func() { defer close(fetcherDone); w.fetch(fctx, batches) }()
	defer func() {
		stopFetch()
		<-fetcherDone
		w.storeCursor(true)
		w.reader.Close()
		if err := w.out.Close(); err != nil {
			w.p.log.Warn("closing output", "output", w.name, "err", err)
		}
	}()
	draining := false
	drain := w.drain
	handle := func(f fetched) bool {
		w.mu.Lock()
		w.oldest = f.first
		if w.state == StateIdle {
			w.state = StateBusy
		}
		w.mu.Unlock()
		if len(f.items) > 0 && !w.deliver(ctx, f.items) {
			return false // cancelled: the batch is redelivered after restart
		}
		w.mu.Lock()
		w.pos = f.last + 1
		w.oldest = time.Time{}
		w.mu.Unlock()
		w.storeCursor(false)
		return true
	}
	for {
		select {
		case f := <-batches:
			if !handle(f) {
				return
			}
			select {
			case req := <-w.replay:
				w.doReplay(req)
			default:
			}
			continue
		default:
		}
		// Nothing fetched: caught up (or the fetcher is between batches).
		w.mu.Lock()
		caughtUp := w.pos >= w.p.j.Next()
		w.mu.Unlock()
		if caughtUp {
			w.storeCursor(true)
			w.setIdle()
			if draining {
				return
			}
		}
		select {
		case f := <-batches:
			if !handle(f) {
				return
			}
		case <-ctx.Done():
			return
		case <-drain:
			draining = true
			drain = nil
		case req := <-w.replay:
			w.doReplay(req)
		case <-time.After(100 * time.Millisecond):
			// re-check caught-up state (draining ends when it is)
		}
	}
}

// fetch reads the journal from the worker's position and sends decoded,
// filtered batches in order until ctx ends.
func (w *worker) fetch(ctx context.Context, out chan<- fetched) {
	for {
		wait := w.reader.Wait()
		f, err := w.collect()
		if errors.Is(err, journal.ErrCorrupt) {
			if n := w.reader.SkipSegment(); n > 0 {
				// A damaged sealed segment: give up on its rest rather than
				// stall this output forever.
				w.p.m.LostRetention.WithLabelValues(w.name).Add(float64(n))
				w.p.log.Error("journal segment damaged; skipping the rest of it", "output", w.name, "alerts", n, "err", err)
				continue
			}
		}
		if err != nil {
			w.setError(err)
			w.p.log.Error("journal read failed; retrying", "output", w.name, "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			pos := w.reader.Position()
			w.reader.Close()
			w.reader = w.p.j.NewReader(pos)
			continue
		}
		if f.last == 0 {
			select {
			case <-wait:
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case out <- f:
		case <-ctx.Done():
			return
		}
	}
}

// collect reads up to BatchSize available records and returns those the
// filter passes and the last sequence number read (0: none available).
func (w *worker) collect() (fetched, error) {
	var f fetched
	skippedBefore := w.reader.Skipped()
	filtered := 0
	for n := 0; n < w.spec.BatchSize; n++ {
		e, ok, err := w.reader.TryNextView() // decoded below, before the next read
		if err != nil {
			return fetched{}, err
		}
		if !ok {
			break
		}
		f.last = e.Seq
		if n == 0 {
			f.first = e.Stored
		}
		a, err := w.p.decoded.get(e.Seq, e.Data)
		if err != nil {
			w.deadLetter([]item{{seq: e.Seq, alert: &harrierv1.Alert{}}}, fmt.Sprintf("undecodable journal record %d: %v", e.Seq, err))
			continue
		}
		if !w.spec.Filter.Match(a) {
			filtered++
			continue
		}
		f.items = append(f.items, item{seq: e.Seq, stored: e.Stored, alert: a})
	}
	if filtered > 0 {
		w.p.m.Filtered.WithLabelValues(w.name).Add(float64(filtered))
	}
	if sk := w.reader.Skipped() - skippedBefore; sk > 0 {
		w.p.m.LostRetention.WithLabelValues(w.name).Add(float64(sk))
		w.p.log.Warn("journal retention deleted alerts before this output consumed them", "output", w.name, "alerts", sk)
	}
	return f, nil
}

// deliver delivers batch, retrying transient failures until it succeeds or
// ctx ends (false).
func (w *worker) deliver(ctx context.Context, batch []item) bool {
	m := w.p.m
	pending := batch
	for attempt := 0; ; attempt++ {
		alerts := make([]*harrierv1.Alert, len(pending))
		for i, it := range pending {
			alerts[i] = it.alert
		}
		m.BatchSize.WithLabelValues(w.name).Observe(float64(len(alerts)))
		err := w.out.Deliver(ctx, alerts)
		if ctx.Err() != nil {
			return false
		}
		var retry []item
		var dead []item
		var reason string
		var pe *output.PartialError
		switch {
		case err == nil:
		case errors.As(err, &pe):
			failed := make(map[int]error, len(pe.Items))
			for _, ie := range pe.Items {
				if ie.Index >= 0 && ie.Index < len(pending) {
					failed[ie.Index] = ie.Err
				}
			}
			for i, it := range pending {
				ferr, bad := failed[i]
				switch {
				case !bad:
				case output.IsPermanent(ferr):
					w.deadLetter([]item{it}, ferr.Error())
					dead = append(dead, it)
				default:
					retry = append(retry, it)
					reason = ferr.Error()
				}
			}
		case output.IsPermanent(err):
			dead = pending
			w.deadLetter(pending, err.Error())
		default:
			retry = pending
			reason = err.Error()
		}
		okCount := len(pending) - len(retry) - len(dead)
		now := time.Now()
		if okCount > 0 {
			m.Sent.WithLabelValues(w.name).Add(float64(okCount))
			lat := m.Latency.WithLabelValues(w.name)
			failedSet := map[uint64]bool{}
			for _, it := range retry {
				failedSet[it.seq] = true
			}
			for _, it := range dead {
				failedSet[it.seq] = true
			}
			for _, it := range pending {
				if !failedSet[it.seq] {
					lat.Observe(now.Sub(it.stored).Seconds())
				}
			}
		}
		if n := len(retry) + len(dead); n > 0 {
			m.Failed.WithLabelValues(w.name).Add(float64(n))
		}
		if len(retry) == 0 {
			w.mu.Lock()
			w.lastOK = now
			w.state = StateBusy
			w.mu.Unlock()
			return true
		}
		m.Retried.WithLabelValues(w.name).Add(float64(len(retry)))
		w.setError(errors.New(reason))
		delay := w.spec.Backoff.Delay(attempt)
		if attempt == 0 || attempt%10 == 0 {
			w.p.log.Warn("delivery failed; retrying", "output", w.name, "alerts", len(retry), "attempt", attempt+1,
				"backoff", delay.Round(time.Millisecond), "err", reason)
		}
		if !sleep(ctx, delay) {
			return false
		}
		pending = retry
	}
}

func (w *worker) deadLetter(items []item, reason string) {
	if w.p.dead == nil {
		return
	}
	now := timestamppb.Now()
	letters := make([]*harrierv1.DeadLetter, len(items))
	for i, it := range items {
		letters[i] = &harrierv1.DeadLetter{Output: w.name, Alert: it.alert, Reason: reason, Time: now, Seq: it.seq}
	}
	w.p.m.DeadLettered.WithLabelValues(w.name).Add(float64(len(items)))
	w.p.log.Warn("alerts refused permanently; stored as dead letters", "output", w.name, "alerts", len(items), "reason", reason)
	for {
		err := w.p.dead.Add(w.name, letters)
		if err == nil {
			return
		}
		// Never drop: keep trying to store (the disk may come back).
		w.p.log.Error("cannot store dead letters; retrying", "output", w.name, "err", err)
		time.Sleep(time.Second)
	}
}

// doReplay delivers this output's dead letters with a few attempts.
func (w *worker) doReplay(req replayReq) {
	if w.p.dead == nil {
		req.res <- replayRes{err: errors.New("no dead-letter store")}
		return
	}
	ok, failed, err := w.p.dead.Replay(w.name, func(ls []*harrierv1.DeadLetter) []*harrierv1.DeadLetter {
		pending := ls
		for attempt := 0; attempt < 3 && len(pending) > 0; attempt++ {
			if attempt > 0 && !sleep(req.ctx, w.spec.Backoff.Delay(attempt)) {
				break
			}
			alerts := make([]*harrierv1.Alert, len(pending))
			for i, l := range pending {
				alerts[i] = l.GetAlert()
			}
			err := w.out.Deliver(req.ctx, alerts)
			if err == nil {
				pending = nil
				break
			}
			var pe *output.PartialError
			if errors.As(err, &pe) {
				var again []*harrierv1.DeadLetter
				for _, ie := range pe.Items {
					if ie.Index >= 0 && ie.Index < len(pending) {
						l := pending[ie.Index]
						l.Reason = ie.Err.Error()
						l.Time = timestamppb.Now()
						again = append(again, l)
					}
				}
				pending = again
				continue
			}
			for _, l := range pending {
				l.Reason = err.Error()
				l.Time = timestamppb.Now()
			}
			if output.IsPermanent(err) {
				break
			}
		}
		return pending
	})
	if ok > 0 {
		w.p.m.Sent.WithLabelValues(w.name).Add(float64(ok))
	}
	w.p.log.Info("dead letters replayed", "output", w.name, "delivered", ok, "failed", failed, "err", err)
	req.res <- replayRes{ok: ok, failed: failed, err: err}
}

func (w *worker) storeCursor(force bool) {
	w.mu.Lock()
	pos := w.pos
	w.mu.Unlock()
	if pos == w.stored || (!force && time.Since(w.lastStore) < 200*time.Millisecond) {
		return
	}
	if err := w.cursor.Store(pos); err != nil {
		w.p.log.Error("cannot store cursor", "output", w.name, "err", err)
		return
	}
	w.stored, w.lastStore = pos, time.Now()
}

func (w *worker) setError(err error) {
	w.mu.Lock()
	w.state, w.lastErr, w.lastErrAt = StateRetrying, err.Error(), time.Now()
	w.mu.Unlock()
}

func (w *worker) setIdle() {
	w.mu.Lock()
	w.state = StateIdle
	w.oldest = time.Time{}
	w.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
