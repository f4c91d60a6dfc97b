package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// DeadLetters keeps dead letters in the dead-letter topic, keyed by output.
// What an output's replays have consumed is the committed offset of the
// group "harrier-deadletters-<output>" (committed without members), so
// every replica lists and replays the same letters. Retention is Kafka's.
type DeadLetters struct {
	l *Log

	mu     sync.Mutex // one replay or listing at a time in this replica
	counts map[string]int
}

// DeadLetterGroupPrefix prefixes the group that records an output's replays.
const DeadLetterGroupPrefix = "harrier-deadletters-"

// DeadLetters returns the dead-letter store on the log's dead-letter topic.
func (l *Log) DeadLetters() *DeadLetters { return &DeadLetters{l: l, counts: map[string]int{}} }

// Topic is the dead-letter topic.
func (d *DeadLetters) Topic() string { return d.l.cfg.DeadLetterTopic }

// Add produces letters (all of one output) and waits for the brokers.
func (d *DeadLetters) Add(ctx context.Context, output string, letters []*harrierv1.DeadLetter) error {
	recs := make([]*kgo.Record, 0, len(letters))
	for _, dl := range letters {
		b, err := proto.Marshal(dl)
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		r := &kgo.Record{Topic: d.l.cfg.DeadLetterTopic, Key: []byte(output), Value: b}
		if id := dl.GetAlert().GetId(); id != "" {
			r.Headers = []kgo.RecordHeader{{Key: HeaderAlertID, Value: []byte(id)}}
		}
		recs = append(recs, r)
	}
	if err := d.l.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("dead letters to %s: %w", d.l.cfg.DeadLetterTopic, err)
	}
	d.mu.Lock()
	d.counts[output] += len(letters)
	d.mu.Unlock()
	return nil
}

type storedLetter struct {
	dl        *harrierv1.DeadLetter
	partition int32
	offset    int64
}

// scan reads the topic up to its current end and returns the letters not
// yet consumed by their output's replays, by output, and the end offsets.
func (d *DeadLetters) scan(ctx context.Context, only string) (map[string][]storedLetter, kadm.ListedOffsets, error) {
	topic := d.l.cfg.DeadLetterTopic
	ends, err := d.l.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("dead letters: %w", err)
	}
	starts, err := d.l.adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("dead letters: %w", err)
	}
	from := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) {
		if e, ok := ends.Lookup(topic, o.Partition); ok && e.Offset > o.Offset {
			from[o.Partition] = kgo.NewOffset().At(o.Offset)
			end[o.Partition] = e.Offset
		}
	})
	out := map[string][]storedLetter{}
	if len(from) == 0 {
		return out, ends, nil
	}
	committed := map[string]kadm.OffsetResponses{}
	consumed := func(output string, p int32, off int64) (bool, error) {
		c, ok := committed[output]
		if !ok {
			var err error
			c, err = d.l.adm.FetchOffsets(ctx, DeadLetterGroupPrefix+output)
			if errors.Is(err, kerr.GroupIDNotFound) {
				err = nil // never replayed (some brokers answer so, others with no offsets)
			}
			if err != nil {
				return false, err
			}
			committed[output] = c
		}
		o, ok := c.Lookup(topic, p)
		return ok && o.Err == nil && off < o.At, nil
	}
	cl, err := kgo.NewClient(append(d.l.cfg.base(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxWait(d.l.cfg.FetchMaxWait))...)
	if err != nil {
		return nil, nil, fmt.Errorf("dead letters: %w", err)
	}
	defer cl.Close()
	var scanErr error
	for len(end) > 0 && scanErr == nil {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("dead letters: reading %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, ok := end[r.Partition]
			if !ok || r.Offset >= e || scanErr != nil {
				return
			}
			if r.Offset+1 >= e {
				delete(end, r.Partition)
			}
			output := string(r.Key)
			if only != "" && output != only {
				return
			}
			done, err := consumed(output, r.Partition, r.Offset)
			if err != nil {
				scanErr = err
				return
			}
			if done {
				return
			}
			dl := &harrierv1.DeadLetter{}
			if proto.Unmarshal(r.Value, dl) != nil {
				dl = &harrierv1.DeadLetter{Output: output, Reason: "undecodable dead-letter record"}
			}
			out[output] = append(out[output], storedLetter{dl: dl, partition: r.Partition, offset: r.Offset})
		})
	}
	if scanErr != nil {
		return nil, nil, fmt.Errorf("dead letters: %w", scanErr)
	}
	d.mu.Lock()
	if only == "" {
		clear(d.counts)
	}
	for o, ls := range out {
		d.counts[o] = len(ls)
	}
	if only != "" && len(out[only]) == 0 {
		delete(d.counts, only)
	}
	d.mu.Unlock()
	return out, ends, nil
}

func scanCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// List returns up to limit dead letters of output ("" for all), oldest
// first, and how many are stored in total.
func (d *DeadLetters) List(output string, limit int) ([]*harrierv1.DeadLetter, int, error) {
	ctx, cancel := scanCtx()
	defer cancel()
	by, _, err := d.scan(ctx, output)
	if err != nil {
		return nil, 0, err
	}
	var all []*harrierv1.DeadLetter
	for _, ls := range by {
		for _, l := range ls {
			all = append(all, l.dl)
		}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].GetTime().AsTime().Before(all[b].GetTime().AsTime()) })
	total := len(all)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, total, nil
}

// Outputs lists the outputs that have dead letters.
func (d *DeadLetters) Outputs() ([]string, error) {
	ctx, cancel := scanCtx()
	defer cancel()
	by, _, err := d.scan(ctx, "")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(by))
	for o := range by {
		names = append(names, o)
	}
	sort.Strings(names)
	return names, nil
}

// Counts returns the dead letters per output as this replica last saw
// them (Add, List, Replay); it never reads the topic, so scrapes stay
// cheap.
func (d *DeadLetters) Counts() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int, len(d.counts))
	for k, v := range d.counts {
		out[k] = v
	}
	return out
}

// Replay hands output's unconsumed dead letters to deliver, which returns
// those that failed again: those are produced again (new records) before
// the output's replay group moves past everything read, so nothing is lost
// if the replica dies in between (at worst letters are listed twice).
func (d *DeadLetters) Replay(output string, deliver func([]*harrierv1.DeadLetter) []*harrierv1.DeadLetter) (replayed, failed int, err error) {
	ctx, cancel := scanCtx()
	defer cancel()
	by, ends, err := d.scan(ctx, output)
	if err != nil {
		return 0, 0, err
	}
	ls := by[output]
	if len(ls) == 0 {
		return 0, 0, nil
	}
	letters := make([]*harrierv1.DeadLetter, len(ls))
	for i, l := range ls {
		letters[i] = l.dl
	}
	again := deliver(letters)
	if len(again) > 0 {
		if err := d.Add(ctx, output, again); err != nil {
			return len(letters) - len(again), len(again), err
		}
	}
	var offs kadm.Offsets
	ends.Each(func(o kadm.ListedOffset) { offs.AddOffset(o.Topic, o.Partition, o.Offset, -1) })
	resp, err := d.l.adm.CommitOffsets(ctx, DeadLetterGroupPrefix+output, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return len(letters) - len(again), len(again), fmt.Errorf("dead letters: recording the replay of %s: %w", output, err)
	}
	d.mu.Lock()
	if len(again) > 0 {
		d.counts[output] = len(again)
	} else {
		delete(d.counts, output)
	}
	d.mu.Unlock()
	return len(letters) - len(again), len(again), nil
}
