// Package dispatch spreads decoded syscall events over evaluation workers,
// one per core, sharded by thread-group id: all events of one process go to
// the same worker, in capture order, so per-process state needs no locks
// on the hot path and a process's events are never reordered.
package dispatch

import (
	"sync"
	"sync/atomic"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Handler processes one event on worker w. The event is recycled when the
// handler returns (strings and Argv/Env may be kept, the *Event may not).
type Handler func(w int, ev *sysevent.Event)

// Sharder owns the workers. Submit and Flush are called from one goroutine
// (the capture's reader); handlers run on the workers.
type Sharder struct {
	handle  Handler
	queues  []chan *batch
	pending []*batch // per worker, not yet sent
	batch   int
	events  sync.Pool
	batches sync.Pool
	wg      sync.WaitGroup
	closed  bool

	stalls atomic.Uint64
}

// Options size a Sharder.
type Options struct {
	Workers int // number of workers; at least 1
	// Batch is how many events travel to a worker together (amortising the
	// channel operation); Depth how many batches a worker may have queued
	// before Submit blocks (back-pressure that reaches the ring buffer).
	Batch, Depth int
}

// New starts the workers.
func New(opts Options, h Handler) *Sharder {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.Batch < 1 {
		opts.Batch = 64
	}
	if opts.Depth < 1 {
		opts.Depth = 256
	}
	s := &Sharder{
		handle:  h,
		queues:  make([]chan *batch, opts.Workers),
		pending: make([]*batch, opts.Workers),
		batch:   opts.Batch,
	}
	s.events.New = func() any { return new(sysevent.Event) }
	s.batches.New = func() any { return &batch{evs: make([]*sysevent.Event, 0, opts.Batch)} }
	for i := range s.queues {
		s.queues[i] = make(chan *batch, opts.Depth)
		s.wg.Add(1)
		go s.work(i)
	}
	return s
}

// Workers returns the number of workers.
func (s *Sharder) Workers() int { return len(s.queues) }

// Shard returns the worker that handles thread group pid.
func (s *Sharder) Shard(pid uint32) int {
	// Fibonacci hashing spreads sequential pids evenly.
	return int((uint64(pid) * 0x9E3779B97F4A7C15 >> 32) % uint64(len(s.queues)))
}

// Submit copies ev and queues the copy for its process's worker. It
// blocks when that worker is Depth batches behind.
func (s *Sharder) Submit(ev *sysevent.Event) {
	cp := s.Get()
	*cp = *ev
	s.SubmitOwned(cp)
}

// Get returns an empty event for the caller to fill and hand over with
// SubmitOwned: the capture decodes straight into it, so no event is
// copied on its way to a worker.
func (s *Sharder) Get() *sysevent.Event { return s.events.Get().(*sysevent.Event) }

// SubmitOwned queues ev, which came from Get, for its process's worker;
// the Sharder owns it from then on. It blocks like Submit.
func (s *Sharder) SubmitOwned(ev *sysevent.Event) {
	w := s.Shard(ev.PID)
	b := s.pending[w]
	if b == nil {
		b = s.batches.Get().(*batch)
		s.pending[w] = b
	}
	b.evs = append(b.evs, ev)
	if len(b.evs) >= s.batch {
		s.send(w, b)
		s.pending[w] = nil
	}
}

// batch is a group of events for one worker.
type batch struct{ evs []*sysevent.Event }

// Flush sends every partly filled batch; the reader calls it when the ring
// buffer is momentarily empty, so that latency stays low at low rates.
func (s *Sharder) Flush() {
	for w, b := range s.pending {
		if b != nil && len(b.evs) > 0 {
			s.send(w, b)
			s.pending[w] = nil
		}
	}
}

func (s *Sharder) send(w int, b *batch) {
	select {
	case s.queues[w] <- b:
	default:
		s.stalls.Add(1)
		s.queues[w] <- b
	}
}

// Stalls counts the times Submit had to wait for a worker.
func (s *Sharder) Stalls() uint64 { return s.stalls.Load() }

func (s *Sharder) work(w int) {
	defer s.wg.Done()
	for b := range s.queues[w] {
		for i, ev := range b.evs {
			s.handle(w, ev)
			ev.Reset()
			s.events.Put(ev)
			b.evs[i] = nil
		}
		b.evs = b.evs[:0]
		s.batches.Put(b)
	}
}

// Close flushes, lets the workers finish what is queued and stops them.
func (s *Sharder) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.Flush()
	for _, q := range s.queues {
		close(q)
	}
	s.wg.Wait()
}
