package server

import (
	"context"
	"fmt"

	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/delivery"
	"github.com/harrier-security/harrier/router/internal/journal/kafkalog"
	"github.com/harrier-security/harrier/router/internal/subscription"
)

// openKafka connects the Kafka journal: ingest produces to the topic,
// outputs read it through consumer groups, the hub follows every
// partition, dead letters go to the dead-letter topic. Nothing of the log
// is kept in data_dir, so replicas are interchangeable.
func (r *Router) openKafka(cfg *config.Config) error {
	k := cfg.Journal.Kafka
	kc := kafkalog.Config{
		Brokers: k.Brokers, Topic: k.Topic, DeadLetterTopic: k.DeadLetterTopic,
		Partitions: int32(k.Partitions), ReplicationFactor: int16(k.ReplicationFactor),
		ClientID: k.ClientID, ProduceTimeout: k.ProduceTimeout, SessionTimeout: k.SessionTimeout, Logger: r.log,
	}
	if k.TLS != nil {
		tc, err := k.TLS.Config()
		if err != nil {
			return fmt.Errorf("journal.kafka.tls: %w", err)
		}
		kc.TLS = tc
	}
	mech, err := kafkalog.SASLMechanism(k.SASL.Mechanism, k.SASL.Username, k.SASL.Password)
	if err != nil {
		return fmt.Errorf("journal.kafka.sasl: %w", err)
	}
	kc.SASL = mech
	ctx, cancel := context.WithTimeout(context.Background(), k.ProduceTimeout)
	defer cancel()
	kl, err := kafkalog.Open(ctx, kc)
	if err != nil {
		return fmt.Errorf("journal.kafka: %w", err)
	}
	r.kl, r.app = kl, kl
	dead := kl.DeadLetters()
	r.dead = dead
	r.reg.MustRegister(&deadLetterCollector{s: dead})
	r.pipe = delivery.NewShared(sharedLog{kl}, dead, delivery.NewMetrics(r.reg), r.log)
	r.reg.MustRegister(r.pipe.Collector())
	r.hub = subscription.NewSharedHub(kl, subscription.Options{Buffer: cfg.Subscriptions.Buffer,
		MaxReplay: cfg.Subscriptions.MaxReplay, Registerer: r.reg, Logger: r.log})
	return nil
}

// sharedLog adapts kafkalog.Log to delivery.SharedLog.
type sharedLog struct{ l *kafkalog.Log }

func (s sharedLog) Join(group string) (delivery.GroupReader, error) {
	g, err := s.l.Join(group)
	if err != nil {
		return nil, err
	}
	return g, nil
}
