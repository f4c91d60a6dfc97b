package journal

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Ack says when an append is answered.
type Ack int

const (
	// AckFsync answers once an fsync covers the records: they survive a
	// kernel crash or power loss. A connection that waits for each answer
	// is bound by fsync latency.
	AckFsync Ack = iota
	// AckWritten answers once the records are written to the segment file
	// (the kernel's page cache): they survive the router process crashing
	// or being SIGKILLed, and are fsynced within Options.SyncInterval, so a
	// kernel crash or power loss can lose at most that window.
	AckWritten
)

// DefaultSyncInterval is the default Options.SyncInterval.
const DefaultSyncInterval = 50 * time.Millisecond

func (a Ack) String() string {
	if a == AckWritten {
		return "written"
	}
	return "fsync"
}

// ParseAck reads "written" or "fsync".
func ParseAck(s string) (Ack, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "written":
		return AckWritten, nil
	case "fsync":
		return AckFsync, nil
	}
	return 0, fmt.Errorf("want written or fsync, got %q", s)
}

// syncer is the state of the goroutine that fsyncs what the writer wrote:
// at once when an AckFsync append waits, otherwise at most SyncInterval
// after the first unsynced write. The writer never waits for an fsync
// (except when sealing a segment), so AckWritten appends run at the speed
// of write(2).
type syncer struct {
	// fileMu is held while fsyncing j.f and while the writer replaces it.
	fileMu sync.Mutex

	mu      sync.Mutex
	waiters []syncWaiter // AckFsync appends in write order
	urgent  bool         // a waiter arrived since the last fsync began

	// open is set while unsynced written records have a window running:
	// the writer then needs no kick (one wake-up per window, not per
	// append).
	open atomic.Bool

	errors atomic.Uint64 // failed fsyncs

	kickCh chan struct{}
	stopCh chan struct{}
	done   chan struct{}
	err    error // of the last round, returned by stop
}

type syncWaiter struct {
	req   *appendReq
	first uint64
}

func (s *syncer) init() {
	s.kickCh = make(chan struct{}, 1)
	s.stopCh = make(chan struct{})
	s.done = make(chan struct{})
}

// wait queues an AckFsync append written up to req.end (writer goroutine).
func (s *syncer) wait(req *appendReq, first uint64) {
	s.mu.Lock()
	s.waiters = append(s.waiters, syncWaiter{req: req, first: first})
	s.urgent = true
	s.mu.Unlock()
}

// kick tells the syncer that something was written; urgent when an
// AckFsync append waits.
func (s *syncer) kick(urgent bool) {
	if !urgent && !s.open.CompareAndSwap(false, true) {
		return // a window is running: its fsync covers this write
	}
	select {
	case s.kickCh <- struct{}{}:
	default:
	}
}

func (s *syncer) takeUrgent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.urgent
	s.urgent = false
	return u
}

// answer gives every waiter written below upTo its result.
func (s *syncer) answer(upTo uint64, err error) {
	s.mu.Lock()
	n := 0
	for n < len(s.waiters) && s.waiters[n].req.end <= upTo {
		w := s.waiters[n]
		if err != nil {
			w.req.done <- Result{Err: err}
		} else {
			w.req.done <- Result{First: w.first}
		}
		n++
	}
	s.waiters = append(s.waiters[:0], s.waiters[n:]...)
	s.mu.Unlock()
}

// stop runs a last round (after the writer stopped) and ends the syncer.
func (s *syncer) stop() error {
	close(s.stopCh)
	<-s.done
	return s.err
}

func (j *Journal) syncLoop() {
	s := &j.sy
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		fire := false
		select {
		case <-s.kickCh:
		case <-timer.C:
			armed, fire = false, true
		case <-s.stopCh:
			s.err = j.syncOnce()
			s.answer(^uint64(0), ErrClosed) // only left when the last fsync failed
			return
		}
		urgent := s.takeUrgent()
		if !urgent && j.written.Load() <= j.committed.Load() {
			if armed {
				continue
			}
			// Idle: the next write must kick. Look again in case one
			// slipped in while the flag was still set.
			s.open.Store(false)
			if j.written.Load() <= j.committed.Load() {
				continue
			}
		}
		if urgent || fire {
			if armed {
				timer.Stop()
				armed = false
			}
			_ = j.syncOnce()
			if j.written.Load() > j.committed.Load() {
				// Written while the fsync ran: its own window starts now.
				timer.Reset(j.opts.SyncInterval)
				armed = true
			}
			continue
		}
		if !armed {
			timer.Reset(j.opts.SyncInterval)
			armed = true
		}
	}
}

// syncOnce fsyncs what is written, publishes it to readers and answers the
// AckFsync appends it covers.
func (j *Journal) syncOnce() error {
	// Writes after this point open the next window.
	j.sy.open.Store(false)
	j.sy.fileMu.Lock()
	target := j.written.Load()
	var err error
	synced := false
	if target > j.committed.Load() && !j.opts.NoSync {
		err, synced = j.f.Sync(), true
	}
	j.sy.fileMu.Unlock()
	if err != nil {
		// Records AckWritten already answered stay in the page cache (a
		// later fsync may still store them); AckFsync appends are refused
		// and their senders retry.
		j.sy.errors.Add(1)
		err = fmt.Errorf("journal: fsync: %w", err)
		j.setWriteError(err)
		j.log.Error("journal fsync failed; appends waiting for it are refused", "err", err)
		j.sy.answer(target, err)
		return err
	}
	j.publish(target, synced)
	j.sy.answer(target, nil)
	return nil
}

// Flush fsyncs and publishes every record written so far, at once rather
// than at the end of the fsync window: on shutdown, once ingest has stopped,
// the outputs can then drain all that was acknowledged.
func (j *Journal) Flush() error { return j.syncOnce() }

// publish makes records below to visible to readers (they are durable).
func (j *Journal) publish(to uint64, synced bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if synced {
		j.syncs++
	}
	if to <= j.committed.Load() {
		return
	}
	j.committed.Store(to)
	close(j.waitCh)
	j.waitCh = make(chan struct{})
}

// Written is the sequence number the next record will get once written:
// every record below it is in the segment files (acknowledged AckWritten or
// about to be), readable by a journal opened after a process crash. Records
// between Next and Written await their fsync.
func (j *Journal) Written() uint64 { return j.written.Load() }
