package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/harrier-security/harrier/sensor/internal/syscall/container"
)

const example = "../../harrier-sensor.example.yaml"

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sensor.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsLoadWithoutFile(t *testing.T) {
	c, err := Load(Source{File: write(t, "{}"), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources.K8sAudit.Listen != "127.0.0.1:8765" || c.Rules.RuleMatching != "first" || !c.Outputs.Stdout.Enabled {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.Outputs.GRPC.Spool.SyncInterval != time.Second || c.Outputs.GRPC.Linger != 5*time.Millisecond {
		t.Fatalf("durations: %+v", c.Outputs.GRPC)
	}
	host, _ := os.Hostname()
	if c.Hostname != host || c.SensorID != host {
		t.Fatalf("hostname %q sensor_id %q, want %q", c.Hostname, c.SensorID, host)
	}
}

// TestExampleIsValidAndDocumentsEveryKey keeps the commented example and
// the defaults in step: the example loads, states every key with its
// default value, and names no key the sensor does not know.
func TestExampleIsValidAndDocumentsEveryKey(t *testing.T) {
	c, err := Load(Source{File: example, Environ: []string{}})
	if err != nil {
		t.Fatalf("the example config does not load: %v", err)
	}
	d, err := Load(Source{File: write(t, "{}"), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	c.File, d.File = "", ""
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("the example's values differ from the defaults:\nexample  %+v\ndefaults %+v", c, d)
	}
	raw, _ := os.ReadFile(example)
	var tree map[string]any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	inExample := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := prefix + k
			if sub, ok := v.(map[string]any); ok {
				walk(key+".", sub)
				continue
			}
			inExample[key] = true
		}
	}
	walk("", tree)
	for _, k := range Keys() {
		if !inExample[k] {
			t.Errorf("key %s is not in %s", k, example)
		}
	}
	for k := range inExample {
		if _, ok := defaults[k]; !ok {
			t.Errorf("%s names %s, which the sensor does not know", example, k)
		}
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	file := write(t, `
log: {level: warn}
outputs:
  grpc: {enabled: true, address: "file:1", batch_size: 10}
rules: {files: [a.yaml]}
`)
	env := []string{
		"HARRIER_OUTPUTS_GRPC_ADDRESS=env:2",
		"HARRIER_OUTPUTS_GRPC_BATCH_SIZE=20",
		"HARRIER_RULES_FILES=x.yaml, y/",
		"HARRIER_AGGREGATION_WINDOW=1m",
		"UNRELATED=1",
	}
	c, err := Load(Source{File: file, Environ: env, Overrides: []string{"outputs.grpc.address=flag:3", "log.level=debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Outputs.GRPC.Address != "flag:3" {
		t.Errorf("address %q: -o must win over the environment and the file", c.Outputs.GRPC.Address)
	}
	if c.Outputs.GRPC.BatchSize != 20 {
		t.Errorf("batch_size %d: the environment must win over the file", c.Outputs.GRPC.BatchSize)
	}
	if c.Log.Level != "debug" {
		t.Errorf("log.level %q", c.Log.Level)
	}
	if !reflect.DeepEqual(c.Rules.Files, []string{"x.yaml", "y/"}) {
		t.Errorf("rules.files from the environment: %q", c.Rules.Files)
	}
	if c.Aggregation.Window != time.Minute {
		t.Errorf("aggregation.window %v", c.Aggregation.Window)
	}
}

func TestStructuredKeys(t *testing.T) {
	c, err := Load(Source{File: write(t, `
rules:
  select:
    - disable: {tag: network}
    - enable: {rule: "Terminal shell*"}
aggregation:
  enabled: true
  rules:
    - rule: "Read sensitive*"
      fields: [proc.name, fd.name]
      window: 30s
`), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules.Select) != 2 || c.Rules.Select[0].Disable.Tag != "network" || c.Rules.Select[1].Enable.Rule != "Terminal shell*" {
		t.Fatalf("select: %+v", c.Rules.Select)
	}
	ar := c.Aggregation.Rules
	if len(ar) != 1 || ar[0].Window != 30*time.Second || !reflect.DeepEqual(ar[0].Fields, []string{"proc.name", "fd.name"}) {
		t.Fatalf("aggregation rules: %+v", ar)
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	certs := t.TempDir()
	cases := []struct {
		name, yaml string
		env        []string
		overrides  []string
		wantKey    string
	}{
		{name: "unknown key", yaml: "outputs: {stdout: {colour: red}}", wantKey: "colour"},
		{name: "unknown top-level key", yaml: "sensorid: x", wantKey: "sensorid"},
		{name: "bad enum", yaml: "outputs: {stdout: {format: xml}}", wantKey: "outputs.stdout.format"},
		{name: "bad log level", yaml: "log: {level: loud}", wantKey: "log.level"},
		{name: "bad priority", yaml: "rules: {priority: severe}", wantKey: "rules.priority"},
		{name: "bad matching", yaml: "rules: {rule_matching: some}", wantKey: "rules.rule_matching"},
		{name: "not a number", yaml: "outputs: {grpc: {batch_size: lots}}", wantKey: "batch_size"},
		{name: "bad duration", yaml: "outputs: {http: {timeout: soon}}", wantKey: "timeout"},
		{name: "bad address", yaml: "outputs: {grpc: {enabled: true, address: nowhere}}", wantKey: "outputs.grpc.address"},
		{name: "bad dns address", yaml: "outputs: {grpc: {enabled: true, address: 'dns:routers'}}", wantKey: "outputs.grpc.address"},
		{name: "bad address in list", yaml: "outputs: {grpc: {enabled: true, addresses: [a:1, nowhere]}}", wantKey: "outputs.grpc.addresses"},
		{name: "bad listen", yaml: "sources: {k8s_audit: {listen: 8765}}", wantKey: "sources.k8s_audit.listen"},
		{name: "bad url", yaml: "outputs: {http: {enabled: true, url: 'ftp://x'}}", wantKey: "outputs.http.url"},
		{name: "bad http batch", yaml: "outputs: {http: {enabled: true, url: 'http://x', batch: lines}}", wantKey: "outputs.http.batch"},
		{name: "text http batch", yaml: "outputs: {http: {enabled: true, url: 'http://x', batch: ndjson, format: text}}", wantKey: "outputs.http.batch"},
		{name: "http concurrency", yaml: "outputs: {http: {enabled: true, url: 'http://x', concurrency: 0}}", wantKey: "outputs.http.concurrency"},
		{name: "tls without cert", yaml: "sources: {k8s_audit: {tls: {enabled: true}}}", wantKey: "sources.k8s_audit.tls"},
		{name: "missing cert file", yaml: "metrics: {tls: {enabled: true, cert_file: " + certs + "/nope.pem, key_file: " + certs + "/nope.key}}", wantKey: "metrics.tls.cert_file"},
		{name: "token without tls", yaml: "outputs: {grpc: {enabled: true, token: abc}}", wantKey: "outputs.grpc.token"},
		{name: "token and token_file", yaml: "outputs: {grpc: {enabled: true, token: a, token_file: /etc/hostname}}", wantKey: "outputs.grpc.token_file"},
		{name: "ring buffer", yaml: "sources: {syscall: {ring_buffer_bytes: 1000}}", wantKey: "sources.syscall.ring_buffer_bytes"},
		{name: "no outputs", yaml: "outputs: {stdout: {enabled: false}}", wantKey: "outputs"},
		{name: "no sources", yaml: "sources: {syscall: {enabled: false}, k8s_audit: {enabled: false}}", wantKey: "sources"},
		{name: "select both", yaml: "rules: {select: [{enable: {rule: a}, disable: {rule: b}}]}", wantKey: "rules.select[0]"},
		{name: "select neither", yaml: "rules: {select: [{enable: {}}]}", wantKey: "rules.select[0]"},
		{name: "spool too small", yaml: "outputs: {grpc: {enabled: true, spool: {max_bytes: 10}}}", wantKey: "outputs.grpc.spool.max_bytes"},
		{name: "env bad value", env: []string{"HARRIER_OUTPUTS_GRPC_WINDOW=wide"}, wantKey: "window"},
		{name: "-o unknown key", overrides: []string{"outputs.grpc.adress=x:1"}, wantKey: "outputs.grpc.adress"},
		{name: "-o without =", overrides: []string{"log.level"}, wantKey: "log.level"},
		{name: "yaml syntax", yaml: "log: [", wantKey: "sensor.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := c.yaml
			if y == "" {
				y = "{}"
			}
			env := c.env
			if env == nil {
				env = []string{}
			}
			_, err := Load(Source{File: write(t, y), Environ: env, Overrides: c.overrides})
			if err == nil {
				t.Fatal("invalid config accepted")
			}
			if !strings.Contains(err.Error(), c.wantKey) {
				t.Fatalf("error %q does not name %q", err, c.wantKey)
			}
		})
	}
}

func TestMissingFileIsAnError(t *testing.T) {
	if _, err := Load(Source{File: "/nonexistent/sensor.yaml", Environ: []string{}}); err == nil {
		t.Fatal("missing config file accepted")
	}
}

func TestTokenFile(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(tok, []byte("  s3cret\n"), 0o600)
	c, err := Load(Source{File: write(t, "sources: {k8s_audit: {token_file: "+tok+"}}"), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources.K8sAudit.Token != "s3cret" {
		t.Fatalf("token %q", c.Sources.K8sAudit.Token)
	}
}

func TestStructuredKeysFromEnvironmentAndFlags(t *testing.T) {
	c, err := Load(Source{
		File:      write(t, "{}"),
		Environ:   []string{`HARRIER_AGGREGATION_RULES=[{rule: "Read*", fields: [proc.name], window: 5s}]`},
		Overrides: []string{"rules.select=[{disable: {tag: network}}, {enable: {rule: 'Terminal*'}}]"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules.Select) != 2 || c.Rules.Select[0].Disable.Tag != "network" || c.Rules.Select[1].Enable.Rule != "Terminal*" {
		t.Fatalf("rules.select from -o: %+v", c.Rules.Select)
	}
	if ar := c.Aggregation.Rules; len(ar) != 1 || ar[0].Rule != "Read*" || ar[0].Window != 5*time.Second || ar[0].Fields[0] != "proc.name" {
		t.Fatalf("aggregation.rules from the environment: %+v", c.Aggregation.Rules)
	}
	if _, err := Load(Source{File: write(t, "{}"), Environ: []string{}, Overrides: []string{"rules.select=[{enable: {rule: x}"}}); err == nil || !strings.Contains(err.Error(), "rules.select") {
		t.Fatalf("bad inline YAML: %v", err)
	}
}

// The sensor's defaults are the container runtimes' usual places.
func TestRuntimePathDefaults(t *testing.T) {
	c, err := Load(Source{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	want := container.DefaultPaths()
	if got := c.Sources.Syscall; !slices.Equal(got.CRISockets, want.CRISockets) || got.DockerRoot != want.DockerRoot {
		t.Errorf("defaults: cri_sockets %v docker_root %q, want %v %q", got.CRISockets, got.DockerRoot, want.CRISockets, want.DockerRoot)
	}
	c, err = Load(Source{Environ: []string{"HARRIER_SOURCES_SYSCALL_CRI_SOCKETS=/host/run/crio/crio.sock,/host/run/containerd/containerd.sock"},
		Overrides: []string{"sources.syscall.docker_root="}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources.Syscall; !slices.Equal(got.CRISockets, []string{"/host/run/crio/crio.sock", "/host/run/containerd/containerd.sock"}) || got.DockerRoot != "" {
		t.Errorf("set: cri_sockets %v docker_root %q", got.CRISockets, got.DockerRoot)
	}
}

func TestSeveralRouters(t *testing.T) {
	for _, y := range []string{
		"outputs: {grpc: {enabled: true, address: 'dns:///harrier-router-headless.harrier.svc:2802'}}",
		"outputs: {grpc: {enabled: true, addresses: [r1:2802, r2:2802, r3:2802]}}",
	} {
		c, err := Load(Source{File: write(t, y), Environ: []string{}})
		if err != nil {
			t.Fatalf("%s: %v", y, err)
		}
		if g := c.Outputs.GRPC; g.Address == "" || (strings.Contains(y, "addresses") && len(g.Addresses) != 3) {
			t.Fatalf("%s: %+v", y, g)
		}
	}
	c, err := Load(Source{File: write(t, "{}"), Environ: []string{"HARRIER_OUTPUTS_GRPC_ADDRESSES=r1:1,r2:2"}})
	if err != nil || len(c.Outputs.GRPC.Addresses) != 2 {
		t.Fatalf("environment list: %v %v", c, err)
	}
}
