package kafkalog

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/harrier-security/harrier/router/internal/journal"
)

// Follow reads every partition of the alert topic from its current end,
// without a group (each subscriber hub sees every alert, whichever replica
// took it), and calls fn for each record until ctx ends.
func (l *Log) Follow(ctx context.Context, fn func(journal.Record)) error {
	// The end is taken now, not at the first fetch, so nothing stored
	// after the call is missed.
	ends, err := l.adm.ListEndOffsets(ctx, l.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka journal: follow: %w", err)
	}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { from[o.Partition] = kgo.NewOffset().At(o.Offset) })
	opts := append(l.cfg.base(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{l.cfg.Topic: from}),
		kgo.FetchMaxWait(l.cfg.FetchMaxWait),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka journal: follow: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return ctx.Err()
		}
		fs.EachError(func(t string, p int32, err error) {
			l.log.Warn("kafka journal: follow: fetch failed", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) { fn(toRecord(r)) })
	}
}

// Replay returns the stored records of the alert topic since the given
// time (zero: none by time) or the last n of each partition (0: none by
// count), up to the end of each partition as it was when called, oldest
// first. It stops at ctx's deadline with what it read.
func (l *Log) Replay(ctx context.Context, since time.Time, last int) ([]journal.Record, error) {
	ends, err := l.adm.ListEndOffsets(ctx, l.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka journal: replay: %w", err)
	}
	starts := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	var fromTime map[int32]int64
	if !since.IsZero() {
		after, err := l.adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), l.cfg.Topic)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("kafka journal: replay: %w", err)
		}
		fromTime = map[int32]int64{}
		after.Each(func(o kadm.ListedOffset) { fromTime[o.Partition] = o.Offset })
	}
	ends.Each(func(o kadm.ListedOffset) {
		from := o.Offset // nothing to replay by default
		if last > 0 {
			from = max(0, o.Offset-int64(last))
		}
		if t, ok := fromTime[o.Partition]; ok && t >= 0 && t < from {
			from = t
		}
		if from < o.Offset {
			starts[o.Partition] = kgo.NewOffset().At(from)
			end[o.Partition] = o.Offset
		}
	})
	if len(starts) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append(l.cfg.base(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{l.cfg.Topic: starts}),
		kgo.FetchMaxWait(l.cfg.FetchMaxWait))...)
	if err != nil {
		return nil, fmt.Errorf("kafka journal: replay: %w", err)
	}
	defer cl.Close()
	var out []journal.Record
	for len(end) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, ok := end[r.Partition]
			if !ok || r.Offset >= e {
				return
			}
			out = append(out, toRecord(r))
			if r.Offset+1 >= e {
				delete(end, r.Partition)
			}
		})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Stored.Before(out[b].Stored) })
	return out, nil
}

// Rebuild reads every partition of the alert topic, without a group, from
// the later of two bounds: the first record stored at or after since (zero:
// no bound by time) and the last n records (0: no bound by count), then
// keeps following, calling fn for each record until ctx ends. Unlike Replay
// then Follow, nothing stored between the two is missed: one reader does
// both. Records of one partition come in order; partitions interleave.
func (l *Log) Rebuild(ctx context.Context, since time.Time, last int, fn func(journal.Record)) error {
	ends, err := l.adm.ListEndOffsets(ctx, l.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka journal: rebuild: %w", err)
	}
	var fromTime map[int32]int64
	if !since.IsZero() {
		after, err := l.adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), l.cfg.Topic)
		if err == nil {
			err = after.Error()
		}
		if err != nil {
			return fmt.Errorf("kafka journal: rebuild: %w", err)
		}
		fromTime = map[int32]int64{}
		after.Each(func(o kadm.ListedOffset) { fromTime[o.Partition] = o.Offset })
	}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if last > 0 {
			start = max(0, o.Offset-int64(last))
		}
		if fromTime != nil {
			t, ok := fromTime[o.Partition]
			if !ok || t < 0 { // nothing stored since: start at the end
				t = o.Offset
			}
			start = max(start, t)
		}
		// An offset below the log start (retention removed it) resets to
		// the log start, franz-go's default.
		from[o.Partition] = kgo.NewOffset().At(start)
	})
	// Right after the topic is created a partition can be missing from the
	// listing (no leader yet); ConsumePartitions would then never read it.
	for p := range l.cfg.Partitions {
		if _, ok := from[p]; !ok {
			l.log.Warn("kafka journal: rebuild: partition not listed yet; reading it from its start", "partition", p)
			from[p] = kgo.NewOffset().AtStart()
		}
	}
	cl, err := kgo.NewClient(append(l.cfg.base(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{l.cfg.Topic: from}),
		kgo.FetchMaxWait(l.cfg.FetchMaxWait))...)
	if err != nil {
		return fmt.Errorf("kafka journal: rebuild: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return ctx.Err()
		}
		fs.EachError(func(t string, p int32, err error) {
			l.log.Warn("kafka journal: rebuild: fetch failed", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) { fn(toRecord(r)) })
	}
}
