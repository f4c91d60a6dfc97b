package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// falcoYAML is Falco's own default falco.yaml in the shared test data,
// found by walking up from the package directory.
func falcoYAML(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "testdata", "falco", "config", "falco.yaml")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
				t.Fatalf("shared/testdata/falco/config/falco.yaml not found above %s", dir)
			}
			t.Skipf("shared/testdata/falco/config/falco.yaml not found above %s", dir)
		}
	}
}

// falcoWith is Falco's default file, unchanged but for its config_files
// entry, which points at a config.d holding the edits: what a user's
// /etc/falco/config.d does.
func falcoWith(t *testing.T, edits string) string {
	t.Helper()
	raw, err := os.ReadFile(falcoYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := filepath.Join(dir, "config.d")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "50-edits.yaml"), []byte(edits), 0o600); err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(raw), "  - /etc/falco/config.d\n", "  - "+d+"\n", 1)
	p := filepath.Join(dir, "falco.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFalcoDefaultFileLoadsUnchanged: Falco's shipped falco.yaml is a valid
// configuration with Falco's meaning and no warning (every key it sets is
// at a value Harrier honours or that changes nothing).
func TestFalcoDefaultFileLoadsUnchanged(t *testing.T) {
	c, err := Load(Source{File: falcoYAML(t), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Falco {
		t.Fatal("not recognised as a falco.yaml")
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings on Falco's default file: %q", c.Warnings)
	}
	want := []string{"/etc/falco/falco_rules.yaml", "/etc/falco/falco_rules.local.yaml", "/etc/falco/rules.d"}
	if !slices.Equal(c.Rules.Files, want) {
		t.Errorf("rules.files %q, want %q", c.Rules.Files, want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"priority", c.Rules.Priority, "debug"},
		{"rule_matching", c.Rules.RuleMatching, "first"},
		{"watch_config_files", c.Rules.Watch, true},
		{"stdout_output", c.Outputs.Stdout.Enabled, true},
		{"json_output", c.Outputs.Stdout.Format, "text"},
		{"syslog_output", c.Outputs.Syslog.Enabled, true},
		{"file_output", c.Outputs.File.Enabled, false},
		{"file_output.filename", c.Outputs.File.Path, "./events.txt"},
		{"http_output", c.Outputs.HTTP.Enabled, false},
		{"http_output.user_agent", c.Outputs.HTTP.UserAgent, "falcosecurity/falco"},
		{"http_output.keep_alive", c.Outputs.HTTP.KeepAlive, false},
		{"webserver.enabled", c.Sources.K8sAudit.Enabled, true},
		{"webserver.listen", c.Sources.K8sAudit.Listen, "0.0.0.0:8765"},
		{"webserver.k8s_healthz_endpoint", c.Sources.K8sAudit.HealthzPath, "/healthz"},
		{"webserver.prometheus_metrics_enabled", c.Sources.K8sAudit.Prometheus, false},
		{"webserver.ssl_enabled", c.Sources.K8sAudit.TLS.Enabled, false},
		{"engine.kind", c.Sources.Syscall.Enabled, true},
		{"metrics (no separate listener)", c.Metrics.Enabled, false},
		{"json_include_output_property", c.Outputs.JSON.Output, true},
		{"json_include_message_property", c.Outputs.JSON.Message, false},
		{"log_level", c.Log.Level, "info"},
		{"log_syslog", c.Log.Syslog, true},
		{"append_output", len(c.Rules.AppendOutput), 1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if !c.Rules.AppendOutput[0].SuggestedOutput {
		t.Error("append_output[0].suggested_output not read")
	}
}

// TestFalcoSeedEdits are the edits the project's users make to falco.yaml
// (webserver for the audit webhook, JSON to falcosidekick).
func TestFalcoSeedEdits(t *testing.T) {
	p := falcoWith(t, `
webserver:
  enabled: true
  listen_port: 18765
  k8s_audit_endpoint: /k8s_audit
  ssl_enabled: false
  ssl_certificate: /etc/falco/falco.pem
json_output: true
json_include_output_property: true
http_output:
  enabled: true
  url: "http://localhost:2801"
`)
	c, err := Load(Source{File: p, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources.K8sAudit.Listen != ":18765" && c.Sources.K8sAudit.Listen != "0.0.0.0:18765" {
		t.Errorf("listen %q", c.Sources.K8sAudit.Listen)
	}
	// config_files merge at the top level: the webserver block replaced
	// Falco's, so listen_address is Falco's default again.
	if c.Sources.K8sAudit.Path != "/k8s_audit" || c.Sources.K8sAudit.HealthzPath != "/healthz" {
		t.Errorf("paths %q %q", c.Sources.K8sAudit.Path, c.Sources.K8sAudit.HealthzPath)
	}
	if !c.Outputs.HTTP.Enabled || c.Outputs.HTTP.URL != "http://localhost:2801" || c.Outputs.HTTP.Format != "json" {
		t.Errorf("http %+v", c.Outputs.HTTP)
	}
	if c.Outputs.Stdout.Format != "json" || c.Outputs.File.Format != "json" || c.Outputs.Syslog.Format != "json" {
		t.Errorf("json_output did not switch every output: %+v", c.Outputs)
	}
}

func TestFalcoOverridesAndEnvironment(t *testing.T) {
	cases := []struct {
		name      string
		file      string // "" = Falco's default file
		env       []string
		overrides []string
		check     func(c *Config) string
	}{
		{name: "-o json_output", overrides: []string{"json_output=true"}, check: func(c *Config) string {
			return eq(c.Outputs.Stdout.Format, "json") + eq(c.Outputs.HTTP.Format, "json")
		}},
		{name: "env json_output", env: []string{"HARRIER_JSON_OUTPUT=true"}, check: func(c *Config) string {
			return eq(c.Outputs.Stdout.Format, "json")
		}},
		{name: "-o beats env", env: []string{"HARRIER_JSON_OUTPUT=true"}, overrides: []string{"json_output=false"}, check: func(c *Config) string {
			return eq(c.Outputs.Stdout.Format, "text")
		}},
		{name: "-o on a Harrier file", file: "outputs: {stdout: {enabled: true}}", overrides: []string{"json_output=true", "priority=WARNING"}, check: func(c *Config) string {
			return eq(c.Outputs.Stdout.Format, "json") + eq(c.Rules.Priority, "warning") + eq(c.Falco, false) +
				// Keys the override did not touch keep Harrier's defaults.
				eq(c.Metrics.Enabled, true) + eq(c.Outputs.File.Format, "json")
		}},
		{name: "-o nested key", overrides: []string{"webserver.listen_port=9999", "webserver.listen_address=127.0.0.1"}, check: func(c *Config) string {
			return eq(c.Sources.K8sAudit.Listen, "127.0.0.1:9999")
		}},
		{name: "env nested key", env: []string{"HARRIER_HTTP_OUTPUT_URL=http://r:2801/", "HARRIER_HTTP_OUTPUT_ENABLED=true"}, check: func(c *Config) string {
			return eq(c.Outputs.HTTP.URL, "http://r:2801/") + eq(c.Outputs.HTTP.Enabled, true)
		}},
		{name: "-o list append", overrides: []string{"rules_files[]=/srv/mine.yaml"}, check: func(c *Config) string {
			return eq(len(c.Rules.Files), 4) + eq(c.Rules.Files[len(c.Rules.Files)-1], "/srv/mine.yaml")
		}},
		{name: "-o list index", overrides: []string{"rules_files[0]=/srv/first.yaml"}, check: func(c *Config) string {
			return eq(c.Rules.Files[0], "/srv/first.yaml") + eq(len(c.Rules.Files), 3)
		}},
		{name: "-o whole list", overrides: []string{"rules_files=[/a.yaml, /b.yaml]"}, check: func(c *Config) string {
			return eq(strings.Join(c.Rules.Files, ","), "/a.yaml,/b.yaml")
		}},
		{name: "rules_file (old name)", file: "rules_file: [/old.yaml]\nstdout_output: {enabled: true}", check: func(c *Config) string {
			return eq(strings.Join(c.Rules.Files, ","), "/old.yaml")
		}},
		{name: "Harrier key beside Falco's wins", file: "json_output: false\noutputs: {stdout: {format: json}}", check: func(c *Config) string {
			return eq(c.Outputs.Stdout.Format, "json") + eq(c.Falco, true)
		}},
		{name: "log_level warning", overrides: []string{"log_level=warning"}, check: func(c *Config) string {
			return eq(c.Log.Level, "warn")
		}},
		{name: "ssl certificate is key and chain", overrides: []string{"webserver.ssl_enabled=true", "webserver.ssl_certificate=" + certsDir() + "/server.pem"}, check: func(c *Config) string {
			t := c.Sources.K8sAudit.TLS
			return eq(t.Enabled, true) + eq(t.CertFile, t.KeyFile)
		}},
		{name: "http mtls and CA", overrides: []string{"http_output.mtls=true", "http_output.client_cert=" + certsDir() + "/client.pem", "http_output.client_key=" + certsDir() + "/client.pem", "http_output.ca_cert=" + certsDir() + "/ca.pem", "http_output.enabled=true", "http_output.url=https://x/"}, check: func(c *Config) string {
			t := c.Outputs.HTTP.TLS
			return eq(t.Enabled, true) + eq(t.CAFile, certsDir()+"/ca.pem") + eq(t.CertFile, certsDir()+"/client.pem")
		}},
		{name: "prometheus on the webserver", overrides: []string{"metrics.enabled=true"}, env: []string{}, file: "webserver: {enabled: true, prometheus_metrics_enabled: true}\nmetrics: {interval: 1m}", check: func(c *Config) string {
			// metrics.enabled is Harrier's key name on -o; Falco's own
			// metrics.enabled comes from the file.
			return eq(c.Metrics.Enabled, true)
		}},
		{name: "prometheus from Falco's keys", file: "webserver: {enabled: true, prometheus_metrics_enabled: true}\nmetrics: {enabled: true, interval: 1m}", check: func(c *Config) string {
			return eq(c.Sources.K8sAudit.Prometheus, true) + eq(c.Metrics.Enabled, false)
		}},
		{name: "engine nodriver", overrides: []string{"engine.kind=nodriver"}, check: func(c *Config) string {
			return eq(c.Sources.Syscall.Enabled, false)
		}},
		{name: "outputs_queue capacity", overrides: []string{"outputs_queue.capacity=77"}, check: func(c *Config) string {
			return eq(c.Outputs.HTTP.Queue, 77)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := falcoYAML(t)
			if tc.file != "" {
				file = write(t, tc.file)
			}
			env := tc.env
			if env == nil {
				env = []string{}
			}
			c, err := Load(Source{File: file, Environ: env, Overrides: tc.overrides})
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func eq[T comparable](got, want T) string {
	if got != want {
		return "got " + strings.TrimSpace(strings.ReplaceAll(fmtAny(got), "\n", " ")) + ", want " + fmtAny(want) + "; "
	}
	return ""
}

func fmtAny(v any) string { return fmt.Sprint(v) }

// certsDir holds placeholder PEM files: loading checks only that they
// exist (the daemon reads them).
var certsDir = sync.OnceValue(func() string {
	d, err := os.MkdirTemp("", "harrier-config-certs-")
	if err != nil {
		panic(err)
	}
	for _, f := range []string{"server.pem", "client.pem", "ca.pem"} {
		_ = os.WriteFile(filepath.Join(d, f), nil, 0o600)
	}
	return d
})

// TestFalcoConfigFilesStrategies: config_files entries load after the main
// file in order, a directory's files by name, with Falco's append,
// override and add-only strategies at the top level.
func TestFalcoConfigFilesStrategies(t *testing.T) {
	dir := t.TempDir()
	wr := func(name, body string) string {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wr("d/20.yaml", "rules_files: [/two.yaml]\npriority: error\n")
	wr("d/10.yaml", "rules_files: [/one.yaml]\npriority: notice\n")
	over := wr("over.yaml", "rules_files: [/only.yaml]\n")
	addOnly := wr("addonly.yaml", "priority: debug\njson_output: true\n")
	main := wr("falco.yaml", "rules_files: [/main.yaml]\nconfig_files:\n  - "+filepath.Join(dir, "d")+"\n  - /nonexistent/config.d\n")
	c, err := Load(Source{File: main, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Rules.Files, ","); got != "/main.yaml,/one.yaml,/two.yaml" || c.Rules.Priority != "error" {
		t.Errorf("append: rules %s priority %s", got, c.Rules.Priority)
	}
	main = wr("falco2.yaml", "rules_files: [/main.yaml]\npriority: error\nconfig_files:\n  - {path: "+over+", strategy: override}\n  - {path: "+addOnly+", strategy: add-only}\n")
	c, err = Load(Source{File: main, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Rules.Files, ","); got != "/only.yaml" || c.Rules.Priority != "error" || c.Outputs.Stdout.Format != "json" {
		t.Errorf("override/add-only: rules %s priority %s format %s", got, c.Rules.Priority, c.Outputs.Stdout.Format)
	}
	main = wr("falco3.yaml", "config_files: [{path: "+over+", strategy: merge}]\n")
	if _, err := Load(Source{File: main, Environ: []string{}}); err == nil || !strings.Contains(err.Error(), "config_files[0].strategy") {
		t.Errorf("bad strategy: %v", err)
	}
}

// TestFalcoIgnoredKeysWarnOnce: a key Harrier deliberately ignores is one
// warning naming it, never an error; bad values of honoured keys are
// errors naming the key.
func TestFalcoIgnoredKeysWarnOnce(t *testing.T) {
	c, err := Load(Source{File: falcoYAML(t), Environ: []string{}, Overrides: []string{
		"capture.enabled=true", "base_syscalls.custom_set[]=openat", "load_plugins[]=cloudtrail", "no_such_key.x=1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"capture", "base_syscalls", "load_plugins", "no_such_key"} {
		n := 0
		for _, w := range c.Warnings {
			if strings.Contains(w, "key "+k+" ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings name %s: %q", n, k, c.Warnings)
		}
	}
	for _, bad := range []struct{ o, key string }{
		{"log_level=loud", "log_level"},
		{"webserver.listen_port=many", "webserver.listen_port"},
		{"json_output=perhaps", "json_output"},
		{"priority=severe", "rules.priority"},
		{"rule_matching=some", "rules.rule_matching"},
		{"rules_files[x]=a", "rules_files[x]"},
	} {
		_, err := Load(Source{File: falcoYAML(t), Environ: []string{}, Overrides: []string{bad.o}})
		if err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("-o %s: error %v does not name %s", bad.o, err, bad.key)
		}
	}
}

// TestConvertMeansTheSame: the converted configuration, loaded as
// Harrier's, is the configuration the falco.yaml loads to.
func TestConvertMeansTheSame(t *testing.T) {
	for _, file := range []string{falcoYAML(t), falcoWith(t, "json_output: true\nhttp_output: {enabled: true, url: 'http://r:2801/', compress_uploads: true}\nwebserver: {enabled: true, listen_port: 9765, k8s_audit_endpoint: /audit}\n")} {
		out, _, err := Convert(file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Load(Source{File: file, Environ: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Load(Source{File: write(t, string(out)), Environ: []string{}})
		if err != nil {
			t.Fatalf("converted configuration does not load: %v\n%s", err, out)
		}
		got.File, got.Falco, got.Warnings = want.File, want.Falco, want.Warnings
		if !reflect.DeepEqual(got, want) {
			t.Errorf("converted configuration differs:\n%s\ngot  %+v\nwant %+v", out, got, want)
		}
	}
}
