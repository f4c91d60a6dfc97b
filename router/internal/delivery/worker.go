package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/harrier-security/harrier/router/internal/journal"
	"github.com/harrier-security/harrier/router/internal/output"
)

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
	thr    *throttler // nil: no throttle

	stored    uint64 // position last written to the cursor
	lastStore time.Time

	mu        sync.Mutex
	pos       uint64 // next journal record to consume (records consumed, on a shared log)
	lag       uint64 // the consumer group's lag, on a shared log
	state     string
	lastErr   string
	lastErrAt time.Time
	lastOK    time.Time
	oldest    time.Time // stored time of the oldest record in flight
	deadErr   string    // the dead-letter store's last failure
	deadErrAt time.Time
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
