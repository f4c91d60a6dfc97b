package index

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// MaxLag is how far (records) the indexer lets itself fall behind a busy
// journal before it stops yielding the CPU to ingest.
var MaxLag uint64 = 500_000

// BusyRate (alerts/s appended to the journal) is where ingest counts as
// busy and the indexer pauses: indexing costs several times the CPU of
// ingest per alert, and on two cores it would slow ingest down.
var BusyRate = 2000.0

// Run feeds the index from the journal from its stored cursor until ctx
// ends, and streams new alerts to live viewers from the journal's tail.
func (x *Index) Run(ctx context.Context, j *journal.Journal) error {
	go x.tail(ctx, j)
	for {
		err := x.follow(ctx, j)
		if ctx.Err() != nil || errors.Is(err, journal.ErrClosed) || err == nil {
			return nil
		}
		if isCorrupt(err) {
			x.log.Error("console index: database damaged; starting a new one, rebuilt from the journal", "err", err)
			if rerr := x.reset(); rerr != nil {
				x.log.Error("console index: cannot start a new database; the console's search stops", "err", rerr)
				return rerr
			}
		} else {
			// An I/O error (disk full...): retry; the console lags meanwhile.
			x.log.Warn("console index: indexing failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func recordHash(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

// resume returns where to read the journal from, emptying the index when
// the journal it followed was truncated or replaced.
func (x *Index) resume(j *journal.Journal) (uint64, error) {
	start := x.Next()
	if start == 0 {
		return j.First(), nil
	}
	same := start <= j.Next()
	if same && start-1 >= j.First() && start > 1 {
		// The record before the cursor must be the one indexed last.
		r := j.NewReader(start - 1)
		e, ok, err := r.TryNext()
		r.Close()
		if err == nil && ok && e.Seq == start-1 && recordHash(e.Data) != x.meta("last") {
			same = false
		}
	}
	if !same {
		x.log.Warn("console index: the journal is not the one indexed (truncated or recreated); rebuilding the index",
			"cursor", start, "journal_next", j.Next())
		if err := x.reset(); err != nil {
			return 0, err
		}
		return j.First(), nil
	}
	if start < j.First() {
		x.log.Warn("console index: journal records left the journal before being indexed", "from", start, "to", j.First()-1)
		return j.First(), nil
	}
	return start, nil
}

// follow indexes the journal in batches. While ingest is busy it pauses,
// so ingest keeps the CPU; the lag it builds up (exported) is bounded by
// MaxLag and made up when ingest is quiet.
func (x *Index) follow(ctx context.Context, j *journal.Journal) error {
	start, err := x.resume(j)
	if err != nil {
		return err
	}
	r := j.NewReader(start)
	defer r.Close()
	seen, seenAt := j.Next(), time.Now()
	size := min(firstBatch, x.opts.BatchSize)
	batch := make([]rec, 0, x.opts.BatchSize)
	for {
		e, err := r.Next(ctx)
		if err != nil {
			return err
		}
		// Ingest may have just started a burst: look before working.
		var paused bool
		if seen, seenAt, paused = x.yield(ctx, j, e.Seq, seen, seenAt); paused {
			size = firstBatch
		}
		batch = batch[:0]
		var next uint64
		var last []byte
		for {
			a := &harrierv1.Alert{}
			if err := harrierv1.UnmarshalAlert(e.Data, a); err != nil {
				x.log.Warn("console index: undecodable record skipped", "seq", e.Seq, "err", err)
			} else {
				batch = append(batch, rec{seq: e.Seq, a: a, raw: e.Data})
			}
			next, last = e.Seq+1, e.Data
			if len(batch) >= size {
				break
			}
			var ok bool
			if e, ok, err = r.TryNext(); err != nil {
				return err
			} else if !ok {
				break
			}
		}
		if err := x.write(batch, next, recordHash(last)); err != nil {
			return err
		}
		if seen, seenAt, paused = x.yield(ctx, j, next, seen, seenAt); paused {
			size = firstBatch
		} else {
			size = min(2*size, x.opts.BatchSize)
		}
	}
}

// firstBatch is the batch size after a pause: should ingest be busy
// again, a small batch takes little from it; quiet, batches double.
const firstBatch = 256

// yield pauses while ingest is busy (the journal grows faster than
// BusyRate), until ingest is quiet or the lag reaches MaxLag. A pause ends
// only after half a second of quiet, so a short stall of a busy ingest does
// not let a batch in. It returns the journal's end, when it looked last and
// whether it paused.
func (x *Index) yield(ctx context.Context, j *journal.Journal, next, seen uint64, seenAt time.Time) (uint64, time.Time, bool) {
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if time.Since(seenAt) > time.Second {
		// After a quiet spell the last look says nothing about now: look
		// over a short window first.
		seen, seenAt = j.Next(), time.Now()
		if !sleep(100 * time.Millisecond) {
			return seen, seenAt, false
		}
	}
	paused := false
	for {
		now := j.Next()
		lag := now - min(now, next)
		x.lag.Store(int64(lag))
		rate := float64(now-min(now, seen)) / max(time.Since(seenAt), time.Millisecond).Seconds()
		seen, seenAt = now, time.Now()
		if rate < BusyRate || lag >= MaxLag {
			return seen, seenAt, paused
		}
		paused = true
		if !sleep(500 * time.Millisecond) {
			return seen, seenAt, paused
		}
	}
}

// tail streams new journal records to live viewers while there are any,
// independent of how far behind the indexer is.
func (x *Index) tail(ctx context.Context, j *journal.Journal) {
	for {
		for x.viewers() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-x.subsChanged:
			}
		}
		r := j.NewReader(j.Next())
		for x.viewers() > 0 {
			e, err := r.Next(ctx)
			if err != nil {
				r.Close()
				if ctx.Err() != nil || errors.Is(err, journal.ErrClosed) {
					return
				}
				break
			}
			a := &harrierv1.Alert{}
			if harrierv1.UnmarshalAlert(e.Data, a) == nil {
				x.Publish(a)
			}
		}
		r.Close()
	}
}

// SharedLog is the log router replicas share (Kafka).
type SharedLog interface {
	// Rebuild reads every partition from the later of since (zero: no
	// bound) and the last n records of each (0: no bound), then follows,
	// calling fn for each record until ctx ends.
	Rebuild(ctx context.Context, since time.Time, last int, fn func(journal.Record)) error
}

// RunShared feeds the index from a shared log until ctx ends: every
// partition, not a consumer group, so each replica holds every alert
// whichever replica took it. The index is rebuilt at start from the
// retained records within its bounds (MaxAlerts per partition, MaxAge):
// positions are the replica's own arrival order, so an alert's number
// differs between replicas (its id does not).
func (x *Index) RunShared(ctx context.Context, l SharedLog) error {
	if x.Len() > 0 || x.Next() > 0 {
		if err := x.reset(); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	var pending []rec
	seq := x.Next()
	flush := func() {
		mu.Lock()
		b := pending
		pending = nil
		mu.Unlock()
		if len(b) == 0 {
			return
		}
		if err := x.write(b, b[len(b)-1].seq+1, ""); err != nil {
			x.log.Warn("console index: write failed; alerts from the shared log are missing from the console", "alerts", len(b), "err", err)
		}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				flush()
			}
		}
	}()
	for first := true; ; first = false {
		var since time.Time
		last := x.opts.MaxAlerts
		if x.opts.MaxAge > 0 {
			since = x.opts.Now().Add(-x.opts.MaxAge)
		}
		if !first {
			// A retry after a failure: the index already holds the past;
			// read only what arrives from now on (a short gap is possible,
			// which the warning below says).
			since, last = x.opts.Now(), 0
		}
		err := l.Rebuild(ctx, since, last, func(r journal.Record) {
			data := append([]byte(nil), r.Data...) // the decoded alert may share it
			a := &harrierv1.Alert{}
			if err := harrierv1.UnmarshalAlert(data, a); err != nil {
				x.log.Warn("console index: undecodable record skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			x.Publish(a)
			mu.Lock()
			seq++
			pending = append(pending, rec{seq: seq, a: a, raw: data})
			full := len(pending) >= x.opts.BatchSize
			mu.Unlock()
			if full {
				flush()
			}
		})
		if ctx.Err() != nil {
			flush()
			return nil
		}
		x.log.Warn("console index: reading the shared log failed; retrying (alerts stored meanwhile may be missing from the console)", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}
