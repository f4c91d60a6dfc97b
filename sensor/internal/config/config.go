// Package config reads the sensor's configuration: a YAML file (default
// /etc/harrier/sensor.yaml), then HARRIER_* environment variables, then
// `-o key=value` overrides, in increasing precedence, read with spf13/viper.
// Every key has a default, so every key can be set from the environment
// (HARRIER_OUTPUTS_GRPC_ADDRESS for outputs.grpc.address). Unknown keys and
// bad values are errors that name the key.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// DefaultFile is where the sensor looks for its configuration.
const DefaultFile = "/etc/harrier/sensor.yaml"

// EnvPrefix prefixes environment overrides: HARRIER_LOG_LEVEL=debug.
const EnvPrefix = "HARRIER"

// Config is the sensor's whole configuration.
type Config struct {
	// Hostname goes into alerts (default: the host's name).
	Hostname string `mapstructure:"hostname"`
	// SensorID identifies the sensor to the router (default: Hostname).
	SensorID string `mapstructure:"sensor_id"`
	// ClusterName names the cluster the sensor runs in; it is stamped on
	// every alert (and is the field harrier.cluster_name).
	ClusterName string      `mapstructure:"cluster_name"`
	Log         Log         `mapstructure:"log"`
	Rules       Rules       `mapstructure:"rules"`
	Sources     Sources     `mapstructure:"sources"`
	Outputs     Outputs     `mapstructure:"outputs"`
	Aggregation Aggregation `mapstructure:"aggregation"`
	Metrics     Metrics     `mapstructure:"metrics"`

	// File is the file read ("" for none); Falco says whether it was a
	// falco.yaml. Warnings name the Falco keys Harrier ignores, for the
	// caller to log once each.
	File     string   `mapstructure:"-"`
	Falco    bool     `mapstructure:"-"`
	Warnings []string `mapstructure:"-"`
}

type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // text, json
	// Stderr and Syslog say where logs go (Falco's log_stderr, log_syslog).
	Stderr bool `mapstructure:"stderr"`
	Syslog bool `mapstructure:"syslog"`
}

type Rules struct {
	// Files are rules files and directories (their *.yaml, sorted), loaded
	// in order; later files change earlier ones. None: Harrier's default
	// rules, built into the binary.
	Files []string `mapstructure:"files"`
	// RuleMatching is Falco's rule_matching: first or all.
	RuleMatching string `mapstructure:"rule_matching"`
	// Priority is the minimum priority of the rules that run.
	Priority string `mapstructure:"priority"`
	// Select enables and disables rules by name (glob) or tag, in order.
	Select []Select `mapstructure:"select"`
	// Watch reloads the rules when a file changes (SIGHUP always does).
	Watch bool `mapstructure:"watch"`
	// Central opts in to the fleet ruleset the router sends (harrierctl
	// rules push): once one arrived it replaces Files. Off, the sensor keeps
	// its local rules whatever the router holds.
	Central bool `mapstructure:"central"`
	// CentralCache keeps the last central ruleset applied, so a restart
	// runs it even while the router is unreachable.
	CentralCache string `mapstructure:"central_cache"`
	// AppendOutput is Falco's append_output: text and fields added to the
	// output of the rules each entry matches.
	AppendOutput []AppendOutput `mapstructure:"append_output"`
	// ReloadMaxLoss is the largest share of enabled rules a reload may
	// remove (0.5: half); a reload leaving no enabled rule is refused
	// whatever it is. ReloadForce applies such reloads anyway.
	ReloadMaxLoss float64 `mapstructure:"reload_max_loss"`
	ReloadForce   bool    `mapstructure:"reload_force"`
}

// AppendOutput is one append_output entry, with Falco's keys.
type AppendOutput struct {
	Match struct {
		Source string   `mapstructure:"source"`
		Tags   []string `mapstructure:"tags"`
		Rule   string   `mapstructure:"rule"`
	} `mapstructure:"match"`
	ExtraOutput string `mapstructure:"extra_output"`
	// ExtraFields are field names, or one-key maps name: format.
	ExtraFields     []any `mapstructure:"extra_fields"`
	SuggestedOutput bool  `mapstructure:"suggested_output"`
}

// ExtraField is one of AppendOutput's extra fields: a name and the format
// of its value (for a bare field name, the name and %name).
type ExtraField struct{ Name, Format string }

// Fields returns the extra fields in order, or an error naming the bad
// entry.
func (a AppendOutput) Fields() ([]ExtraField, error) {
	out := make([]ExtraField, 0, len(a.ExtraFields))
	for i, f := range a.ExtraFields {
		switch v := f.(type) {
		case string:
			if v == "" {
				return nil, fmt.Errorf("extra_fields[%d]: empty field name", i)
			}
			out = append(out, ExtraField{Name: v, Format: "%" + v})
		case map[string]any:
			if len(v) != 1 {
				return nil, fmt.Errorf("extra_fields[%d]: want one name: format pair, got %d", i, len(v))
			}
			for k, val := range v {
				s, ok := val.(string)
				if !ok || k == "" {
					return nil, fmt.Errorf("extra_fields[%d]: %s: want a string format", i, k)
				}
				out = append(out, ExtraField{Name: k, Format: s})
			}
		default:
			return nil, fmt.Errorf("extra_fields[%d]: want a field name or a name: format map, got %T", i, f)
		}
	}
	return out, nil
}

// Select is one selection step: exactly one of Enable/Disable, naming a
// rule (glob) or a tag.
type Select struct {
	Enable  *Match `mapstructure:"enable"`
	Disable *Match `mapstructure:"disable"`
}

type Match struct {
	Rule string `mapstructure:"rule"`
	Tag  string `mapstructure:"tag"`
}

type Sources struct {
	Syscall  Syscall  `mapstructure:"syscall"`
	K8sAudit K8sAudit `mapstructure:"k8s_audit"`
}

type Syscall struct {
	Enabled bool `mapstructure:"enabled"`
	// RingBufferBytes is the size of each BPF ring buffer (a power of two).
	RingBufferBytes int `mapstructure:"ring_buffer_bytes"`
	// Workers evaluating events (0: one per CPU).
	Workers int `mapstructure:"workers"`
	// CRISockets are the container runtime (CRI) sockets for container
	// and pod metadata, probed in order: the first that exists is used.
	CRISockets []string `mapstructure:"cri_sockets"`
	// DockerRoot is Docker's state directory, read for the metadata of
	// Docker's containers.
	DockerRoot string `mapstructure:"docker_root"`
	// ContainerWait bounds how long an event of a container whose runtime
	// has not described it yet waits for that metadata before it is
	// evaluated with <NA> (0: never wait).
	ContainerWait time.Duration `mapstructure:"container_wait"`
}

type K8sAudit struct {
	Enabled bool   `mapstructure:"enabled"`
	Listen  string `mapstructure:"listen"`
	TLS     TLS    `mapstructure:"tls"`
	// Token (or TokenFile) requires "Authorization: Bearer TOKEN".
	Token        string `mapstructure:"token"`
	TokenFile    string `mapstructure:"token_file"`
	MaxBodyBytes int64  `mapstructure:"max_body_bytes"`
	QueueEvents  int    `mapstructure:"queue_events"`
	Workers      int    `mapstructure:"workers"`
	// Path is the audit endpoint ("": Falco's /k8s_audit and /k8s-audit).
	Path string `mapstructure:"path"`
	// HealthzPath answers {"status": "ok"} on this listener ("": none), as
	// Falco's webserver.k8s_healthz_endpoint.
	HealthzPath string `mapstructure:"healthz_path"`
	// Prometheus serves /metrics on this listener too (Falco's
	// webserver.prometheus_metrics_enabled).
	Prometheus bool `mapstructure:"prometheus"`
	// Ack is when a request is answered 200: "durable" (its events are
	// evaluated and their alerts are in the fsynced spool) or "queued"
	// (its events are queued in memory; a crash loses them).
	Ack string `mapstructure:"ack"`
	// MaxConcurrentRequests and MaxInflightBytes bound the requests (and
	// their body bytes) handled at once; beyond them the answer is 503
	// with Retry-After.
	MaxConcurrentRequests int   `mapstructure:"max_concurrent_requests"`
	MaxInflightBytes      int64 `mapstructure:"max_inflight_bytes"`
}

// TLS is a TLS endpoint (server or client side).
type TLS struct {
	Enabled  bool   `mapstructure:"enabled"`
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// CAFile: for a server, the CA that client certificates must chain to
	// (setting it requires client certificates); for a client, the CA that
	// the server's certificate must chain to (default: the system's).
	CAFile     string `mapstructure:"ca_file"`
	ServerName string `mapstructure:"server_name"`
	// CAPath is a directory of CA certificates (client side; Falco's
	// http_output.ca_path), added to CAFile's.
	CAPath string `mapstructure:"ca_path"`
	// InsecureSkipVerify accepts any server certificate (client side;
	// Falco's http_output.insecure). For tests only.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
}

type Outputs struct {
	Stdout  Stdout  `mapstructure:"stdout"`
	File    File    `mapstructure:"file"`
	Syslog  Syslog  `mapstructure:"syslog"`
	Program Program `mapstructure:"program"`
	HTTP    HTTP    `mapstructure:"http"`
	GRPC    GRPC    `mapstructure:"grpc"`
	// MinPriority drops less severe alerts from every output.
	MinPriority string `mapstructure:"min_priority"`
	// Buffered lets stdout and the file hold alerts in a buffer instead of
	// writing each at once (Falco's buffered_outputs).
	Buffered bool `mapstructure:"buffered"`
	// TimeFormatISO8601 starts the text output with an ISO 8601 UTC time
	// instead of the local time of day (Falco's time_format_iso_8601).
	TimeFormatISO8601 bool `mapstructure:"time_format_iso8601"`
	// JSON chooses the properties of the JSON alerts (Falco's
	// json_include_*_property).
	JSON JSONProperties `mapstructure:"json"`
}

// JSONProperties are Falco's json_include_*_property switches.
type JSONProperties struct {
	Output       bool `mapstructure:"output"`
	Message      bool `mapstructure:"message"`
	OutputFields bool `mapstructure:"output_fields"`
	Tags         bool `mapstructure:"tags"`
}

type Stdout struct {
	Enabled bool   `mapstructure:"enabled"`
	Format  string `mapstructure:"format"` // text or json
}

type File struct {
	Enabled bool   `mapstructure:"enabled"`
	Path    string `mapstructure:"path"`
	Format  string `mapstructure:"format"` // json (one alert per line) or text
	// KeepAlive is Falco's file_output.keep_alive; Harrier always keeps the
	// file open and reopens it on SIGHUP, so it is accepted only.
	KeepAlive bool `mapstructure:"keep_alive"`
}

// Syslog sends alerts to the local syslog (facility user, severity from
// the rule's priority), as Falco's syslog_output.
type Syslog struct {
	Enabled bool   `mapstructure:"enabled"`
	Format  string `mapstructure:"format"` // text or json
}

// Program pipes alerts to a shell command, as Falco's program_output: one
// command per alert, or one kept running (KeepAlive) reading lines.
type Program struct {
	Enabled   bool   `mapstructure:"enabled"`
	Program   string `mapstructure:"program"`
	KeepAlive bool   `mapstructure:"keep_alive"`
	Format    string `mapstructure:"format"` // text or json
}

type HTTP struct {
	Enabled bool          `mapstructure:"enabled"`
	URL     string        `mapstructure:"url"`
	Timeout time.Duration `mapstructure:"timeout"`
	TLS     TLS           `mapstructure:"tls"`
	// Queue bounds the alerts waiting to be POSTed; beyond, they are
	// dropped from this output (and counted), never blocking the others.
	Queue int `mapstructure:"queue"`
	// Format is json (Falco's JSON, application/json) or text (the output
	// line, text/plain), as Falco's http_output under json_output.
	Format    string `mapstructure:"format"`
	UserAgent string `mapstructure:"user_agent"`
	// Compress gzips request bodies (Falco's compress_uploads).
	Compress bool `mapstructure:"compress"`
	// KeepAlive reuses connections between posts.
	KeepAlive bool `mapstructure:"keep_alive"`
	// Echo logs the receiver's answers (Falco's http_output.echo).
	Echo bool `mapstructure:"echo"`
	// Batch is none (one alert a request: what Falco sends and a stock
	// falcosidekick takes), ndjson or array (up to BatchSize alerts a
	// request, for receivers that take them, such as the Harrier router).
	Batch     string `mapstructure:"batch"`
	BatchSize int    `mapstructure:"batch_size"`
	// Concurrency bounds the requests in flight (above 1, alerts may
	// arrive out of order).
	Concurrency int `mapstructure:"concurrency"`
}

type GRPC struct {
	Enabled bool `mapstructure:"enabled"`
	// Address is one router (host:port) or a DNS name with a record per
	// router replica ("dns:///router-headless.ns.svc:2802").
	Address string `mapstructure:"address"`
	// Addresses, when set, lists several routers and replaces Address.
	Addresses []string `mapstructure:"addresses"`
	TLS       TLS      `mapstructure:"tls"`
	Token     string   `mapstructure:"token"`
	// TokenFile holds the token (preferred over Token: no secret in the
	// config file).
	TokenFile string `mapstructure:"token_file"`
	// InsecureToken allows a token without TLS (loopback only).
	InsecureToken bool          `mapstructure:"insecure_token"`
	BatchSize     int           `mapstructure:"batch_size"`
	Window        int           `mapstructure:"window"`
	Linger        time.Duration `mapstructure:"linger"`
	Spool         Spool         `mapstructure:"spool"`
	// ReportInterval is how often the sensor reports its state on the
	// fleet control stream (harrierctl sensors).
	ReportInterval time.Duration `mapstructure:"report_interval"`
}

type Spool struct {
	Dir          string        `mapstructure:"dir"`
	MaxBytes     int64         `mapstructure:"max_bytes"`
	SyncInterval time.Duration `mapstructure:"sync_interval"`
}

type Aggregation struct {
	Enabled bool `mapstructure:"enabled"`
	// Window is the default window of a rule below.
	Window time.Duration     `mapstructure:"window"`
	Rules  []AggregationRule `mapstructure:"rules"`
}

// AggregationRule folds repeated alerts of the rules matching Rule (a glob)
// that agree on Fields into one per window.
type AggregationRule struct {
	Rule   string        `mapstructure:"rule"`
	Fields []string      `mapstructure:"fields"`
	Window time.Duration `mapstructure:"window"`
}

type Metrics struct {
	Enabled bool   `mapstructure:"enabled"`
	Listen  string `mapstructure:"listen"`
	TLS     TLS    `mapstructure:"tls"`
}

// defaults are every key's default; they also make every key known to
// viper, so that environment variables can override any of them.
var defaults = map[string]any{
	"hostname":                          "",
	"sensor_id":                         "",
	"cluster_name":                      "",
	"log.level":                         "info",
	"log.format":                        "text",
	"log.stderr":                        true,
	"log.syslog":                        false,
	"rules.append_output":               []any{map[string]any{"suggested_output": true}},
	"sources.k8s_audit.path":            "",
	"sources.k8s_audit.healthz_path":    "",
	"sources.k8s_audit.prometheus":      false,
	"outputs.buffered":                  false,
	"outputs.time_format_iso8601":       false,
	"outputs.json.output":               true,
	"outputs.json.message":              false,
	"outputs.json.output_fields":        true,
	"outputs.json.tags":                 true,
	"outputs.file.format":               "json",
	"outputs.file.keep_alive":           false,
	"outputs.syslog.enabled":            false,
	"outputs.syslog.format":             "text",
	"outputs.program.enabled":           false,
	"outputs.program.program":           "",
	"outputs.program.keep_alive":        false,
	"outputs.program.format":            "text",
	"outputs.http.format":               "json",
	"outputs.http.user_agent":           "harrier-sensor",
	"outputs.http.compress":             false,
	"outputs.http.keep_alive":           true,
	"outputs.http.echo":                 false,
	"outputs.http.batch":                "none",
	"outputs.http.batch_size":           100,
	"outputs.http.concurrency":          1,
	"rules.files":                       []string{},
	"rules.rule_matching":               "first",
	"rules.priority":                    "debug",
	"rules.select":                      []any{},
	"rules.watch":                       true,
	"rules.central":                     false,
	"rules.central_cache":               "/var/lib/harrier/central-rules.pb",
	"rules.reload_max_loss":             0.5,
	"rules.reload_force":                false,
	"sources.syscall.enabled":           true,
	"sources.syscall.ring_buffer_bytes": 16 << 20,
	"sources.syscall.workers":           0,
	"sources.syscall.cri_sockets": []string{"/run/containerd/containerd.sock", "/run/crio/crio.sock",
		"/run/k3s/containerd/containerd.sock", "/run/cri-dockerd.sock"},
	"sources.syscall.docker_root":               "/var/lib/docker",
	"sources.syscall.container_wait":            "300ms",
	"sources.k8s_audit.enabled":                 true,
	"sources.k8s_audit.listen":                  "127.0.0.1:8765",
	"sources.k8s_audit.token":                   "",
	"sources.k8s_audit.token_file":              "",
	"sources.k8s_audit.max_body_bytes":          16 << 20,
	"sources.k8s_audit.queue_events":            65536,
	"sources.k8s_audit.workers":                 2,
	"sources.k8s_audit.ack":                     "durable",
	"sources.k8s_audit.max_concurrent_requests": 16,
	"sources.k8s_audit.max_inflight_bytes":      64 << 20,
	"outputs.min_priority":                      "debug",
	"outputs.stdout.enabled":                    true,
	"outputs.stdout.format":                     "text",
	"outputs.file.enabled":                      false,
	"outputs.file.path":                         "/var/log/harrier/alerts.jsonl",
	"outputs.http.enabled":                      false,
	"outputs.http.url":                          "",
	"outputs.http.timeout":                      "5s",
	"outputs.http.queue":                        10000,
	"outputs.grpc.enabled":                      false,
	"outputs.grpc.address":                      "127.0.0.1:2802",
	"outputs.grpc.addresses":                    []string{},
	"outputs.grpc.token":                        "",
	"outputs.grpc.token_file":                   "",
	"outputs.grpc.insecure_token":               false,
	"outputs.grpc.batch_size":                   500,
	"outputs.grpc.window":                       8,
	"outputs.grpc.linger":                       "5ms",
	"outputs.grpc.spool.dir":                    "/var/lib/harrier/spool",
	"outputs.grpc.report_interval":              "10s",
	"outputs.grpc.spool.max_bytes":              256 << 20,
	"outputs.grpc.spool.sync_interval":          "1s",
	"aggregation.enabled":                       false,
	"aggregation.window":                        "10s",
	"aggregation.rules":                         []any{},
	"metrics.enabled":                           true,
	"metrics.listen":                            "127.0.0.1:8766",
}

var tlsKeys = []string{"enabled", "cert_file", "key_file", "ca_file", "server_name", "ca_path", "insecure_skip_verify"}

func init() {
	for _, p := range []string{"sources.k8s_audit.tls", "outputs.http.tls", "outputs.grpc.tls", "metrics.tls"} {
		for _, k := range tlsKeys {
			if k == "enabled" || k == "insecure_skip_verify" {
				defaults[p+"."+k] = false
			} else {
				defaults[p+"."+k] = ""
			}
		}
	}
}

// Keys returns every configuration key, sorted.
func Keys() []string {
	keys := make([]string, 0, len(defaults))
	for k := range defaults {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Source says where to read the configuration from.
type Source struct {
	// File is the YAML file (Harrier's or Falco's falco.yaml); "" means
	// DefaultFile, else FalcoDefaultFile, when one exists.
	File string
	// Overrides are -o key=value settings (Harrier's keys or Falco's),
	// applied last in order.
	Overrides []string
	// RulesFiles, when set, replace the rules files (Falco's -r).
	RulesFiles []string
	// Environ is the environment (default os.Environ()).
	Environ []string
}

// Load reads, merges and validates the configuration. Layers, weakest
// first: defaults, the file (Falco's keys translated, then Harrier's), the
// environment, -o in order, -r.
func Load(src Source) (*Config, error) {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	file := src.File
	if file == "" {
		for _, f := range []string{DefaultFile, FalcoDefaultFile} {
			if _, err := os.Stat(f); err == nil {
				file = f
				break
			}
		}
	}
	var harrierPart, falcoPart map[string]any
	isFalco := false
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("config: %s: %w", file, err)
		}
		harrierPart, falcoPart, isFalco = splitFile(m)
		if isFalco {
			if err := loadConfigFiles(falcoPart, file); err != nil {
				return nil, fmt.Errorf("config %s: %w", file, err)
			}
		}
	}
	if falcoPart == nil {
		falcoPart = map[string]any{}
	}
	tr := &falcoLayers{all: falcoPart, file: file, isFalco: isFalco}
	if isFalco {
		out, _, err := translateFalco(falcoPart)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
		setAll(v, out)
	}
	setLeaves(v, "", harrierPart)

	// Environment: every known key, HARRIER_ + upper-case path with _.
	env := src.Environ
	if env == nil {
		env = os.Environ()
	}
	envMap := map[string]string{}
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix+"_") {
			envMap[k] = val
		}
	}
	envName := func(k string) string {
		return EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(k))
	}
	var falcoEnv []string
	for _, k := range falcoLeafKeys() {
		if _, harrier := defaults[k]; harrier {
			continue // the name is Harrier's key's
		}
		if val, ok := envMap[envName(k)]; ok {
			falcoEnv = append(falcoEnv, k+"="+val)
		}
	}
	if err := tr.apply(v, falcoEnv, "environment"); err != nil {
		return nil, err
	}
	for _, k := range Keys() {
		if val, ok := envMap[envName(k)]; ok {
			v.Set(k, val)
		}
	}
	for _, o := range src.Overrides {
		k, val, ok := strings.Cut(o, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("config: -o %q: want key=value", o)
		}
		top, _, _ := strings.Cut(k, ".")
		if isFalcoKey(k) || (isFalco && !slices.Contains(harrierTop, top)) {
			// On a falco.yaml an unknown key is Falco's: a warning, as
			// Falco's schema check gives.
			if err := tr.apply(v, []string{k + "=" + val}, "-o"); err != nil {
				return nil, err
			}
			continue
		}
		if _, known := defaults[k]; !known {
			return nil, fmt.Errorf("config: -o %s: unknown key (neither Harrier's, see harrier-sensor.example.yaml, nor Falco's)", k)
		}
		v.Set(k, val)
	}
	if len(src.RulesFiles) > 0 {
		v.Set("rules.files", src.RulesFiles)
	}
	var c Config
	err := v.Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.WeaklyTypedInput = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			stringToList,
			stringToYAML,
		)
	})
	if err != nil {
		// mapstructure's message leads with a generic line; keep the part
		// that names the key.
		msg := strings.TrimSpace(strings.TrimPrefix(err.Error(), "decoding failed due to the following error(s):"))
		return nil, fmt.Errorf("config%s: %s", inFile(file), strings.ReplaceAll(msg, "\n\n", "; "))
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config%s: %w", inFile(file), err)
	}
	c.File, c.Falco = file, isFalco
	c.Warnings = tr.warnings()
	return &c, nil
}

// falcoLayers keeps Falco's keys as they accumulate over the layers, so
// that a later layer's Falco key is translated with everything before it
// (json_output changes every output's format).
type falcoLayers struct {
	all     map[string]any
	file    string
	isFalco bool
}

// apply sets Falco key=value pairs on top of what came before and puts on
// v the Harrier keys whose translation changed.
func (l *falcoLayers) apply(v *viper.Viper, kvs []string, where string) error {
	if len(kvs) == 0 {
		return nil
	}
	before, _, err := translateFalco(cloneDeep(l.all).(map[string]any))
	if err != nil {
		return fmt.Errorf("config%s: %w", inFile(l.file), err)
	}
	for _, kv := range kvs {
		k, val, _ := strings.Cut(kv, "=")
		if err := setFalcoOption(l.all, k, val); err != nil {
			return fmt.Errorf("config: %s %w", where, err)
		}
	}
	after, _, err := translateFalco(cloneDeep(l.all).(map[string]any))
	if err != nil {
		return fmt.Errorf("config: %s: %w", where, err)
	}
	for k, a := range after {
		if b, ok := before[k]; !ok || !reflect.DeepEqual(a, b) {
			v.Set(k, a)
		}
	}
	return nil
}

// warnings are the Falco keys Harrier ignores, each once: all of a Falco
// file's, or those an override added to a Harrier file.
func (l *falcoLayers) warnings() []string {
	_, w, _ := translateFalco(cloneDeep(l.all).(map[string]any))
	if l.isFalco {
		return w
	}
	_, base, _ := translateFalco(map[string]any{})
	var out []string
	for _, x := range w {
		if !slices.Contains(base, x) {
			out = append(out, x)
		}
	}
	return out
}

func setAll(v *viper.Viper, flat map[string]any) {
	for k, x := range flat {
		v.Set(k, x)
	}
}

// setLeaves sets every leaf of a nested map (lists are leaves) on v, so
// that unknown keys still reach Unmarshal and fail there, named.
func setLeaves(v *viper.Viper, prefix string, m map[string]any) {
	for k, x := range m {
		key := prefix + k
		if sub, ok := x.(map[string]any); ok && len(sub) > 0 {
			setLeaves(v, key+".", sub)
			continue
		}
		if x == nil {
			continue
		}
		v.Set(key, x)
	}
}

func inFile(f string) string {
	if f == "" {
		return ""
	}
	return " " + f
}

// stringToList lets a list key be set from the environment or -o as
// "a,b,c".
func stringToList(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.String {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if s == "" {
		return []string{}, nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}

// stringToYAML lets structured keys (rules.select, aggregation.rules) be
// set from the environment or -o as inline YAML/JSON:
// -o 'rules.select=[{disable: {tag: network}}]'.
func stringToYAML(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String {
		return data, nil
	}
	switch to.Kind() {
	case reflect.Slice:
		if to.Elem().Kind() == reflect.String {
			return data, nil
		}
	case reflect.Struct, reflect.Map:
	default:
		return data, nil
	}
	if to == reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	var v any
	if err := yaml.Unmarshal([]byte(data.(string)), &v); err != nil {
		return nil, fmt.Errorf("not valid inline YAML: %w", err)
	}
	return v, nil
}

// keyError names the key a problem is about.
type keyError struct {
	Key string
	Msg string
}

func (e *keyError) Error() string { return e.Key + ": " + e.Msg }

func bad(key, format string, args ...any) error {
	return &keyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

func oneOf(key, val string, allowed ...string) error {
	if slices.Contains(allowed, val) {
		return nil
	}
	return bad(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
}

func (c *Config) validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.SensorID == "" {
		c.SensorID = c.Hostname
	}
	c.Log.Level = strings.ToLower(c.Log.Level)
	add(oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error"))
	add(oneOf("log.format", c.Log.Format, "text", "json"))

	add(oneOf("rules.rule_matching", c.Rules.RuleMatching, "first", "all"))
	if l := c.Rules.ReloadMaxLoss; l < 0 || l > 1 {
		add(bad("rules.reload_max_loss", "%v is not a share between 0 and 1", l))
	}
	if _, err := harrierv1.ParsePriority(c.Rules.Priority); err != nil {
		add(bad("rules.priority", "%v", err))
	}
	for i, s := range c.Rules.Select {
		key := fmt.Sprintf("rules.select[%d]", i)
		if (s.Enable == nil) == (s.Disable == nil) {
			add(bad(key, "give exactly one of enable or disable"))
			continue
		}
		m := s.Enable
		if m == nil {
			m = s.Disable
		}
		if (m.Rule == "") == (m.Tag == "") {
			add(bad(key, "give exactly one of rule or tag"))
		}
	}

	sc := c.Sources.Syscall
	if sc.Enabled && (sc.RingBufferBytes < 4096 || sc.RingBufferBytes&(sc.RingBufferBytes-1) != 0) {
		add(bad("sources.syscall.ring_buffer_bytes", "%d is not a power of two of at least 4096", sc.RingBufferBytes))
	}
	if sc.Workers < 0 {
		add(bad("sources.syscall.workers", "must not be negative"))
	}
	if sc.ContainerWait < 0 || sc.ContainerWait > 10*time.Second {
		add(bad("sources.syscall.container_wait", "%s is not between 0 and 10s", sc.ContainerWait))
	}
	for i, a := range c.Rules.AppendOutput {
		if _, err := a.Fields(); err != nil {
			add(bad(fmt.Sprintf("rules.append_output[%d]", i), "%v", err))
		}
	}
	ka := &c.Sources.K8sAudit
	if ka.Enabled {
		add(checkListen("sources.k8s_audit.listen", ka.Listen))
		add(checkTLS("sources.k8s_audit.tls", ka.TLS, true))
		if ka.MaxBodyBytes <= 0 {
			add(bad("sources.k8s_audit.max_body_bytes", "must be positive"))
		}
		if ka.QueueEvents <= 0 {
			add(bad("sources.k8s_audit.queue_events", "must be positive"))
		}
		if ka.Workers <= 0 {
			add(bad("sources.k8s_audit.workers", "must be positive"))
		}
		add(oneOf("sources.k8s_audit.ack", ka.Ack, "durable", "queued"))
		if ka.MaxConcurrentRequests <= 0 {
			add(bad("sources.k8s_audit.max_concurrent_requests", "must be positive"))
		}
		if ka.MaxInflightBytes < ka.MaxBodyBytes {
			add(bad("sources.k8s_audit.max_inflight_bytes", "%d is less than max_body_bytes (%d): a largest request could never be taken", ka.MaxInflightBytes, ka.MaxBodyBytes))
		}
		tok, err := readToken("sources.k8s_audit", ka.Token, ka.TokenFile)
		add(err)
		ka.Token = tok
	}
	if !sc.Enabled && !ka.Enabled {
		add(bad("sources", "every source is disabled; enable sources.syscall or sources.k8s_audit"))
	}

	o := &c.Outputs
	if _, err := harrierv1.ParsePriority(o.MinPriority); err != nil {
		add(bad("outputs.min_priority", "%v", err))
	}
	if o.Stdout.Enabled {
		add(oneOf("outputs.stdout.format", o.Stdout.Format, "text", "json"))
	}
	if o.File.Enabled {
		if o.File.Path == "" {
			add(bad("outputs.file.path", "required when outputs.file.enabled"))
		}
		add(oneOf("outputs.file.format", o.File.Format, "text", "json"))
	}
	if o.Syslog.Enabled {
		add(oneOf("outputs.syslog.format", o.Syslog.Format, "text", "json"))
	}
	if o.Program.Enabled {
		if strings.TrimSpace(o.Program.Program) == "" {
			add(bad("outputs.program.program", "required when outputs.program.enabled"))
		}
		add(oneOf("outputs.program.format", o.Program.Format, "text", "json"))
	}
	if o.HTTP.Enabled {
		if u, err := url.Parse(o.HTTP.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(bad("outputs.http.url", "%q is not an http(s) URL", o.HTTP.URL))
		}
		if o.HTTP.Timeout <= 0 {
			add(bad("outputs.http.timeout", "must be positive"))
		}
		if o.HTTP.Queue <= 0 {
			add(bad("outputs.http.queue", "must be positive"))
		}
		add(checkTLS("outputs.http.tls", o.HTTP.TLS, false))
		add(oneOf("outputs.http.format", o.HTTP.Format, "text", "json"))
		add(oneOf("outputs.http.batch", o.HTTP.Batch, "none", "ndjson", "array"))
		if o.HTTP.Batch != "none" && o.HTTP.Format == "text" {
			add(bad("outputs.http.batch", "%s needs format json (text lines have no batch framing)", o.HTTP.Batch))
		}
		if o.HTTP.BatchSize <= 0 {
			add(bad("outputs.http.batch_size", "must be positive"))
		}
		if o.HTTP.Concurrency <= 0 || o.HTTP.Concurrency > 64 {
			add(bad("outputs.http.concurrency", "must be between 1 and 64"))
		}
	}
	g := &o.GRPC
	if g.Enabled {
		if len(g.Addresses) == 0 {
			addr := g.Address
			if rest, ok := strings.CutPrefix(addr, "dns:"); ok {
				// dns:///name:port, or dns://server/name:port
				if i := strings.LastIndex(rest, "/"); strings.HasPrefix(rest, "//") && i >= 2 {
					addr = rest[i+1:]
				} else {
					add(bad("outputs.grpc.address", "%q: want dns:///name:port", g.Address))
				}
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				add(bad("outputs.grpc.address", "%q is not host:port or dns:///name:port", g.Address))
			}
		}
		for _, a := range g.Addresses {
			if _, _, err := net.SplitHostPort(a); err != nil {
				add(bad("outputs.grpc.addresses", "%q is not host:port", a))
			}
		}
		add(checkTLS("outputs.grpc.tls", g.TLS, false))
		tok, err := readToken("outputs.grpc", g.Token, g.TokenFile)
		add(err)
		g.Token = tok
		if g.Token != "" && !g.TLS.Enabled && !g.InsecureToken {
			add(bad("outputs.grpc.token", "a bearer token needs outputs.grpc.tls.enabled (or insecure_token for loopback)"))
		}
		if g.BatchSize <= 0 {
			add(bad("outputs.grpc.batch_size", "must be positive"))
		}
		if g.Window <= 0 {
			add(bad("outputs.grpc.window", "must be positive"))
		}
		if g.ReportInterval < 100*time.Millisecond {
			add(bad("outputs.grpc.report_interval", "%s is below 100ms", g.ReportInterval))
		}
		if g.Spool.Dir == "" {
			add(bad("outputs.grpc.spool.dir", "required"))
		}
		if g.Spool.MaxBytes < 1<<20 {
			add(bad("outputs.grpc.spool.max_bytes", "%d is less than 1 MiB", g.Spool.MaxBytes))
		}
	}
	if c.Rules.Central {
		if !g.Enabled {
			add(bad("rules.central", "the central ruleset comes from the router: enable outputs.grpc"))
		}
		if c.Rules.CentralCache == "" {
			add(bad("rules.central_cache", "required with rules.central"))
		}
	}
	if !o.Stdout.Enabled && !o.File.Enabled && !o.HTTP.Enabled && !g.Enabled && !o.Syslog.Enabled && !o.Program.Enabled {
		add(bad("outputs", "every output is disabled; alerts would go nowhere"))
	}

	if c.Aggregation.Enabled {
		if c.Aggregation.Window <= 0 {
			add(bad("aggregation.window", "must be positive"))
		}
		for i, r := range c.Aggregation.Rules {
			if r.Rule == "" {
				add(bad(fmt.Sprintf("aggregation.rules[%d].rule", i), "required"))
			}
			if r.Window < 0 {
				add(bad(fmt.Sprintf("aggregation.rules[%d].window", i), "must not be negative"))
			}
		}
	}
	if c.Metrics.Enabled {
		add(checkListen("metrics.listen", c.Metrics.Listen))
		add(checkTLS("metrics.tls", c.Metrics.TLS, true))
	}
	return errors.Join(errs...)
}

func checkListen(key, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return bad(key, "%q is not [host]:port", addr)
	}
	return nil
}

func checkTLS(key string, t TLS, server bool) error {
	if !t.Enabled {
		return nil
	}
	if server && (t.CertFile == "" || t.KeyFile == "") {
		return bad(key, "cert_file and key_file are required when enabled")
	}
	if server && (t.CAPath != "" || t.InsecureSkipVerify) {
		return bad(key, "ca_path and insecure_skip_verify are client settings")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return bad(key, "give both cert_file and key_file, or neither")
	}
	for _, f := range []struct{ k, p string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}, {"ca_path", t.CAPath}} {
		if f.p == "" {
			continue
		}
		if _, err := os.Stat(f.p); err != nil {
			return bad(key+"."+f.k, "%v", err)
		}
	}
	return nil
}

func readToken(prefix, token, file string) (string, error) {
	if file == "" {
		return token, nil
	}
	if token != "" {
		return "", bad(prefix+".token_file", "give token or token_file, not both")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", bad(prefix+".token_file", "%v", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", bad(prefix+".token_file", "%s is empty", file)
	}
	return t, nil
}
