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
	SensorID    string      `mapstructure:"sensor_id"`
	Log         Log         `mapstructure:"log"`
	Rules       Rules       `mapstructure:"rules"`
	Sources     Sources     `mapstructure:"sources"`
	Outputs     Outputs     `mapstructure:"outputs"`
	Aggregation Aggregation `mapstructure:"aggregation"`
	Metrics     Metrics     `mapstructure:"metrics"`
}

type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // text, json
}

type Rules struct {
	// Files are rules files and directories (their *.yaml, sorted), loaded
	// in order; later files change earlier ones.
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
	// CRISocket is the container runtime's socket for container and pod
	// metadata ("": probe the usual containerd/CRI-O sockets).
	CRISocket string `mapstructure:"cri_socket"`
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
}

type Outputs struct {
	Stdout Stdout `mapstructure:"stdout"`
	File   File   `mapstructure:"file"`
	HTTP   HTTP   `mapstructure:"http"`
	GRPC   GRPC   `mapstructure:"grpc"`
	// MinPriority drops less severe alerts from every output.
	MinPriority string `mapstructure:"min_priority"`
}

type Stdout struct {
	Enabled bool   `mapstructure:"enabled"`
	Format  string `mapstructure:"format"` // text or json
}

type File struct {
	Enabled bool   `mapstructure:"enabled"`
	Path    string `mapstructure:"path"`
}

type HTTP struct {
	Enabled bool          `mapstructure:"enabled"`
	URL     string        `mapstructure:"url"`
	Timeout time.Duration `mapstructure:"timeout"`
	TLS     TLS           `mapstructure:"tls"`
	// Queue bounds the alerts waiting to be POSTed; beyond, they are
	// dropped from this output (and counted), never blocking the others.
	Queue int `mapstructure:"queue"`
}

type GRPC struct {
	Enabled bool   `mapstructure:"enabled"`
	Address string `mapstructure:"address"`
	TLS     TLS    `mapstructure:"tls"`
	Token   string `mapstructure:"token"`
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
	"log.level":                         "info",
	"log.format":                        "text",
	"rules.files":                       []string{"/etc/harrier/rules.d"},
	"rules.rule_matching":               "first",
	"rules.priority":                    "debug",
	"rules.select":                      []any{},
	"rules.watch":                       true,
	"rules.central":                     false,
	"rules.central_cache":               "/var/lib/harrier/central-rules.pb",
	"sources.syscall.enabled":           true,
	"sources.syscall.ring_buffer_bytes": 16 << 20,
	"sources.syscall.workers":           0,
	"sources.syscall.cri_socket":        "",
	"sources.k8s_audit.enabled":         true,
	"sources.k8s_audit.listen":          ":8765",
	"sources.k8s_audit.token":           "",
	"sources.k8s_audit.token_file":      "",
	"sources.k8s_audit.max_body_bytes":  16 << 20,
	"sources.k8s_audit.queue_events":    65536,
	"sources.k8s_audit.workers":         2,
	"outputs.min_priority":              "debug",
	"outputs.stdout.enabled":            true,
	"outputs.stdout.format":             "text",
	"outputs.file.enabled":              false,
	"outputs.file.path":                 "/var/log/harrier/alerts.jsonl",
	"outputs.http.enabled":              false,
	"outputs.http.url":                  "",
	"outputs.http.timeout":              "5s",
	"outputs.http.queue":                10000,
	"outputs.grpc.enabled":              false,
	"outputs.grpc.address":              "127.0.0.1:2802",
	"outputs.grpc.token":                "",
	"outputs.grpc.token_file":           "",
	"outputs.grpc.insecure_token":       false,
	"outputs.grpc.batch_size":           500,
	"outputs.grpc.window":               8,
	"outputs.grpc.linger":               "5ms",
	"outputs.grpc.spool.dir":            "/var/lib/harrier/spool",
	"outputs.grpc.report_interval":      "10s",
	"outputs.grpc.spool.max_bytes":      256 << 20,
	"outputs.grpc.spool.sync_interval":  "1s",
	"aggregation.enabled":               false,
	"aggregation.window":                "10s",
	"aggregation.rules":                 []any{},
	"metrics.enabled":                   true,
	"metrics.listen":                    "127.0.0.1:8766",
}

var tlsKeys = []string{"enabled", "cert_file", "key_file", "ca_file", "server_name"}

func init() {
	for _, p := range []string{"sources.k8s_audit.tls", "outputs.http.tls", "outputs.grpc.tls", "metrics.tls"} {
		for _, k := range tlsKeys {
			if k == "enabled" {
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
	// File is the YAML file; "" means DefaultFile when it exists.
	File string
	// Overrides are -o key=value settings, applied last in order.
	Overrides []string
	// Environ is the environment (default os.Environ()).
	Environ []string
}

// Load reads, merges and validates the configuration.
func Load(src Source) (*Config, error) {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	v.SetConfigType("yaml")
	file := src.File
	if file == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			file = DefaultFile
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		err = v.ReadConfig(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", file, err)
		}
	}
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
	for _, k := range Keys() {
		name := EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(k))
		if val, ok := envMap[name]; ok {
			v.Set(k, val)
		}
	}
	for _, o := range src.Overrides {
		k, val, ok := strings.Cut(o, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("config: -o %q: want key=value", o)
		}
		if _, known := defaults[k]; !known {
			return nil, fmt.Errorf("config: -o %s: unknown key (see harrier-sensor.example.yaml)", k)
		}
		v.Set(k, val)
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
	return &c, nil
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

	if len(c.Rules.Files) == 0 {
		add(bad("rules.files", "no rules files or directories"))
	}
	add(oneOf("rules.rule_matching", c.Rules.RuleMatching, "first", "all"))
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
	if o.File.Enabled && o.File.Path == "" {
		add(bad("outputs.file.path", "required when outputs.file.enabled"))
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
	}
	g := &o.GRPC
	if g.Enabled {
		if _, _, err := net.SplitHostPort(g.Address); err != nil {
			add(bad("outputs.grpc.address", "%q is not host:port", g.Address))
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
	if !o.Stdout.Enabled && !o.File.Enabled && !o.HTTP.Enabled && !g.Enabled {
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
	if (t.CertFile == "") != (t.KeyFile == "") {
		return bad(key, "give both cert_file and key_file, or neither")
	}
	for _, f := range []struct{ k, p string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}} {
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
