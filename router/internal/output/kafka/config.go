package kafka

import (
	"fmt"
	"github.com/harrier-security/harrier/router/internal/alertformat"
	"strings"
	"time"

	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Config configures one Kafka output. Field comments name the
// falcosidekick key (kafka.<key>) each field takes; minimumpriority and the
// other filters belong to the delivery pipeline, not here.
type Config struct {
	// Name is the output's name, unique per router (default "kafka").
	Name string
	// HostPort is the bootstrap brokers, comma-separated host:port (hostport).
	HostPort string
	// Topic receives every alert (topic).
	Topic string
	// Key selects the message key: "hostname" (default), "rule",
	// "priority", "source", "uuid", "sensor_id", "none" (no key), or
	// "field:<output field>" (e.g. "field:k8s.ns.name") for an output
	// field's value. The key drives partitioning with the hash balancers,
	// so alerts of one host stay in order on one partition by default.
	Key string
	// RequiredAcks is "all" (default), "one" or "none" (requiredacks).
	RequiredAcks string
	// Compression is "none" (default), "gzip", "snappy", "lz4" or "zstd"
	// (compression).
	Compression string
	// Balancer picks the partition (balancer): "murmur2" (default; Java
	// clients' key hashing), "crc32" (librdkafka's), "hash" (FNV-1a),
	// "round_robin" or "least_bytes". Keyless messages are spread evenly.
	Balancer string
	// BatchSize caps the messages per produce request per partition
	// (default 1000). A Deliver call never waits to fill a batch.
	BatchSize int
	// BatchBytes caps a produce request per partition (default 1 MiB,
	// Kafka's default message.max.bytes); a larger alert is rejected
	// permanently.
	BatchBytes int64
	// BatchTimeout is how long a partial batch waits for more messages
	// (default 100µs). Deliver hands the writer a whole batch at once, so
	// waiting longer only adds latency: 5ms halved throughput.
	BatchTimeout time.Duration
	// Timeout bounds dialing, reads and writes of one produce request
	// (default 10s).
	Timeout time.Duration
	// ClientID names the client to the brokers (clientid; default
	// "harrier-router").
	ClientID string
	// AllowAutoTopicCreation asks the brokers to create a missing topic
	// (topiccreation).
	AllowAutoTopicCreation bool
	// TLS, when set, turns on TLS to the brokers (tls: true) with an
	// optional CA bundle, client certificate for mutual TLS (mutualtls) and
	// checkcert: false as InsecureSkipVerify. Nil means plaintext.
	TLS *tlsconfig.Client
	// SASL authenticates to the brokers (sasl, username, password).
	SASL SASL
	// Format is the message value: falco (default) JSON, ecs or ocsf
	// (package alertformat; docs/outputs-formats.md).
	Format string
}

// SASL configures SASL authentication. Mechanism is "plain",
// "scram-sha-256" or "scram-sha-512" (falcosidekick's PLAIN,
// SCRAM_SHA256, SCRAM_SHA512 are accepted too); empty means none.
type SASL struct {
	Mechanism string
	Username  string
	Password  string
}

const (
	defaultName         = "kafka"
	defaultBatchSize    = 1000
	defaultBatchBytes   = 1 << 20
	defaultBatchTimeout = 100 * time.Microsecond
	defaultTimeout      = 10 * time.Second
	defaultClientID     = "harrier-router"
)

// withDefaults validates c and fills its defaults. Errors name the key.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = defaultName
	}
	if err := alertformat.Check(c.Format); err != nil {
		return c, fmt.Errorf("%s: %w", c.Name, err)
	}
	if len(c.brokers()) == 0 {
		return c, fmt.Errorf("%s: hostport is required (comma-separated host:port)", c.Name)
	}
	for _, b := range c.brokers() {
		if i := strings.LastIndexByte(b, ':'); i <= 0 || i == len(b)-1 {
			return c, fmt.Errorf("%s: hostport %q: want host:port", c.Name, b)
		}
	}
	if c.Topic == "" {
		return c, fmt.Errorf("%s: topic is required", c.Name)
	}
	if c.Key == "" {
		c.Key = "hostname"
	}
	if _, err := keyFunc(c.Key); err != nil {
		return c, fmt.Errorf("%s: key: %w", c.Name, err)
	}
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_") }
	c.RequiredAcks = norm(c.RequiredAcks)
	switch c.RequiredAcks {
	case "":
		c.RequiredAcks = "all"
	case "all", "one", "none", "-1", "1", "0":
	default:
		return c, fmt.Errorf("%s: requiredacks %q: want all, one or none", c.Name, c.RequiredAcks)
	}
	c.Compression = norm(c.Compression)
	switch c.Compression {
	case "":
		c.Compression = "none"
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		return c, fmt.Errorf("%s: compression %q: want none, gzip, snappy, lz4 or zstd", c.Name, c.Compression)
	}
	c.Balancer = norm(c.Balancer)
	switch c.Balancer {
	case "":
		c.Balancer = "murmur2"
	case "murmur2", "crc32", "hash", "round_robin", "least_bytes":
	default:
		return c, fmt.Errorf("%s: balancer %q: want murmur2, crc32, hash, round_robin or least_bytes", c.Name, c.Balancer)
	}
	if c.BatchSize < 0 || c.BatchBytes < 0 || c.BatchTimeout < 0 || c.Timeout < 0 {
		return c, fmt.Errorf("%s: batch size, batch bytes, batch timeout and timeout must not be negative", c.Name)
	}
	if c.BatchSize == 0 {
		c.BatchSize = defaultBatchSize
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = defaultBatchBytes
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = defaultBatchTimeout
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.ClientID == "" {
		c.ClientID = defaultClientID
	}
	switch norm(c.SASL.Mechanism) {
	case "":
	case "plain", "scram_sha_256", "scram_sha256", "scram_sha_512", "scram_sha512":
		if c.SASL.Username == "" {
			return c, fmt.Errorf("%s: sasl %s needs a username", c.Name, c.SASL.Mechanism)
		}
	default:
		return c, fmt.Errorf("%s: sasl %q: want plain, scram-sha-256 or scram-sha-512", c.Name, c.SASL.Mechanism)
	}
	return c, nil
}

func (c Config) brokers() []string {
	var out []string
	for _, b := range strings.Split(c.HostPort, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
