package kafka

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestConfigDefaultsAndErrors(t *testing.T) {
	ok := Config{HostPort: "127.0.0.1:9092", Topic: "falco"}
	got, err := ok.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "kafka" || got.Key != "hostname" || got.RequiredAcks != "all" || got.Compression != "none" ||
		got.Balancer != "murmur2" || got.BatchSize != 1000 || got.BatchBytes != 1<<20 || got.ClientID != "harrier-router" {
		t.Errorf("defaults: %+v", got)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // substring of the error naming the key
	}{
		{"no brokers", func(c *Config) { c.HostPort = " , " }, "hostport is required"},
		{"no port", func(c *Config) { c.HostPort = "kafka" }, `hostport "kafka"`},
		{"no topic", func(c *Config) { c.Topic = "" }, "topic is required"},
		{"bad key", func(c *Config) { c.Key = "colour" }, "key:"},
		{"empty field key", func(c *Config) { c.Key = "field:" }, "key:"},
		{"bad acks", func(c *Config) { c.RequiredAcks = "most" }, "requiredacks"},
		{"bad compression", func(c *Config) { c.Compression = "brotli" }, "compression"},
		{"bad balancer", func(c *Config) { c.Balancer = "random" }, "balancer"},
		{"negative batch", func(c *Config) { c.BatchSize = -1 }, "negative"},
		{"bad sasl", func(c *Config) { c.SASL.Mechanism = "GSSAPI" }, "sasl"},
		{"sasl without user", func(c *Config) { c.SASL.Mechanism = "PLAIN" }, "username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
	// falcosidekick's spellings are accepted.
	for _, c := range []Config{
		{HostPort: "a:1,b:2", Topic: "t", RequiredAcks: "ALL", Compression: "GZIP", Balancer: "round_robin", SASL: SASL{Mechanism: "SCRAM_SHA512", Username: "u"}},
		{HostPort: "a:1", Topic: "t", RequiredAcks: "NONE", Compression: "ZSTD", Balancer: "least_bytes", SASL: SASL{Mechanism: "scram-sha-256", Username: "u"}},
	} {
		if _, err := New(c); err != nil {
			t.Errorf("New(%+v): %v", c, err)
		}
	}
}

func TestKeyFunc(t *testing.T) {
	a := &harrierv1.Alert{
		Id: "u1", Rule: "Shell in container", Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall",
		Hostname: "node-1", SensorId: "s1", Time: timestamppb.Now(),
		OutputFields: map[string]*harrierv1.FieldValue{
			"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "prod"}},
			"proc.pid":    {Kind: &harrierv1.FieldValue_IntValue{IntValue: 42}},
		},
	}
	for spec, want := range map[string]string{
		"hostname": "node-1", "rule": "Shell in container", "priority": "Warning", "source": "syscall",
		"uuid": "u1", "sensor_id": "s1", "none": "", "field:k8s.ns.name": "prod", "field:proc.pid": "42", "field:missing": "",
	} {
		f, err := keyFunc(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got := string(f(a)); got != want {
			t.Errorf("key %s = %q, want %q", spec, got, want)
		}
	}
	if f, _ := keyFunc("hostname"); f(&harrierv1.Alert{}) != nil {
		t.Error("an empty hostname must give no key (spread evenly), not an empty one")
	}
}
