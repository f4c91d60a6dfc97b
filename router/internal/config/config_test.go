package config

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func find(t *testing.T, c *Config, name string) Output {
	t.Helper()
	for _, o := range c.Outputs {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no output %q in %v", name, c.Summaries())
	return Output{}
}

func TestEmbeddedDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !c.DefaultOutputs || len(c.Outputs) != 2 || c.Outputs[0].Name != "file" || c.Outputs[1].Name != "stdout" {
		t.Fatalf("defaults: %+v", c.Summaries())
	}
	if c.GRPC.Address != DefaultGRPCAddress || c.HTTP.Address != "127.0.0.1:2801" || c.Journal.MaxBytes != 2<<30 {
		t.Fatalf("listeners/journal defaults: %+v %+v", c.GRPC, c.Journal)
	}
	if c.HTTP.Ack != AckWritten || c.GRPC.Ack != AckWritten || c.Journal.FsyncInterval != 50*time.Millisecond {
		t.Fatalf("ack defaults: http %q grpc %q fsync_interval %v", c.HTTP.Ack, c.GRPC.Ack, c.Journal.FsyncInterval)
	}
}

func TestGCSettings(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.GC.Percent != DefaultGCPercent || c.GC.Headroom != DefaultGCHeadroom || c.GC.MemoryLimit != 0 {
		t.Fatalf("defaults: %+v", c.GC)
	}
	if c, err = Load(write(t, "gc: {percent: 200, headroom: 64MiB, memory_limit: 1GiB}\n")); err != nil || c.GC.Percent != 200 || c.GC.Headroom != 64<<20 || c.GC.MemoryLimit != 1<<30 {
		t.Fatalf("file: %v %+v", err, c.GC)
	}
	t.Setenv("HARRIER_ROUTER_GC_HEADROOM", "256MiB")
	if c, err = Load(""); err != nil || c.GC.Headroom != 256<<20 || c.GC.Percent != DefaultGCPercent {
		t.Fatalf("environment override: %v %+v", err, c.GC)
	}
}

func TestAckPolicyPerListener(t *testing.T) {
	c, err := Load(write(t, "http: {ack: fsync}\ngrpc: {ack: Written}\njournal: {fsync_interval: 10ms}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Ack != AckFsync || c.GRPC.Ack != AckWritten || c.Journal.FsyncInterval != 10*time.Millisecond {
		t.Fatalf("http %q grpc %q fsync_interval %v", c.HTTP.Ack, c.GRPC.Ack, c.Journal.FsyncInterval)
	}
	t.Setenv("HARRIER_ROUTER_GRPC_ACK", "fsync")
	if c, err = Load(""); err != nil || c.GRPC.Ack != AckFsync || c.HTTP.Ack != AckWritten {
		t.Fatalf("environment override: %v %+v", err, c)
	}
}

func TestSidekickAndNamedOutputs(t *testing.T) {
	p := write(t, `
data_dir: /tmp/h
webhook:
  address: http://127.0.0.1:9/hook
  minimumpriority: warning
  customheaders:
    X-Team: soc
  checkcert: false
outputs:
  webhook:
    pager:
      address: https://pager.example/alerts
      minimumpriority: critical
      format: ndjson
      timeout: 2s
      filter:
        sources: [syscall]
        tags: [container, shell]
  file:
    audit:
      path: /tmp/h/audit.jsonl
      filter: {rules: ["Terminal shell in container"]}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Outputs) != 3 || c.DefaultOutputs {
		t.Fatalf("outputs %+v", c.Summaries())
	}
	w := find(t, c, "webhook")
	ws := w.Settings.(Webhook)
	if ws.Address != "http://127.0.0.1:9/hook" || ws.CustomHeaders["x-team"] != "soc" || !ws.TLS.InsecureSkipVerify ||
		w.Filter.GetMinPriority() != harrierv1.Priority_PRIORITY_WARNING {
		t.Fatalf("sidekick webhook: %+v %v", ws, w.Filter)
	}
	pg := find(t, c, "webhook.pager")
	ps := pg.Settings.(Webhook)
	if ps.Format != WebhookNDJSON || ps.Timeout != 2*time.Second || ps.TLS.InsecureSkipVerify ||
		pg.Filter.GetMinPriority() != harrierv1.Priority_PRIORITY_CRITICAL || len(pg.Filter.GetTags()) != 2 {
		t.Fatalf("named webhook: %+v %v", ps, pg.Filter)
	}
	if fs := find(t, c, "file.audit").Settings.(File); fs.Path != "/tmp/h/audit.jsonl" {
		t.Fatalf("file: %+v", fs)
	}
	if w.Fingerprint == pg.Fingerprint || w.Fingerprint == "" {
		t.Fatal("fingerprints must differ")
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"webhook:\n  address: http://x\n  minimumpriority: loud\n", "webhook.minimumpriority"},
		{"outputs:\n  webhook:\n    soc:\n      adress: http://x\n", "outputs.webhook.soc.adress: unknown key"},
		{"outputs:\n  webhook:\n    soc:\n      address: ftp://x\n", "outputs.webhook.soc.address"},
		{"outputs:\n  pigeon:\n    a: {x: 1}\n", "outputs.pigeon: unknown output kind"},
		{"outputs:\n  webhook:\n    Bad Name:\n      address: http://x\n", "outputs.webhook.bad name"},
		{"journal:\n  max_bytes: lots\n", "journal.max_bytes"},
		{"journal:\n  fsync_interval: 0s\n", "journal.fsync_interval"},
		{"http:\n  ack: sometimes\n", `http.ack: want written or fsync, got "sometimes"`},
		{"grpc:\n  ack: 1\n", "grpc.ack"},
		{"grpc:\n  max_concurrent_streams: 0\n", "grpc.max_concurrent_streams: must be at least 1"},
		{"grpc:\n  tls:\n    cert_file: /x\n", "grpc.tls.cert_file"},
		{"grpc:\n  ingest_tokens: [short]\n", "grpc.ingest_tokens"},
		{"grpc:\n  ingest_tokens: [same-token-0123456789]\n  admin_tokens: [same-token-0123456789]\n", "grpc.admin_tokens: an admin token must not also be an ingest token"},
		{"shutdown_timeout: soon\n", "shutdown_timeout"},
		{"gc:\n  percent: 0\n", "gc.percent: must be at least 1"},
		{"gc:\n  memory_limit: plenty\n", "gc.memory_limit"},
		{"gc:\n  headroom: -1\n", "gc.headroom"},
		{"gc:\n  pace: 1\n", "gc.pace: unknown key"},
		{"typo_key: 1\n", "typo_key: unknown key"},
		{"kafka:\n  hostport: 127.0.0.1:9092\n", "kafka.topic: is required"},
		{"outputs:\n  file:\n    a:\n      sync: true\n", "outputs.file.a.path"},
	}
	for _, tt := range tests {
		_, err := Load(write(t, tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to mention %q", tt.yaml, err, tt.want)
		}
	}
}

func TestEnvironmentOverridesAndSecretFiles(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "es-pass")
	os.WriteFile(secret, []byte("s3cr3t-pass\n"), 0o600)
	p := write(t, `
outputs:
  webhook:
    soc:
      address: http://127.0.0.1:1/a
elasticsearch:
  hostport: http://127.0.0.1:9200
  username: elastic
  password_file: `+secret+`
`)
	t.Setenv("HARRIER_ROUTER_GRPC_ADDRESS", "127.0.0.1:9999")
	t.Setenv("HARRIER_ROUTER_OUTPUTS_WEBHOOK_SOC_ADDRESS", "http://127.0.0.1:2/b")
	t.Setenv("HARRIER_ROUTER_WEBHOOK_ADDRESS", "http://127.0.0.1:3/c")
	t.Setenv("HARRIER_ROUTER_WEBHOOK_CUSTOMHEADERS", "Authorization:Bearer abc,X-A:1")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPC.Address != "127.0.0.1:9999" {
		t.Errorf("grpc.address = %q", c.GRPC.Address)
	}
	if a := find(t, c, "webhook.soc").Settings.(Webhook).Address; a != "http://127.0.0.1:2/b" {
		t.Errorf("named override: %q", a)
	}
	wh := find(t, c, "webhook").Settings.(Webhook)
	if wh.Address != "http://127.0.0.1:3/c" || wh.CustomHeaders["Authorization"] != "Bearer abc" {
		t.Errorf("sidekick env webhook: %+v", wh)
	}
	es := find(t, c, "elasticsearch")
	if esPassword(es) != "s3cr3t-pass" {
		t.Errorf("password_file not read")
	}
	// Nothing secret reaches the logs.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	for _, s := range []string{"s3cr3t-pass", "Bearer abc"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log line leaks %q: %s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "webhook.soc") {
		t.Errorf("log line lacks outputs: %s", buf.String())
	}
}

// A falcosidekick configuration's listenaddress, listenport and debug keep
// their meaning: the address of the HTTP server Falco posts to, and debug
// logging.
func TestSidekickListenAndDebug(t *testing.T) {
	_, defPort, _ := net.SplitHostPort(DefaultHTTPAddress)
	defHost, _, _ := net.SplitHostPort(DefaultHTTPAddress)
	for _, tc := range []struct {
		name, file  string
		addr, level string
		err         string
	}{
		{"both", "listenaddress: 127.0.0.1\nlistenport: 2901\ndebug: true\n", "127.0.0.1:2901", "debug", ""},
		{"port only", "listenport: 2902\n", net.JoinHostPort(defHost, "2902"), "info", ""},
		{"address only", "listenaddress: 10.0.0.5\n", "10.0.0.5:" + defPort, "info", ""},
		{"all interfaces", "listenaddress: \"\"\nlistenport: 2801\n", ":2801", "info", ""},
		{"debug false", "debug: false\nlog: {level: warn}\n", DefaultHTTPAddress, "warn", ""},
		{"agrees with http.address", "listenport: 2903\nhttp: {address: \"" + net.JoinHostPort(defHost, "2903") + "\"}\n", net.JoinHostPort(defHost, "2903"), "info", ""},
		{"disagrees with http.address", "listenport: 2904\nhttp: {address: \"127.0.0.1:2905\"}\n", "", "", "http.address is 127.0.0.1:2905"},
		{"bad port", "listenport: 70000\n", "", "", "listenport: want a port number"},
		{"hint", "customfields: {env: prod}\n", "", "", "customfields: unknown key (falcosidekick's; in Harrier: the sensor's rule output fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(write(t, tc.file))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTP.Address != tc.addr || c.Log.Level != tc.level {
				t.Errorf("http.address %q log.level %q, want %q %q", c.HTTP.Address, c.Log.Level, tc.addr, tc.level)
			}
		})
	}
}

// TestTokensOnPlaintextPublicListenersAreRefused: tokens over a plaintext
// listener on every interface are refused unless explicitly allowed;
// loopback or TLS is fine.
func TestTokensOnPlaintextPublicListenersAreRefused(t *testing.T) {
	tests := []struct {
		name, yaml string
		refused    string
	}{
		{"grpc tokens on :2802", "grpc: {address: \":2802\", ingest_tokens: [tok-aaaaaaaa-aaaaaaaa]}", "grpc.address"},
		{"http token on 0.0.0.0", "http: {address: \"0.0.0.0:2801\", token: tok-bbbbbbbb-bbbbbbbb}", "http.address"},
		{"allowed explicitly", "insecure_allow_plaintext_tokens: true\ngrpc: {address: \":2802\", ingest_tokens: [tok-aaaaaaaa-aaaaaaaa]}", ""},
		{"loopback", "grpc: {address: \"127.0.0.1:2802\", client_tokens: [tok-aaaaaaaa-aaaaaaaa]}", ""},
		{"no tokens on :2802", "grpc: {address: \":2802\"}", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.yaml))
			if tc.refused == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "insecure_allow_plaintext_tokens") {
				t.Fatalf("want a refusal naming %s and the way out, got %v", tc.refused, err)
			}
		})
	}
}
