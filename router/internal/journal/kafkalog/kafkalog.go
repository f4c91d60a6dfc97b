// Package kafkalog is the Kafka backend of the router's durable log: router
// replicas append every accepted alert to one topic and read it back
// through consumer groups, so no replica keeps state of its own and Kafka
// holds (and retains) the log.
//
//   - Append: records are keyed by the sensor's identity (one sensor's alerts
//     stay in order on one partition), carry the alert id in the
//     "harrier-alert-id" header, and a batch is durable once every in-sync
//     replica acknowledged it (acks=all, idempotent producer).
//   - Groups: each output reads through its own consumer group and commits
//     offsets only after delivery (at least once).
//   - Tail and replay: subscriptions read every partition without a group.
//   - Dead letters: a second topic (dead_letter_topic), keyed by output.
//
// The client is franz-go: idempotent producing and cooperative consumer
// groups are built in, and kfake, its in-process broker, is the test peer.
package kafkalog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/harrier-security/harrier/router/internal/journal"
)

// HeaderAlertID is the record header that carries the alert id.
const HeaderAlertID = "harrier-alert-id"

// Config is the connection and topic layout.
type Config struct {
	Brokers           []string
	Topic             string
	DeadLetterTopic   string
	Partitions        int32
	ReplicationFactor int16
	ClientID          string
	TLS               *tls.Config    // nil: plaintext
	SASL              sasl.Mechanism // nil: none
	// ProduceTimeout bounds the wait for a batch's acknowledgement.
	ProduceTimeout time.Duration
	// FetchMaxWait bounds how long a fetch waits for new records
	// (default 250ms): it is the idle latency of outputs and subscribers.
	FetchMaxWait time.Duration
	// SessionTimeout is how long the group waits for a silent member
	// before its partitions move to the others (default 10s).
	SessionTimeout time.Duration
	Logger         *slog.Logger
}

// SASLMechanism returns the franz-go mechanism for plain, scram-sha-256 or
// scram-sha-512 ("" : none).
func SASLMechanism(mechanism, user, pass string) (sasl.Mechanism, error) {
	switch mechanism {
	case "":
		return nil, nil
	case "plain":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "scram-sha-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl mechanism %q: want plain, scram-sha-256 or scram-sha-512", mechanism)
}

// Log is the producer side and the factory of readers. It is safe for
// concurrent use.
type Log struct {
	cfg  Config
	log  *slog.Logger
	prod *kgo.Client
	adm  *kadm.Client

	closeMu sync.RWMutex
	closed  bool

	appended atomic.Uint64
	failed   atomic.Uint64
}

func (c *Config) defaults() {
	if c.ProduceTimeout <= 0 {
		c.ProduceTimeout = 10 * time.Second
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 250 * time.Millisecond
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ClientID == "" {
		c.ClientID = "harrier-router"
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = c.Topic + "-deadletters"
	}
}

func (c *Config) base() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.ClientID),
		kgo.MetadataMinAge(500 * time.Millisecond)}
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS.Clone()))
	}
	if c.SASL != nil {
		opts = append(opts, kgo.SASL(c.SASL))
	}
	return opts
}

// Open connects, creates the topics when they do not exist (partitions,
// replication factor) and returns the log.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	cfg.defaults()
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("kafka journal: brokers and topic are required")
	}
	opts := append(cfg.base(),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent producing is franz-go's default with acks=all
		kgo.RecordDeliveryTimeout(cfg.ProduceTimeout),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(1<<16),
	)
	prod, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka journal: %w", err)
	}
	l := &Log{cfg: cfg, log: cfg.Logger, prod: prod, adm: kadm.NewClient(prod)}
	for _, t := range []string{cfg.Topic, cfg.DeadLetterTopic} {
		if err := l.ensureTopic(ctx, t); err != nil {
			prod.Close()
			return nil, err
		}
	}
	return l, nil
}

func (l *Log) ensureTopic(ctx context.Context, topic string) error {
	resp, err := l.adm.CreateTopic(ctx, l.cfg.Partitions, l.cfg.ReplicationFactor, nil, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		l.log.Info("kafka journal: topic created", "topic", topic, "partitions", l.cfg.Partitions,
			"replication_factor", l.cfg.ReplicationFactor)
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return nil
	}
	return fmt.Errorf("kafka journal: creating topic %s (%d partitions, replication factor %d) on %v: %w",
		topic, l.cfg.Partitions, l.cfg.ReplicationFactor, l.cfg.Brokers, err)
}

// Topic is the alert topic.
func (l *Log) Topic() string { return l.cfg.Topic }

// AppendBatch produces the batch and answers once the brokers acknowledged
// every record (or one failed: the sender retries the whole batch, and
// outputs deduplicate by alert id).
func (l *Log) AppendBatch(b journal.Batch) (<-chan journal.Result, error) {
	done := make(chan journal.Result, 1)
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return nil, journal.ErrClosed
	}
	if len(b.Recs) == 0 {
		done <- journal.Result{}
		return done, nil
	}
	var (
		left    atomic.Int64
		errOnce sync.Once
		first   error
	)
	left.Store(int64(len(b.Recs)))
	key := []byte(b.Key)
	for i, data := range b.Recs {
		r := &kgo.Record{Topic: l.cfg.Topic, Key: key, Value: data}
		if i < len(b.IDs) && b.IDs[i] != "" {
			r.Headers = []kgo.RecordHeader{{Key: HeaderAlertID, Value: []byte(b.IDs[i])}}
		}
		l.prod.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				errOnce.Do(func() { first = err })
			}
			if left.Add(-1) == 0 {
				if first != nil {
					l.failed.Add(uint64(len(b.Recs)))
					done <- journal.Result{Err: fmt.Errorf("kafka journal: produce to %s: %w", l.cfg.Topic, first)}
					return
				}
				l.appended.Add(uint64(len(b.Recs)))
				done <- journal.Result{}
			}
		})
	}
	return done, nil
}

// Stats are the producer's counters since start.
type Stats struct {
	Backend   string   `json:"backend"`
	Brokers   []string `json:"brokers"`
	Topic     string   `json:"topic"`
	Appended  uint64   `json:"appended"`
	Failed    uint64   `json:"failed"`
	Connected bool     `json:"connected"`
}

// Stats returns a snapshot; Connected pings the cluster (bounded by ctx).
func (l *Log) Stats(ctx context.Context) Stats {
	st := Stats{Backend: "kafka", Brokers: l.cfg.Brokers, Topic: l.cfg.Topic, Appended: l.appended.Load(), Failed: l.failed.Load()}
	st.Connected = l.prod.Ping(ctx) == nil
	return st
}

// Close flushes what is being produced and disconnects.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return nil
	}
	l.closed = true
	l.closeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.ProduceTimeout)
	defer cancel()
	err := l.prod.Flush(ctx)
	l.prod.Close()
	return err
}

func toRecord(r *kgo.Record) journal.Record {
	rec := journal.Record{Partition: r.Partition, Offset: r.Offset, Stored: r.Timestamp, Data: r.Value}
	for _, h := range r.Headers {
		if h.Key == HeaderAlertID {
			rec.ID = string(h.Value)
		}
	}
	return rec
}
