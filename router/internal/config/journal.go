package config

import (
	"net"
	"strings"
	"time"

	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// parseJournalKafka reads journal.kafka. Its TLS block uses the router's
// own client keys (ca_file, cert_file, key_file, server_name,
// insecure_skip_verify), like every non-falcosidekick block.
func parseJournalKafka(b *block) *JournalKafka {
	k := &JournalKafka{
		Brokers:           b.list("brokers"),
		Topic:             b.str("topic", "harrier-alerts"),
		Partitions:        b.integer("partitions", 12),
		ReplicationFactor: b.integer("replication_factor", 3),
		ClientID:          b.str("client_id", "harrier-router"),
		ProduceTimeout:    b.duration("produce_timeout", 10*time.Second),
		SessionTimeout:    b.duration("session_timeout", 10*time.Second),
	}
	k.DeadLetterTopic = b.str("dead_letter_topic", k.Topic+"-deadletters")
	if len(k.Brokers) == 0 {
		b.errorf("brokers", "is required with journal.backend: kafka (host:port list)")
	}
	for _, br := range k.Brokers {
		if _, _, err := net.SplitHostPort(br); err != nil {
			b.errorf("brokers", "%q: want host:port", br)
		}
	}
	if !validTopic(k.Topic) {
		b.errorf("topic", "%q: want 1-249 of [a-zA-Z0-9._-]", k.Topic)
	}
	if !validTopic(k.DeadLetterTopic) || k.DeadLetterTopic == k.Topic {
		b.errorf("dead_letter_topic", "%q: want 1-249 of [a-zA-Z0-9._-], not the alert topic", k.DeadLetterTopic)
	}
	if k.Partitions < 1 || k.Partitions > 10000 {
		b.errorf("partitions", "want 1-10000, got %d", k.Partitions)
	}
	if k.ReplicationFactor < 1 || k.ReplicationFactor > 32 {
		b.errorf("replication_factor", "want 1-32, got %d", k.ReplicationFactor)
	}
	if k.ProduceTimeout <= 0 {
		b.errorf("produce_timeout", "must be positive")
	}
	if k.SessionTimeout < time.Second || k.SessionTimeout > 30*time.Minute {
		b.errorf("session_timeout", "want 1s-30m (the brokers' group.min/max.session.timeout.ms also apply), got %s", k.SessionTimeout)
	}
	if b.has("tls") {
		t := b.sub("tls")
		c := tlsconfig.Client{
			CAFile:             t.str("ca_file", ""),
			CertFile:           t.str("cert_file", ""),
			KeyFile:            t.str("key_file", ""),
			ServerName:         t.str("server_name", ""),
			InsecureSkipVerify: t.boolean("insecure_skip_verify", false),
		}
		if t.boolean("enabled", true) {
			k.TLS = &c
		}
		if (c.CertFile == "") != (c.KeyFile == "") {
			t.errorf("cert_file", "cert_file and key_file must be set together")
		}
		t.finish()
	}
	if b.has("sasl") {
		s := b.sub("sasl")
		k.SASL = KafkaSASL{
			Mechanism: strings.ToLower(s.str("mechanism", "")),
			Username:  s.str("username", ""),
			Password:  s.secret("password"),
		}
		switch k.SASL.Mechanism {
		case "plain", "scram-sha-256", "scram-sha-512":
			if k.SASL.Username == "" {
				s.errorf("username", "is required with sasl.mechanism %s", k.SASL.Mechanism)
			}
		default:
			s.errorf("mechanism", "want plain, scram-sha-256 or scram-sha-512, got %q", k.SASL.Mechanism)
		}
		s.finish()
	}
	b.finish()
	return k
}

func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
