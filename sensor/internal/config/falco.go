package config

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Falco's falco.yaml is read as it is: its keys are translated into
// Harrier's (the table is in docs/falco-compatibility.md). A file is taken
// as Falco's when one of its top-level keys is Falco's only; Harrier's own
// keys may sit beside them and win within the same file.

// FalcoDefaultFile is where Falco keeps its configuration; the sensor reads
// it when neither -c nor DefaultFile gives one.
const FalcoDefaultFile = "/etc/falco/falco.yaml"

// falcoDefaults are Falco's own values for keys a falco.yaml leaves out
// (Falco's built-in defaults, which its shipped falco.yaml repeats).
func falcoDefaults() map[string]any {
	return map[string]any{
		"rules_files":                         []any{"/etc/falco/falco_rules.yaml"},
		"watch_config_files":                  true,
		"priority":                            "debug",
		"rule_matching":                       "first",
		"json_output":                         false,
		"json_include_output_property":        true,
		"json_include_message_property":       false,
		"json_include_output_fields_property": true,
		"json_include_tags_property":          true,
		"time_format_iso_8601":                false,
		"buffered_outputs":                    false,
		"outputs_queue":                       map[string]any{"capacity": 0},
		"append_output":                       []any{},
		"stdout_output":                       map[string]any{"enabled": true},
		"syslog_output":                       map[string]any{"enabled": true},
		"file_output":                         map[string]any{"enabled": false, "keep_alive": false, "filename": "./events.txt"},
		"http_output": map[string]any{
			"enabled": false, "url": "", "user_agent": "falcosecurity/falco", "insecure": false,
			"ca_cert": "", "ca_bundle": "", "ca_path": "/etc/ssl/certs", "mtls": false,
			"client_cert": "/etc/ssl/certs/client.crt", "client_key": "/etc/ssl/certs/client.key",
			"echo": false, "compress_uploads": false, "keep_alive": false, "max_consecutive_timeouts": 5,
		},
		"program_output": map[string]any{"enabled": false, "keep_alive": false, "program": ""},
		"webserver": map[string]any{
			"enabled": false, "threadiness": 0, "listen_port": 8765, "listen_address": "0.0.0.0",
			"k8s_healthz_endpoint": "/healthz", "k8s_audit_endpoint": "/k8s_audit",
			"prometheus_metrics_enabled": false, "ssl_enabled": false, "ssl_certificate": "/etc/falco/falco.pem",
		},
		"log_stderr": true,
		"log_syslog": true,
		"log_level":  "info",
		"metrics":    map[string]any{"enabled": false},
		"engine":     map[string]any{"kind": "modern_ebpf"},
	}
}

// falcoTopKeys are the top-level keys of falco.yaml across Falco releases.
// handled: translated; quiet: tunes Falco's internals, accepted without a
// word; the rest of a Falco file gets one warning per key.
var falcoHandled = []string{
	"config_files", "watch_config_files", "rules_files", "rules_file", "priority", "rule_matching",
	"json_output", "json_include_output_property", "json_include_message_property",
	"json_include_output_fields_property", "json_include_tags_property", "time_format_iso_8601",
	"buffered_outputs", "outputs_queue", "append_output", "stdout_output", "syslog_output", "file_output",
	"http_output", "program_output", "webserver", "log_stderr", "log_syslog", "log_level", "metrics",
	"engine", "base_syscalls", "capture", "load_plugins", "plugins", "buffer_format_base64", "grpc",
	"grpc_output", "syscall_event_drops", "outputs",
}

var falcoQuiet = []string{
	"plugins_hostinfo", "libs_logger", "output_timeout", "syscall_event_timeouts", "falco_libs",
	"modern_bpf", "syscall_buf_size_preset", "syscall_drop_failed_exit", "metadata_download",
	"container_engines", "watch_config_files", "stats_interval",
}

// harrierTop are Harrier's top-level keys. "outputs" and "metrics" are
// also Falco's: their sub-keys tell which is meant.
var harrierTop = []string{"hostname", "sensor_id", "log", "rules", "sources", "outputs", "aggregation", "metrics"}

// falcoOnlyTop reports whether a top-level key can only be Falco's.
func falcoOnlyTop(k string) bool {
	return !slices.Contains(harrierTop, k) && (slices.Contains(falcoHandled, k) || slices.Contains(falcoQuiet, k))
}

// splitFile separates a parsed file into Harrier's keys and Falco's. A file
// with no Falco-only key is Harrier's entirely (unknown keys stay errors).
func splitFile(m map[string]any) (harrier, falco map[string]any, isFalco bool) {
	harrier, falco = map[string]any{}, map[string]any{}
	for k := range m {
		if falcoOnlyTop(k) {
			isFalco = true
		}
	}
	if !isFalco {
		return m, falco, false
	}
	for k, v := range m {
		switch {
		case k == "outputs":
			// Falco's old rate limiter (outputs.rate, outputs.max_burst) or
			// Harrier's outputs.
			sub, _ := v.(map[string]any)
			h, f := map[string]any{}, map[string]any{}
			for sk, sv := range sub {
				if sk == "rate" || sk == "max_burst" {
					f[sk] = sv
				} else {
					h[sk] = sv
				}
			}
			if len(h) > 0 {
				harrier[k] = h
			}
			if len(f) > 0 {
				falco[k] = f
			}
		case k == "metrics":
			// Falco's metrics block, but Harrier's listener keys are Harrier's.
			sub, _ := v.(map[string]any)
			h, f := map[string]any{}, map[string]any{}
			for sk, sv := range sub {
				if sk == "listen" || sk == "tls" {
					h[sk] = sv
				} else {
					f[sk] = sv
				}
			}
			if len(h) > 0 {
				harrier[k] = h
			}
			if len(f) > 0 {
				falco[k] = f
			}
		case slices.Contains(harrierTop, k):
			harrier[k] = v
		default:
			falco[k] = v
		}
	}
	return harrier, falco, true
}

// mergeFalco merges src into dst at the top level with one of Falco's
// config_files strategies: append (lists appended, the rest replaced),
// override, add-only.
func mergeFalco(dst, src map[string]any, strategy string) {
	for k, v := range src {
		old, exists := dst[k]
		switch {
		case strategy == "add-only" && exists:
		case strategy == "append" && exists:
			ol, ok1 := old.([]any)
			nl, ok2 := v.([]any)
			if ok1 && ok2 {
				dst[k] = append(slices.Clone(ol), nl...)
			} else {
				dst[k] = v
			}
		default:
			dst[k] = v
		}
	}
}

// loadConfigFiles merges Falco's config_files (files, or directories whose
// files load in name order) into m, after the main file, as Falco does. A
// path that does not exist is skipped, as Falco skips it.
func loadConfigFiles(m map[string]any, main string) error {
	entries, _ := m["config_files"].([]any)
	for i, e := range entries {
		path, strategy := "", "append"
		switch e := e.(type) {
		case string:
			path = e
		case map[string]any:
			path, _ = e["path"].(string)
			if s, ok := e["strategy"].(string); ok {
				strategy = s
			}
		}
		key := fmt.Sprintf("config_files[%d]", i)
		if path == "" {
			return bad(key, "want a path or {path, strategy}")
		}
		if err := oneOf(key+".strategy", strategy, "append", "override", "add-only"); err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			continue
		}
		files := []string{path}
		if st.IsDir() {
			ents, err := os.ReadDir(path)
			if err != nil {
				return bad(key, "%v", err)
			}
			files = files[:0]
			for _, de := range ents {
				if !de.IsDir() {
					files = append(files, filepath.Join(path, de.Name()))
				}
			}
			sort.Strings(files)
		}
		for _, f := range files {
			if abs, _ := filepath.Abs(f); main != "" && abs == absPath(main) {
				continue // a config.d that holds the main file does not load it twice
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				return bad(key, "%v", err)
			}
			var sub map[string]any
			if err := yaml.Unmarshal(raw, &sub); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			delete(sub, "config_files") // Falco does not nest them
			mergeFalco(m, sub, strategy)
		}
	}
	return nil
}

func absPath(p string) string {
	a, _ := filepath.Abs(p)
	return a
}

// lookup reads a dotted path of a nested map.
func lookup(m map[string]any, path string) (any, bool) {
	cur := any(m)
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// falcoView reads Falco's keys with Falco's defaults under them, collecting
// type problems as errors that name the key.
type falcoView struct {
	m, def map[string]any
	errs   []error
}

func (f *falcoView) get(path string) any {
	if v, ok := lookup(f.m, path); ok && v != nil {
		return v
	}
	v, _ := lookup(f.def, path)
	return v
}

func (f *falcoView) set(path string) bool {
	v, ok := lookup(f.m, path)
	return ok && v != nil
}

func (f *falcoView) bool(path string) bool {
	switch v := f.get(path).(type) {
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(v)
		if err == nil {
			return b
		}
	case nil:
		return false
	}
	f.errs = append(f.errs, bad(path, "%v is not true or false", f.get(path)))
	return false
}

func (f *falcoView) str(path string) string {
	switch v := f.get(path).(type) {
	case string:
		return v
	case nil:
		return ""
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(v)
	}
	f.errs = append(f.errs, bad(path, "%v is not a string", f.get(path)))
	return ""
}

func (f *falcoView) int(path string) int {
	switch v := f.get(path).(type) {
	case int:
		return v
	case int64:
		return int(v)
	case uint64:
		return int(v)
	case float64:
		return int(v)
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n
		}
	case nil:
		return 0
	}
	f.errs = append(f.errs, bad(path, "%v is not a number", f.get(path)))
	return 0
}

func (f *falcoView) strings(path string) []string {
	switch v := f.get(path).(type) {
	case []any:
		out := make([]string, 0, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				f.errs = append(f.errs, bad(fmt.Sprintf("%s[%d]", path, i), "%v is not a string", x))
				continue
			}
			out = append(out, s)
		}
		return out
	case []string:
		return v
	case string:
		if strings.TrimSpace(v) == "" {
			return nil
		}
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	case nil:
		return nil
	}
	f.errs = append(f.errs, bad(path, "%v is not a list", f.get(path)))
	return nil
}

// falcoLogLevel maps Falco's syslog-style log levels onto slog's four.
func falcoLogLevel(l string) (string, bool) {
	switch strings.ToLower(l) {
	case "emergency", "alert", "critical", "error":
		return "error", true
	case "warning":
		return "warn", true
	case "notice", "info":
		return "info", true
	case "debug":
		return "debug", true
	}
	return "", false
}

// translateFalco turns Falco's keys (m, with Falco's defaults beneath) into
// Harrier keys, and lists the keys Harrier does not act on.
func translateFalco(m map[string]any) (out map[string]any, warnings []string, err error) {
	f := &falcoView{m: m, def: falcoDefaults()}
	out = map[string]any{}
	warn := func(key, format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf("falco.yaml key %s ignored: %s", key, fmt.Sprintf(format, args...)))
	}

	// Rules. rules_file is the old name; rules_files wins when both exist.
	files := "rules_files"
	if !f.set("rules_files") && f.set("rules_file") {
		files = "rules_file"
	}
	out["rules.files"] = f.strings(files)
	out["rules.priority"] = strings.ToLower(f.str("priority"))
	out["rules.rule_matching"] = f.str("rule_matching")
	out["rules.watch"] = f.bool("watch_config_files")
	if v := f.get("append_output"); v != nil {
		if _, ok := v.([]any); !ok {
			f.errs = append(f.errs, bad("append_output", "want a list"))
		} else {
			out["rules.append_output"] = v
		}
	}

	// Logs.
	lvl, ok := falcoLogLevel(f.str("log_level"))
	if !ok {
		f.errs = append(f.errs, bad("log_level", "%q is not one of emergency, alert, critical, error, warning, notice, info, debug", f.str("log_level")))
	}
	out["log.level"] = lvl
	out["log.stderr"] = f.bool("log_stderr")
	out["log.syslog"] = f.bool("log_syslog")

	// Outputs: json_output picks the format of every output.
	format := "text"
	if f.bool("json_output") {
		format = "json"
	}
	out["outputs.json.output"] = f.bool("json_include_output_property")
	out["outputs.json.message"] = f.bool("json_include_message_property")
	out["outputs.json.output_fields"] = f.bool("json_include_output_fields_property")
	out["outputs.json.tags"] = f.bool("json_include_tags_property")
	out["outputs.time_format_iso8601"] = f.bool("time_format_iso_8601")
	out["outputs.buffered"] = f.bool("buffered_outputs")
	out["outputs.stdout.enabled"] = f.bool("stdout_output.enabled")
	out["outputs.stdout.format"] = format
	out["outputs.syslog.enabled"] = f.bool("syslog_output.enabled")
	out["outputs.syslog.format"] = format
	out["outputs.file.enabled"] = f.bool("file_output.enabled")
	out["outputs.file.path"] = f.str("file_output.filename")
	out["outputs.file.keep_alive"] = f.bool("file_output.keep_alive")
	out["outputs.file.format"] = format
	out["outputs.program.enabled"] = f.bool("program_output.enabled")
	out["outputs.program.program"] = f.str("program_output.program")
	out["outputs.program.keep_alive"] = f.bool("program_output.keep_alive")
	out["outputs.program.format"] = format
	out["outputs.grpc.enabled"] = false

	out["outputs.http.enabled"] = f.bool("http_output.enabled")
	out["outputs.http.url"] = f.str("http_output.url")
	out["outputs.http.format"] = format
	out["outputs.http.user_agent"] = f.str("http_output.user_agent")
	out["outputs.http.compress"] = f.bool("http_output.compress_uploads")
	out["outputs.http.keep_alive"] = f.bool("http_output.keep_alive")
	out["outputs.http.echo"] = f.bool("http_output.echo")
	insecure := f.bool("http_output.insecure")
	mtls := f.bool("http_output.mtls")
	caFile := f.str("http_output.ca_bundle")
	if c := f.str("http_output.ca_cert"); c != "" {
		caFile = c
	}
	caPath := f.str("http_output.ca_path")
	if caPath == "/etc/ssl/certs" {
		caPath = "" // the system's roots, which Go reads anyway
	}
	out["outputs.http.tls.enabled"] = insecure || mtls || caFile != "" || caPath != ""
	out["outputs.http.tls.insecure_skip_verify"] = insecure
	out["outputs.http.tls.ca_file"] = caFile
	out["outputs.http.tls.ca_path"] = caPath
	if mtls {
		out["outputs.http.tls.cert_file"] = f.str("http_output.client_cert")
		out["outputs.http.tls.key_file"] = f.str("http_output.client_key")
	} else {
		out["outputs.http.tls.cert_file"] = ""
		out["outputs.http.tls.key_file"] = ""
	}
	_ = f.int("http_output.max_consecutive_timeouts") // accepted: Harrier's outputs never block evaluation
	if c := f.int("outputs_queue.capacity"); c > 0 {
		out["outputs.http.queue"] = c
	}

	// Webserver: the audit endpoint, /healthz and /metrics on one listener.
	out["sources.k8s_audit.enabled"] = f.bool("webserver.enabled")
	addr := f.str("webserver.listen_address")
	port := f.int("webserver.listen_port")
	out["sources.k8s_audit.listen"] = net.JoinHostPort(addr, strconv.Itoa(port))
	out["sources.k8s_audit.path"] = f.str("webserver.k8s_audit_endpoint")
	out["sources.k8s_audit.healthz_path"] = f.str("webserver.k8s_healthz_endpoint")
	ssl := f.bool("webserver.ssl_enabled")
	out["sources.k8s_audit.tls.enabled"] = ssl
	if ssl {
		// Falco's ssl_certificate is one PEM with the key and the chain.
		out["sources.k8s_audit.tls.cert_file"] = f.str("webserver.ssl_certificate")
		out["sources.k8s_audit.tls.key_file"] = f.str("webserver.ssl_certificate")
	}
	if n := f.int("webserver.threadiness"); n > 0 {
		out["sources.k8s_audit.workers"] = n
	}
	prom := f.bool("webserver.prometheus_metrics_enabled") && f.bool("metrics.enabled")
	out["sources.k8s_audit.prometheus"] = prom
	// Falco has no listener of its own for metrics: Harrier's stays off
	// unless the file asks for it with Harrier's metrics.listen.
	out["metrics.enabled"] = false
	if f.bool("metrics.enabled") && (f.bool("metrics.output_rule") || f.str("metrics.output_file") != "") {
		warn("metrics.output_rule/output_file", "Harrier's metrics are scraped from /metrics (webserver.prometheus_metrics_enabled), not written as periodic events")
	}

	// Engine: which syscall source runs.
	switch kind := f.str("engine.kind"); kind {
	case "modern_ebpf", "ebpf", "kmod", "":
		out["sources.syscall.enabled"] = true
	case "nodriver":
		out["sources.syscall.enabled"] = false
	case "replay":
		// Replaying engine.replay.capture_file is the -e flag's job.
		out["sources.syscall.enabled"] = false
	default:
		warn("engine.kind", "%q: Harrier captures with its own eBPF probe", kind)
		out["sources.syscall.enabled"] = true
	}

	// Keys Harrier does not act on: a warning only when they ask for
	// something (at Falco's defaults they change nothing).
	if f.bool("capture.enabled") {
		warn("capture", "Harrier does not write capture files on alerts")
	}
	if len(f.strings("base_syscalls.custom_set")) > 0 || f.bool("base_syscalls.all") || f.bool("base_syscalls.repair") {
		warn("base_syscalls", "Harrier's probe captures the syscalls its process table and rules need")
	}
	if f.bool("buffer_format_base64") {
		warn("buffer_format_base64", "buffers print as Falco's default (printable characters)")
	}
	for _, k := range []string{"grpc.enabled", "grpc_output.enabled"} {
		if f.bool(k) {
			warn(strings.TrimSuffix(k, ".enabled"), "Falco's gRPC API is replaced by the router stream (outputs.grpc)")
		}
	}
	if v, ok := lookup(m, "load_plugins"); ok {
		names, _ := v.([]any)
		for _, n := range names {
			switch n {
			case "k8saudit", "json", "container":
				// Built in: the audit source, json fields, container metadata.
			default:
				warn("load_plugins", "plugin %v: Harrier loads no plugins (k8saudit, json and container are built in)", n)
			}
		}
	}
	for _, a := range f.strings("syscall_event_drops.actions") {
		if a == "exit" {
			warn("syscall_event_drops.actions", "Harrier counts drops in metrics and logs them; it does not exit on drops")
		}
	}
	if f.int("outputs.rate") != 0 {
		warn("outputs.rate", "Harrier does not rate-limit outputs (see aggregation)")
	}
	for k := range m {
		if !slices.Contains(falcoHandled, k) && !slices.Contains(falcoQuiet, k) {
			warnings = append(warnings, fmt.Sprintf("falco.yaml key %s ignored: not a key Harrier knows", k))
		}
	}
	sort.Strings(warnings)
	return out, warnings, joinErrs(f.errs)
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// falcoLeafKeys are the dotted Falco keys that can be set from the
// environment: HARRIER_ + upper case with _ for dots (HARRIER_JSON_OUTPUT).
func falcoLeafKeys() []string {
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			keys = append(keys, prefix+k)
		}
	}
	d := falcoDefaults()
	d["rules_file"] = nil
	d["metrics"] = map[string]any{"enabled": false, "output_rule": false, "output_file": ""}
	walk("", d)
	slices.Sort(keys)
	return keys
}

// isFalcoKey reports whether a dotted -o/env key names a Falco setting.
func isFalcoKey(k string) bool {
	top, _, _ := strings.Cut(k, ".")
	top, _, _ = strings.Cut(top, "[")
	if slices.Contains(harrierTop, top) {
		if _, harrier := defaults[k]; harrier {
			return false
		}
		// metrics.interval, outputs.rate...: Falco's half of a shared key.
		sub, _, _ := strings.Cut(strings.TrimPrefix(k, top+"."), ".")
		switch top {
		case "outputs":
			return sub == "rate" || sub == "max_burst"
		case "metrics":
			return sub != "listen" && sub != "tls" && sub != "enabled" && sub != top
		}
		return false
	}
	return slices.Contains(falcoHandled, top) || slices.Contains(falcoQuiet, top)
}

// setFalcoOption applies one of Falco's -o settings to m: a dotted path,
// list items by index (key[0]=v) or appended (key[]=v, key[].sub=v), the
// value read as YAML as Falco reads it.
func setFalcoOption(m map[string]any, key, raw string) error {
	var val any
	if err := yaml.Unmarshal([]byte(raw), &val); err != nil {
		val = raw
	}
	if raw == "" {
		val = ""
	}
	parts := strings.Split(key, ".")
	var cur any = m
	for i, p := range parts {
		name, idx, hasIdx := strings.Cut(p, "[")
		last := i == len(parts)-1
		mm, ok := cur.(map[string]any)
		if !ok {
			return bad(key, "%s is not a mapping", strings.Join(parts[:i], "."))
		}
		if !hasIdx {
			if last {
				mm[name] = val
				return nil
			}
			next, ok := mm[name].(map[string]any)
			if !ok {
				next = map[string]any{}
				mm[name] = next
			}
			cur = next
			continue
		}
		idx = strings.TrimSuffix(idx, "]")
		list, _ := mm[name].([]any)
		var pos int
		if idx == "" {
			list = append(list, nil)
			pos = len(list) - 1
		} else {
			n, err := strconv.Atoi(idx)
			if err != nil || n < 0 {
				return bad(key, "bad list index %q", idx)
			}
			for len(list) <= n {
				list = append(list, nil)
			}
			pos = n
		}
		mm[name] = list
		if last {
			list[pos] = val
			return nil
		}
		next, ok := list[pos].(map[string]any)
		if !ok {
			next = map[string]any{}
			list[pos] = next
		}
		cur = next
	}
	return nil
}

// cloneDeep copies nested maps and lists so that later edits do not leak.
func cloneDeep(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, x := range v {
			c[k] = cloneDeep(x)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, x := range v {
			c[i] = cloneDeep(x)
		}
		return c
	}
	return v
}

// Convert reads a configuration file (typically Falco's falco.yaml, with
// its config_files) and returns the Harrier configuration that means the
// same, as YAML: the keys whose value differs from Harrier's defaults.
// Warnings name the Falco keys Harrier ignores.
func Convert(file string) ([]byte, []string, error) {
	// Load first: a file that does not load does not convert.
	c, err := Load(Source{File: file, Environ: []string{}})
	if err != nil {
		return nil, nil, err
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	harrier, falco, isFalco := splitFile(m)
	flat := map[string]any{}
	if isFalco {
		if err := loadConfigFiles(falco, file); err != nil {
			return nil, nil, err
		}
		out, _, err := translateFalco(falco)
		if err != nil {
			return nil, nil, err
		}
		maps.Copy(flat, out)
	}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(prefix+k+".", sub)
				continue
			}
			flat[prefix+k] = v
		}
	}
	walk("", harrier)
	nested := map[string]any{}
	for k, v := range flat {
		if d, ok := defaults[k]; ok && fmt.Sprint(d) == fmt.Sprint(v) {
			continue
		}
		if l, ok := v.([]any); ok && len(l) == 0 {
			if d, ok := defaults[k]; ok && fmt.Sprint(d) == "[]" {
				continue
			}
		}
		cur := nested
		parts := strings.Split(k, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Harrier sensor configuration converted from %s.\n", file)
	if len(nested) == 0 {
		b.WriteString("{}\n")
		return []byte(b.String()), c.Warnings, nil
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(nested); err != nil {
		return nil, nil, err
	}
	return []byte(b.String()), c.Warnings, nil
}
