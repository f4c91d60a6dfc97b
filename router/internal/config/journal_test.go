package config

import (
	"strings"
	"testing"
)

func TestJournalKafkaBackend(t *testing.T) {
	c, err := Load(write(t, `
journal:
  backend: kafka
  kafka:
    brokers: [127.0.0.1:9092, "k2:9092"]
    topic: alerts
    partitions: 6
    replication_factor: 1
    tls: {ca_file: /etc/ca.pem}
    sasl: {mechanism: SCRAM-SHA-512, username: router, password: s3cret}
`))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Journal.Kafka
	if c.Journal.Backend != BackendKafka || k == nil || len(k.Brokers) != 2 || k.Topic != "alerts" || k.Partitions != 6 ||
		k.ReplicationFactor != 1 || k.DeadLetterTopic != "alerts-deadletters" || k.TLS == nil || k.TLS.CAFile != "/etc/ca.pem" ||
		k.SASL.Mechanism != "scram-sha-512" || k.SASL.Password != "s3cret" {
		t.Fatalf("journal: %+v kafka %+v", c.Journal, k)
	}
	if d, _ := Load(""); d.Journal.Backend != BackendLocal || d.Journal.Kafka != nil {
		t.Fatalf("default backend: %+v", d.Journal)
	}
}

func TestJournalKafkaErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"journal: {backend: nats}", "journal.backend"},
		{"journal: {backend: kafka}", "journal.kafka.brokers"},
		{"journal: {backend: kafka, kafka: {brokers: [nohost]}}", "journal.kafka.brokers"},
		{"journal: {backend: kafka, kafka: {brokers: [a:1], partitions: 0}}", "journal.kafka.partitions"},
		{"journal: {backend: kafka, kafka: {brokers: [a:1], replication_factor: 0}}", "journal.kafka.replication_factor"},
		{"journal: {backend: kafka, kafka: {brokers: [a:1], topic: 'a b'}}", "journal.kafka.topic"},
		{"journal: {backend: kafka, kafka: {brokers: [a:1], sasl: {mechanism: gssapi}}}", "journal.kafka.sasl.mechanism"},
		{"journal: {backend: kafka, kafka: {brokers: [a:1], sasl: {mechanism: plain}}}", "journal.kafka.sasl.username"},
		{"journal: {backend: kafka, kafka: {brokers: [a:1], acks: one}}", "journal.kafka.acks"},
		{"journal: {kafka: {brokers: [a:1]}}", "journal.kafka"},
	} {
		_, err := Load(write(t, tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %s", tc.yaml, err, tc.want)
		}
	}
}
