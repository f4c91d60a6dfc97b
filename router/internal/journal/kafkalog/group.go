package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/harrier-security/harrier/router/internal/journal"
)

// GroupPrefix prefixes the consumer group of each output.
const GroupPrefix = "harrier-output-"

// Group reads the alert topic as one member of a consumer group: the
// group's members (one per router replica) share the partitions, and they
// move when a member joins, leaves or dies (session timeout). It is not
// safe for concurrent use except Close.
type Group struct {
	l     *Log
	name  string
	cl    *kgo.Client
	mu    sync.Mutex
	kept  map[partOffset]*kgo.Record // polled records by position, until done
	close sync.Once
}

type partOffset struct {
	p int32
	o int64
}

// Join joins group (the output's group: GroupPrefix + output name). A new
// group starts at the end of the topic as it is now, like a new output on
// the local journal; an existing one resumes at its committed offsets.
func (l *Log) Join(group string) (*Group, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.ProduceTimeout)
	defer cancel()
	if err := l.startAtEnd(ctx, group); err != nil {
		return nil, err
	}
	g := &Group{l: l, name: group, kept: map[partOffset]*kgo.Record{}}
	opts := append(l.cfg.base(),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(l.cfg.Topic),
		kgo.DisableAutoCommit(), // committed after delivery only
		// Offsets exist from startAtEnd; should they be lost (expired),
		// redeliver rather than skip.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(l.cfg.FetchMaxWait),
		kgo.SessionTimeout(l.cfg.SessionTimeout),
		kgo.HeartbeatInterval(l.cfg.SessionTimeout/10),
		// A member that died during a rebalance must not hold the group
		// longer than a silent one does (the default is a minute).
		kgo.RebalanceTimeout(l.cfg.SessionTimeout),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) { g.forget() }),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { g.forget() }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka journal: group %s: %w", group, err)
	}
	g.cl = cl
	return g, nil
}

// startAtEnd commits the topic's current end offsets for a group that has
// none, so a new output starts where the log is when it is first
// configured, not where it happens to be when the group's first member is
// assigned (alerts accepted in between would be skipped).
func (l *Log) startAtEnd(ctx context.Context, group string) error {
	have, err := l.adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("kafka journal: group %s: %w", group, err)
	}
	if err == nil && len(have[l.cfg.Topic]) > 0 {
		return nil
	}
	ends, err := l.adm.ListEndOffsets(ctx, l.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka journal: group %s: %w", group, err)
	}
	var offs kadm.Offsets
	ends.Each(func(o kadm.ListedOffset) { offs.AddOffset(o.Topic, o.Partition, o.Offset, -1) })
	resp, err := l.adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka journal: group %s: starting at the end of %s: %w", group, l.cfg.Topic, err)
	}
	l.log.Info("kafka journal: new output group starts at the end of the topic", "group", group, "topic", l.cfg.Topic)
	return nil
}

// forget drops the records awaiting delivery after a rebalance: their
// partitions may belong to another member now, which redelivers from the
// committed offset (at least once).
func (g *Group) forget() {
	g.mu.Lock()
	clear(g.kept)
	g.mu.Unlock()
}

// ErrGroupClosed is returned by Poll after Close.
var ErrGroupClosed = errors.New("kafka journal: group closed")

// Poll returns up to max records of the partitions this member owns,
// waiting until some arrive or ctx ends.
func (g *Group) Poll(ctx context.Context, max int) ([]journal.Record, error) {
	fs := g.cl.PollRecords(ctx, max)
	if fs.IsClientClosed() {
		return nil, ErrGroupClosed
	}
	// Records returned as ctx ends are already taken from the client: they
	// must be handed on, or a later commit would skip them.
	var errs []error
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", t, p, err))
		}
	})
	recs := make([]journal.Record, 0, fs.NumRecords())
	g.mu.Lock()
	fs.EachRecord(func(r *kgo.Record) {
		g.kept[partOffset{r.Partition, r.Offset}] = r
		recs = append(recs, toRecord(r))
	})
	g.mu.Unlock()
	if len(recs) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("kafka journal: group %s: %w", g.name, errors.Join(errs...))
		}
	}
	return recs, nil
}

// Commit commits the offsets past recs (delivered). A commit for a
// partition that moved to another member meanwhile is refused by the group
// or harmless: that member redelivers from the previous commit.
func (g *Group) Commit(ctx context.Context, recs []journal.Record) error {
	krs := make([]*kgo.Record, 0, len(recs))
	g.mu.Lock()
	for _, r := range recs {
		k := partOffset{r.Partition, r.Offset}
		if kr := g.kept[k]; kr != nil {
			krs = append(krs, kr)
			delete(g.kept, k)
		}
	}
	g.mu.Unlock()
	if len(krs) == 0 {
		return nil
	}
	if err := g.cl.CommitRecords(ctx, krs...); err != nil {
		return fmt.Errorf("kafka journal: group %s: commit: %w", g.name, err)
	}
	return nil
}

// Lag is the records of the topic not yet committed by the group.
func (g *Group) Lag(ctx context.Context) (int64, error) {
	lags, err := g.l.adm.Lag(ctx, g.name)
	if err != nil {
		return 0, err
	}
	if err := lags.Error(); err != nil {
		return 0, err
	}
	var total int64
	for _, dl := range lags {
		total += dl.Lag.Total()
	}
	return total, nil
}

// Close leaves the group (its partitions move to the other members at
// once) and disconnects.
func (g *Group) Close() {
	g.close.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), g.l.cfg.SessionTimeout)
		defer cancel()
		_ = g.cl.LeaveGroupContext(ctx)
		g.cl.Close()
	})
}
