package kafka

import (
	"os"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The example configuration shows each Kafka key at its default: a user who
// reads it learns what the router does when the key is left out.
func TestExampleConfigShowsDefaults(t *testing.T) {
	b, err := os.ReadFile("../../../harrier-router.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kafka struct {
			Key          string `yaml:"key"`
			RequiredAcks string `yaml:"requiredacks"`
			Compression  string `yaml:"compression"`
			Balancer     string `yaml:"balancer"`
			ClientID     string `yaml:"clientid"`
			Timeout      string `yaml:"timeout"`
			BatchTimeout string `yaml:"batchtimeout"`
		} `yaml:"kafka"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	def, err := Config{HostPort: "127.0.0.1:9092", Topic: "falco"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ex := doc.Kafka
	for _, c := range []struct{ key, example, def string }{
		{"key", ex.Key, def.Key},
		{"requiredacks", ex.RequiredAcks, def.RequiredAcks},
		{"compression", ex.Compression, def.Compression},
		{"balancer", ex.Balancer, def.Balancer},
		{"clientid", ex.ClientID, def.ClientID},
	} {
		if c.example != c.def {
			t.Errorf("kafka.%s: the example shows %q, the default is %q", c.key, c.example, c.def)
		}
	}
	for _, c := range []struct {
		key, example string
		def          time.Duration
	}{
		{"timeout", ex.Timeout, def.Timeout},
		{"batchtimeout", ex.BatchTimeout, def.BatchTimeout},
	} {
		d, err := time.ParseDuration(c.example)
		if err != nil {
			t.Errorf("kafka.%s: %v", c.key, err)
		} else if d != c.def {
			t.Errorf("kafka.%s: the example shows %v, the default is %v", c.key, d, c.def)
		}
	}
}
