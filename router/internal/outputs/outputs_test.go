package outputs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/output/dedup"
	"github.com/harrier-security/harrier/router/internal/output/elasticsearch"
	"github.com/harrier-security/harrier/router/internal/output/file"
	"github.com/harrier-security/harrier/router/internal/output/kafka"
	"github.com/harrier-security/harrier/router/internal/output/stdout"
	"github.com/harrier-security/harrier/router/internal/output/webhook"
)

func load(t *testing.T, yaml string) *config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every kind the configuration accepts builds into its integration.
func TestBuildEveryKind(t *testing.T) {
	dir := t.TempDir()
	c := load(t, `
data_dir: `+dir+`
outputs:
  webhook: {soc: {address: "http://127.0.0.1:1/hook", format: ndjson}}
  file: {audit: {path: `+filepath.Join(dir, "a.jsonl")+`}}
  stdout: {json: {format: json}}
  elasticsearch: {es: {hostport: "http://127.0.0.1:1", index: falco, skiptemplate: true}}
  kafka: {k: {hostport: "127.0.0.1:1", topic: falco}}
`)
	var buf bytes.Buffer
	f := Factory{Stdout: &buf}
	want := map[string]string{
		"webhook.soc": "*webhook.Output", "file.audit": "*file.Output", "stdout.json": "*stdout.Output",
		"elasticsearch.es": "*elasticsearch.Output", "kafka.k": "*kafka.Output",
	}
	specs := f.Specs(c.Outputs)
	if len(specs) != len(want) {
		t.Fatalf("%d specs, want %d", len(specs), len(want))
	}
	for i, s := range specs {
		o := c.Outputs[i]
		if s.Name != o.Name || s.BatchSize != o.BatchSize || s.Fingerprint != o.Fingerprint ||
			s.Backoff.Initial != o.Backoff.Initial || s.Backoff.Max != o.Backoff.Max || s.Filter == nil {
			t.Errorf("spec %+v does not carry output %+v", s, o)
		}
		out, err := s.Build()
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		inner := out
		if d, ok := out.(*dedup.Output); ok {
			inner = d.Unwrap()
		}
		if _, ok := out.(*dedup.Output); ok != (strings.HasPrefix(s.Name, "file") || strings.HasPrefix(s.Name, "webhook") || strings.HasPrefix(s.Name, "stdout")) {
			t.Errorf("%s: deduplicating %v; want file, webhook and stdout only", s.Name, ok)
		}
		var typ string
		switch inner.(type) {
		case *webhook.Output:
			typ = "*webhook.Output"
		case *file.Output:
			typ = "*file.Output"
		case *stdout.Output:
			typ = "*stdout.Output"
		case *elasticsearch.Output:
			typ = "*elasticsearch.Output"
		case *kafka.Output:
			typ = "*kafka.Output"
		}
		if typ != want[s.Name] || out.Name() != s.Name {
			t.Errorf("%s built %T named %q", s.Name, out, out.Name())
		}
		if s.Name == "stdout.json" {
			if err := out.Deliver(context.Background(), []*harrierv1.Alert{{Id: "x", Rule: "r"}}); err != nil {
				t.Fatal(err)
			}
		}
		out.Close()
	}
	if !strings.Contains(buf.String(), `"rule":"r"`) {
		t.Fatalf("stdout output did not write to the factory's writer: %q", buf.String())
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		o    config.Output
		want string
	}{
		{config.Output{Kind: "pigeon", Name: "pigeon", Settings: 42}, "unknown kind"},
		{config.Output{Kind: "webhook", Name: "webhook", Settings: config.Webhook{Address: "ftp://x"}}, "address"},
		{config.Output{Kind: "elasticsearch", Name: "es", Settings: config.Elasticsearch{HostPort: "http://x", Index: "UPPER"}}, "index"},
		{config.Output{Kind: "kafka", Name: "k", Settings: config.Kafka{HostPort: "x:1"}}, "topic"},
	}
	for _, tt := range tests {
		out, err := Factory{}.Build(tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) || out != nil {
			t.Errorf("%s: got %v, %v; want a nil output and an error mentioning %q", tt.o.Name, out, err, tt.want)
		}
	}
}
