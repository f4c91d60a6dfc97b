// Package kafka is the router's Kafka output: each alert becomes one
// message whose value is Falco's JSON, keyed (hostname by default) and
// tagged with headers so consumers can route without parsing the value.
// It is built on github.com/segmentio/kafka-go's Writer and only delivers
// and classifies; retries live in the delivery pipeline.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/harrier-security/harrier/router/internal/alertformat"
	"net"
	"slices"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

// Message header names. Values are the alert's fields as Falco names them.
const (
	HeaderRule     = "rule"
	HeaderPriority = "priority"
	HeaderSource   = "source"
	HeaderUUID     = "uuid"
	HeaderHostname = "hostname"
	// HeaderCluster is set when the alert names its cluster.
	HeaderCluster = "cluster_name"
)

// Output delivers alerts to one Kafka topic.
type Output struct {
	cfg Config
	key func(*harrierv1.Alert) []byte
	w   *kafkago.Writer
}

var _ output.Output = (*Output)(nil)

// New validates cfg and returns an Output. It does not contact the
// brokers: an unreachable cluster shows up as transient Deliver errors, so
// the router starts and queues while Kafka is down.
func New(cfg Config) (*Output, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	key, _ := keyFunc(cfg.Key) // validated by withDefaults
	var tlsCfg *tls.Config
	if cfg.TLS != nil {
		if tlsCfg, err = cfg.TLS.Config(); err != nil {
			return nil, fmt.Errorf("%s: tls: %w", cfg.Name, err)
		}
	}
	mech, err := cfg.SASL.mechanism()
	if err != nil {
		return nil, fmt.Errorf("%s: sasl: %w", cfg.Name, err)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	transport := &kafkago.Transport{
		Dial:        dialer.DialContext,
		DialTimeout: cfg.Timeout,
		IdleTimeout: 5 * time.Minute,
		// kafka-go refreshes partition leaders only on this period, not on
		// NotLeaderForPartition: keep it short so a leader change costs
		// the pipeline a few seconds of retries, not minutes.
		MetadataTTL: 5 * time.Second,
		ClientID:    cfg.ClientID,
		TLS:         tlsCfg,
		SASL:        mech,
	}
	w := &kafkago.Writer{
		Addr:                   kafkago.TCP(cfg.brokers()...),
		Topic:                  cfg.Topic,
		Balancer:               balancer(cfg.Balancer),
		BatchSize:              cfg.BatchSize,
		BatchBytes:             cfg.BatchBytes,
		BatchTimeout:           cfg.BatchTimeout,
		ReadTimeout:            cfg.Timeout,
		WriteTimeout:           cfg.Timeout,
		RequiredAcks:           requiredAcks(cfg.RequiredAcks),
		Compression:            compression(cfg.Compression),
		AllowAutoTopicCreation: cfg.AllowAutoTopicCreation,
		Transport:              transport,
		// One attempt: the delivery pipeline owns retries and backoff, and
		// an outage must surface as an error instead of stalling Deliver.
		MaxAttempts: 1,
	}
	return &Output{cfg: cfg, key: key, w: w}, nil
}

// Name is the configured output name.
func (o *Output) Name() string { return o.cfg.Name }

// Close flushes nothing (Deliver is synchronous) and closes connections.
func (o *Output) Close() error { return o.w.Close() }

// Deliver writes one message per alert and waits for the brokers' acks.
// Alerts that can never be written (unencodable, larger than BatchBytes,
// rejected as too large or invalid by the broker) fail permanently, per
// item; broker, network and timeout failures are transient.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	var items []output.ItemError
	msgs := make([]kafkago.Message, 0, len(alerts))
	idx := make([]int, 0, len(alerts)) // msgs[i] carries alerts[idx[i]]
	for i, a := range alerts {
		m, err := o.Message(a)
		if err == nil && messageSize(&m) > o.cfg.BatchBytes {
			err = fmt.Errorf("message of %d bytes exceeds the batch limit of %d bytes", messageSize(&m), o.cfg.BatchBytes)
		}
		if err != nil {
			items = append(items, output.ItemError{Index: i, Err: output.Permanent(fmt.Errorf("%s: alert %s: %w", o.cfg.Name, a.GetId(), err))})
			continue
		}
		msgs = append(msgs, m)
		idx = append(idx, i)
	}
	for len(msgs) > 0 {
		err := o.w.WriteMessages(ctx, msgs...)
		var tooLarge kafkago.MessageTooLargeError
		if errors.As(err, &tooLarge) {
			// Our size estimate and kafka-go's disagreed: drop the message
			// it names and write the rest, as kafka-go documents.
			j := indexOf(msgs, tooLarge.Message)
			if j < 0 {
				return fmt.Errorf("%s: write to topic %q: %w", o.cfg.Name, o.cfg.Topic, err)
			}
			items = append(items, output.ItemError{Index: idx[j], Err: output.Permanent(fmt.Errorf("%s: alert %s: %w", o.cfg.Name, alerts[idx[j]].GetId(), err))})
			msgs = append(msgs[:j:j], msgs[j+1:]...)
			idx = append(idx[:j:j], idx[j+1:]...)
			continue
		}
		var werrs kafkago.WriteErrors
		switch {
		case err == nil:
		case errors.As(err, &werrs) && len(werrs) == len(msgs):
			var tooBig []int // rejected as part of a batch the broker found too large
			for j, e := range werrs {
				if e == nil {
					continue
				}
				if sizeError(e) && werrs.Count() > 1 {
					tooBig = append(tooBig, j)
					continue
				}
				items = append(items, output.ItemError{Index: idx[j], Err: classify(fmt.Errorf("%s: alert %s: write to topic %q: %w", o.cfg.Name, alerts[idx[j]].GetId(), o.cfg.Topic, e))})
			}
			// The broker's limit (max.message.bytes) applies to a whole
			// record batch: an oversized batch says nothing about its
			// alerts. Write them one by one so only an alert that is too
			// large on its own fails permanently.
			for _, j := range tooBig {
				if e := o.w.WriteMessages(ctx, msgs[j]); e != nil {
					var we kafkago.WriteErrors
					if errors.As(e, &we) && len(we) == 1 && we[0] != nil {
						e = we[0] // WriteErrors does not unwrap
					}
					items = append(items, output.ItemError{Index: idx[j], Err: classify(fmt.Errorf("%s: alert %s: write to topic %q: %w", o.cfg.Name, alerts[idx[j]].GetId(), o.cfg.Topic, e))})
				}
			}
		default:
			if len(items) == 0 {
				return classify(fmt.Errorf("%s: write to topic %q: %w", o.cfg.Name, o.cfg.Topic, err))
			}
			for j := range msgs {
				items = append(items, output.ItemError{Index: idx[j], Err: classify(fmt.Errorf("%s: write to topic %q: %w", o.cfg.Name, o.cfg.Topic, err))})
			}
		}
		break
	}
	if len(items) == 0 {
		return nil
	}
	if len(items) == len(alerts) && !slices.ContainsFunc(items, func(it output.ItemError) bool { return output.IsPermanent(it.Err) }) {
		// The whole batch failed transiently (an outage): one error says it.
		return fmt.Errorf("%s: all %d alerts failed: %w", o.cfg.Name, len(alerts), items[0].Err)
	}
	return &output.PartialError{Items: sortItems(items)}
}

// Message renders the Kafka message for a: the key chosen by Config.Key,
// Falco's JSON as the value, and rule, priority, source, uuid and hostname
// headers.
func (o *Output) Message(a *harrierv1.Alert) (kafkago.Message, error) {
	value, err := alertformat.Encode(o.cfg.Format, a)
	if err != nil {
		return kafkago.Message{}, err
	}
	headers := []kafkago.Header{
		{Key: HeaderRule, Value: []byte(a.GetRule())},
		{Key: HeaderPriority, Value: []byte(a.GetPriority().FalcoName())},
		{Key: HeaderSource, Value: []byte(a.GetSource())},
		{Key: HeaderUUID, Value: []byte(a.GetId())},
		{Key: HeaderHostname, Value: []byte(a.GetHostname())},
	}
	if c := a.GetClusterName(); c != "" {
		headers = append(headers, kafkago.Header{Key: HeaderCluster, Value: []byte(c)})
	}
	return kafkago.Message{Key: o.key(a), Value: value, Headers: headers}, nil
}

// classify marks the broker errors tied to one message as permanent.
// Everything else (network, timeouts, leadership, authorization and other
// cluster or configuration trouble) stays transient: retrying after an
// operator fixes the cluster delivers, dead-lettering would not.
func classify(err error) error {
	var ke kafkago.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafkago.MessageSizeTooLarge, kafkago.RecordListTooLarge, kafkago.InvalidRecord, kafkago.InvalidTimestamp:
			return output.Permanent(err)
		}
	}
	return err
}

// sizeError reports whether err is the broker refusing a record batch
// for its size.
func sizeError(err error) bool {
	return errors.Is(err, kafkago.MessageSizeTooLarge) || errors.Is(err, kafkago.RecordListTooLarge)
}

// keyFunc returns the message-key extractor for spec (see Config.Key).
func keyFunc(spec string) (func(*harrierv1.Alert) []byte, error) {
	if f, ok := strings.CutPrefix(spec, "field:"); ok {
		if f == "" {
			return nil, fmt.Errorf("%q: field: needs an output field name", spec)
		}
		return func(a *harrierv1.Alert) []byte {
			v, ok := a.GetOutputFields()[f]
			if !ok {
				return nil
			}
			return []byte(fieldText(v))
		}, nil
	}
	str := func(get func(*harrierv1.Alert) string) func(*harrierv1.Alert) []byte {
		return func(a *harrierv1.Alert) []byte {
			if s := get(a); s != "" {
				return []byte(s)
			}
			return nil
		}
	}
	switch strings.ToLower(spec) {
	case "hostname":
		return str((*harrierv1.Alert).GetHostname), nil
	case "rule":
		return str((*harrierv1.Alert).GetRule), nil
	case "priority":
		return str(func(a *harrierv1.Alert) string { return a.GetPriority().FalcoName() }), nil
	case "source":
		return str((*harrierv1.Alert).GetSource), nil
	case "uuid", "id":
		return str((*harrierv1.Alert).GetId), nil
	case "sensor_id":
		return str((*harrierv1.Alert).GetSensorId), nil
	case "cluster_name":
		return str((*harrierv1.Alert).GetClusterName), nil
	case "none":
		return func(*harrierv1.Alert) []byte { return nil }, nil
	}
	return nil, fmt.Errorf("%q: want hostname, rule, priority, source, uuid, sensor_id, cluster_name, none or field:<output field>", spec)
}

func fieldText(v *harrierv1.FieldValue) string {
	switch k := v.GetKind().(type) {
	case *harrierv1.FieldValue_StringValue:
		return k.StringValue
	case *harrierv1.FieldValue_IntValue:
		return fmt.Sprint(k.IntValue)
	case *harrierv1.FieldValue_UintValue:
		return fmt.Sprint(k.UintValue)
	case *harrierv1.FieldValue_BoolValue:
		return fmt.Sprint(k.BoolValue)
	case *harrierv1.FieldValue_StringList:
		return strings.Join(k.StringList.GetValues(), ",")
	}
	return ""
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
	switch strings.ReplaceAll(strings.ToLower(s.Mechanism), "-", "_") {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "scram_sha_256", "scram_sha256":
		return scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case "scram_sha_512", "scram_sha512":
		return scram.Mechanism(scram.SHA512, s.Username, s.Password)
	}
	return nil, fmt.Errorf("unknown mechanism %q", s.Mechanism)
}

func balancer(name string) kafkago.Balancer {
	switch name {
	case "crc32":
		return &kafkago.CRC32Balancer{}
	case "hash":
		return &kafkago.Hash{}
	case "round_robin":
		return &kafkago.RoundRobin{}
	case "least_bytes":
		return &kafkago.LeastBytes{}
	}
	return &kafkago.Murmur2Balancer{}
}

func requiredAcks(s string) kafkago.RequiredAcks {
	switch s {
	case "one", "1":
		return kafkago.RequireOne
	case "none", "0":
		return kafkago.RequireNone
	}
	return kafkago.RequireAll
}

func compression(s string) kafkago.Compression {
	switch s {
	case "gzip":
		return kafkago.Gzip
	case "snappy":
		return kafkago.Snappy
	case "lz4":
		return kafkago.Lz4
	case "zstd":
		return kafkago.Zstd
	}
	return 0
}

// messageSize mirrors kafka-go's per-message size accounting (record
// overhead, key, value, headers) closely enough to reject oversized alerts
// per item before a write.
func messageSize(m *kafkago.Message) int64 {
	n := int64(4+1+1+8) + 4 + int64(len(m.Key)) + 4 + int64(len(m.Value))
	for _, h := range m.Headers {
		n += 10 + int64(len(h.Key)) + int64(len(h.Value))
	}
	return n
}

func indexOf(msgs []kafkago.Message, m kafkago.Message) int {
	for i := range msgs {
		if len(msgs[i].Value) > 0 && len(m.Value) > 0 && &msgs[i].Value[0] == &m.Value[0] {
			return i
		}
	}
	return -1
}

func sortItems(items []output.ItemError) []output.ItemError {
	slices.SortFunc(items, func(a, b output.ItemError) int { return a.Index - b.Index })
	return items
}
