package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// SharedLog is a log shared by router replicas (Kafka): each output reads
// it through its own consumer group, so the replicas share every output's
// work. The worker stages are the same as on the local journal; only where
// alerts come from and how progress is kept differ.
type SharedLog interface {
	// Join joins the consumer group of one output.
	Join(group string) (GroupReader, error)
}

// GroupReader is one replica's membership of an output's consumer group.
type GroupReader interface {
	// Poll returns records of the partitions this member owns, waiting
	// until some arrive or ctx ends.
	Poll(ctx context.Context, max int) ([]journal.Record, error)
	// Commit records that recs were delivered (the group resumes after
	// them when partitions move).
	Commit(ctx context.Context, recs []journal.Record) error
	// Close leaves the group.
	Close()
}

// lagger is a GroupReader that knows its group's lag (Kafka's committed
// offsets against the partitions' ends); it is the output's queue depth.
type lagger interface {
	Lag(ctx context.Context) (int64, error)
}

// lagEvery bounds how often the lag is asked of the brokers.
const lagEvery = 5 * time.Second

// GroupName is the consumer group of an output.
func GroupName(output string) string { return "harrier-output-" + output }

// NewShared returns a pipeline whose outputs read log through consumer
// groups (no cursors: the group's committed offsets are the positions).
func NewShared(log SharedLog, dead DeadLetterStore, m *Metrics, lg *slog.Logger) *Pipeline {
	p := New(nil, "", dead, m, lg)
	p.shared = log
	return p
}

// pollWait bounds one poll, so that drain and replay requests are
// answered while the log is quiet.
const pollWait = 300 * time.Millisecond

// runGroup is run for a worker of a shared log: poll the owned partitions,
// decode and filter, deliver (retries, dead letters), then commit. Offsets
// are committed only after delivery, so a replica that dies mid-batch
// leaves the batch to the member that takes its partitions (at least
// once; outputs deduplicate by alert id).
func (w *worker) runGroup(ctx context.Context, g GroupReader) {
	defer close(w.done)
	defer func() {
		g.Close()
		if err := w.out.Close(); err != nil {
			w.p.log.Warn("closing output", "output", w.name, "err", err)
		}
	}()
	draining := false
	var lastLag time.Time
	for {
		if lg, ok := g.(lagger); ok && time.Since(lastLag) > lagEvery {
			lastLag = time.Now()
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if n, err := lg.Lag(lctx); err == nil && n >= 0 {
				w.mu.Lock()
				w.lag = uint64(n)
				w.mu.Unlock()
			}
			cancel()
		}
		select {
		case req := <-w.replay:
			w.doReplay(req)
			continue
		case <-w.drain:
			draining, w.drain = true, nil
		case <-ctx.Done():
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, pollWait)
		recs, err := g.Poll(pctx, w.spec.BatchSize)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			w.setError(err)
			w.p.log.Error("shared log read failed; retrying", "output", w.name, "err", err)
			if !retry.Wait(ctx, time.Second) {
				return
			}
			continue
		}
		if len(recs) == 0 {
			w.setIdle()
			if draining {
				return
			}
			continue
		}
		items := make([]item, 0, len(recs))
		for _, r := range recs {
			it := item{seq: uint64(r.Partition)<<48 | uint64(r.Offset), stored: r.Stored, alert: &harrierv1.Alert{}}
			if err := proto.Unmarshal(r.Data, it.alert); err != nil {
				it.refused = fmt.Sprintf("undecodable record at partition %d offset %d: %v", r.Partition, r.Offset, err)
			}
			items = append(items, it)
		}
		items = w.filter(items)
		w.mu.Lock()
		w.oldest = recs[0].Stored
		w.state = StateBusy
		w.mu.Unlock()
		if len(items) > 0 && !w.deliver(ctx, items) {
			return // cancelled: the group redelivers from the last commit
		}
		if err := g.Commit(ctx, recs); err != nil && ctx.Err() == nil {
			// Delivered but not committed: whoever owns the partitions
			// next delivers these again (at least once).
			w.p.log.Warn("cannot commit delivered offsets; they may be delivered again", "output", w.name, "err", err)
		}
		w.mu.Lock()
		w.pos += uint64(len(recs))
		w.oldest = time.Time{}
		w.mu.Unlock()
	}
}
