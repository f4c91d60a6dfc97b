// Package config loads the router's YAML configuration (spf13/viper) into a
// validated Config. Every key can be overridden from the environment as
// HARRIER_ROUTER_<KEY> with dots as underscores (HARRIER_ROUTER_GRPC_ADDRESS,
// HARRIER_ROUTER_WEBHOOK_ADDRESS, HARRIER_ROUTER_OUTPUTS_WEBHOOK_SOC_ADDRESS
// for a key present in the file). falcosidekick's elasticsearch, kafka and
// webhook blocks are accepted with their meaning; several outputs of one
// kind are named under outputs.<kind>.<name>. Errors name the key.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/alertfilter"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// EnvPrefix prefixes every environment override.
const EnvPrefix = "HARRIER_ROUTER"

// Config is the router's whole configuration.
type Config struct {
	// DataDir holds journal/, cursors/ and deadletters/.
	DataDir         string
	GRPC            GRPC
	HTTP            HTTP
	Journal         Journal
	Subscriptions   Subscriptions
	Console         Console
	ShutdownTimeout time.Duration
	Log             Log
	GC              GC
	// Outputs, sorted by name. Never empty: with none configured, the
	// embedded defaults (stdout and a JSON-lines file) apply.
	Outputs []Output
	// DefaultOutputs is true when Outputs are the embedded defaults.
	DefaultOutputs bool
	// InsecureAllowPlaintextTokens lets tokens travel over a plaintext
	// listener that is not on loopback (refused otherwise: anyone on the
	// path could read and replay them).
	InsecureAllowPlaintextTokens bool
}

// GRPC is the sensor and client listener.
type GRPC struct {
	Address string
	TLS     tlsconfig.Server
	// IngestTokens are the bearer tokens sensors may present (empty: no
	// token required).
	IngestTokens []string
	// ClientTokens are the bearer tokens for Subscribe and DeadLetters
	// (empty: no token required).
	ClientTokens []string
	// AdminTokens are the bearer tokens that may push and roll back the
	// fleet's rules (empty: pushes are refused). They must differ from the
	// ingest tokens: a sensor's credential never changes the fleet's rules.
	AdminTokens  []string
	MaxRecvBytes int
	// MaxConcurrentStreams bounds the streams (calls) one connection may
	// hold open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS): a sensor
	// needs one, a client a few; gRPC's own default is unbounded.
	MaxConcurrentStreams int
	// Ack is when an Ingest batch is acknowledged: AckWritten or AckFsync.
	Ack string
}

// HTTP is Falco's http_output listener; it also serves /healthz and
// /metrics unless Metrics.Address moves them.
type HTTP struct {
	Address string
	TLS     tlsconfig.Server
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// POST / (a stock Falco cannot send it; leave empty for Falco).
	Token string
	// MetricsAddress serves /metrics and /healthz on their own plaintext
	// listener (default DefaultMetricsAddress; an explicit empty string
	// serves them on the HTTP listener, as before).
	MetricsAddress string
	MaxBodyBytes   int64
	// MaxConcurrentRequests and MaxInflightBytes bound the requests (and
	// their body bytes) the listener handles at once; beyond them the
	// answer is 503 with Retry-After (memory stays bounded).
	MaxConcurrentRequests int
	MaxInflightBytes      int64
	// Ack is when POST / is answered 200: AckWritten or AckFsync.
	Ack string
}

// Acknowledgement policies of the ingest listeners (journal.Ack).
const (
	// AckWritten answers once the alerts are written to the journal file
	// (survives a router crash); the journal fsyncs within
	// Journal.FsyncInterval.
	AckWritten = "written"
	// AckFsync answers once the alerts are fsynced (survives power loss).
	AckFsync = "fsync"
	// DefaultAck is what a security pipeline should have: a sender is never
	// slowed to fsync speed, which is what makes Falco drop alerts.
	DefaultAck = AckWritten
)

// Journal is the durable log: the local journal (the default) with its
// bounds, or Kafka, where router replicas share one log.
type Journal struct {
	// Backend is "local" (default) or "kafka".
	Backend      string
	SegmentBytes int64
	MaxBytes     int64
	MaxAge       time.Duration
	// FsyncInterval bounds how long alerts acknowledged "written" wait for
	// their fsync.
	FsyncInterval time.Duration
	// Kafka is set when Backend is "kafka".
	Kafka *JournalKafka
}

// Journal backends.
const (
	BackendLocal = "local"
	BackendKafka = "kafka"
)

// JournalKafka is the Kafka journal backend (journal.kafka).
type JournalKafka struct {
	Brokers           []string
	Topic             string
	DeadLetterTopic   string
	Partitions        int
	ReplicationFactor int
	ClientID          string
	// TLS is nil for plaintext.
	TLS  *tlsconfig.Client
	SASL KafkaSASL
	// ProduceTimeout bounds the wait for the brokers' acknowledgement of a
	// batch; the sensor retries after it.
	ProduceTimeout time.Duration
	// SessionTimeout is how long an output's group waits for a silent
	// (dead) replica before its partitions move to the others.
	SessionTimeout time.Duration
}

// Subscriptions tune live subscribers.
type Subscriptions struct {
	Buffer    int
	MaxReplay int
}

// Log configures slog.
type Log struct {
	Level  string // debug, info, warn, error
	Format string // json or text
}

// GC tunes the Go garbage collector for the whole process. The router
// allocates per alert at every stage, so the collector's pace is a large
// share of its CPU (docs/benchmarks.md). GOGC and GOMEMLIMIT in the
// environment, when set, win over Percent/Headroom and MemoryLimit.
type GC struct {
	// Percent and Headroom: the next collection starts once the heap has
	// grown by the larger of Percent of the live heap (Go's GOGC) and
	// Headroom bytes. A router whose alerts pass through holds little live
	// data, so Headroom sets its pace; a large live heap (a full console
	// index) keeps Go's proportional one.
	Percent  int
	Headroom int64
	// MemoryLimit is the soft limit on the Go runtime's memory (Go's
	// GOMEMLIMIT): near it the collector runs as often as it must. 0: no
	// limit.
	MemoryLimit int64
}

// Default GC settings: Go's own (proportional pace, no headroom, no soft
// limit). Larger settings showed no CPU gain beyond this machine's noise
// at Falco load (docs/benchmarks.md), and a soft limit under the live heap
// would make the collector run without pause (the console index's default
// bound of a million alerts can hold more than any fixed limit allows).
const (
	DefaultGCPercent  = 100
	DefaultGCHeadroom = 0
)

// Output is one configured output.
type Output struct {
	Kind string // webhook, file, stdout, elasticsearch, kafka
	Name string // "webhook" (falcosidekick form) or "webhook.soc"
	// Filter has minimumpriority and the source/rule/tag/hostname lists.
	Filter    *harrierv1.AlertFilter
	BatchSize int
	Backoff   Backoff
	// Condition selects alerts in the rules' condition language over the
	// alert's fields ("" passes all); checked when the file loads.
	Condition string
	// Template is the message template of outputs that write a human
	// message ("" for their default); checked when the file loads.
	Template string
	// Throttle bounds the alerts per key per window (zero Rate: off).
	Throttle Throttle
	// Settings is the kind's own configuration: one of Webhook, File,
	// Stdout, Elasticsearch or Kafka (a value, not a pointer).
	Settings    any
	Fingerprint string
	// DedupWindow is how long a file, webhook or stdout output remembers
	// delivered alert ids to skip redeliveries (key dedupwindow, default
	// 10m; 0 turns it off). Other kinds deduplicate at the sink, or not.
	DedupWindow time.Duration
}

// Throttle is an output's flood control: at most Rate alerts per Window for
// each key (the rule plus the values of Fields); the others are counted and
// summarised in one alert per key per window.
type Throttle struct {
	Rate   int
	Window time.Duration
	Fields []string
}

// DefaultDedupWindow is the default dedupwindow.
const DefaultDedupWindow = 10 * time.Minute

// Backoff is the retry backoff of an output: exponential with jitter from
// Initial up to Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Defaults, also documented in the example configuration.
const (
	// Loopback by default: a router reachable from other hosts is a
	// decision, taken with TLS and tokens (the chart and packages do).
	DefaultGRPCAddress = "127.0.0.1:2802"
	DefaultHTTPAddress = "127.0.0.1:2801"
	// DefaultMetricsAddress keeps /metrics and /healthz off the ingest port
	// and off the network unless a deployment opens them.
	DefaultMetricsAddress = "127.0.0.1:2803"
	DefaultDataDir        = "/var/lib/harrier-router"
	// DefaultMaxConcurrentStreams per gRPC connection: HTTP/2's
	// recommended minimum, far above what a sensor or harrierctl opens.
	DefaultMaxConcurrentStreams = 100
)

func setDefaults(v *viper.Viper) {
	v.SetDefault("data_dir", DefaultDataDir)
	v.SetDefault("grpc.address", DefaultGRPCAddress)
	v.SetDefault("grpc.max_recv_bytes", 16<<20)
	v.SetDefault("grpc.max_concurrent_streams", DefaultMaxConcurrentStreams)
	v.SetDefault("grpc.ack", DefaultAck)
	v.SetDefault("http.ack", DefaultAck)
	v.SetDefault("journal.fsync_interval", "50ms")
	v.SetDefault("http.address", DefaultHTTPAddress)
	v.SetDefault("http.max_body_bytes", 4<<20)
	v.SetDefault("journal.backend", BackendLocal)
	v.SetDefault("journal.segment_bytes", "64MiB")
	v.SetDefault("journal.max_bytes", "2GiB")
	v.SetDefault("journal.max_age", "168h")
	v.SetDefault("subscriptions.buffer", 4096)
	v.SetDefault("subscriptions.max_replay", 10000)
	v.SetDefault("shutdown_timeout", "15s")
	v.SetDefault("log.level", "info")
	v.SetDefault("log.format", "json")
	v.SetDefault("gc.percent", DefaultGCPercent)
	v.SetDefault("gc.headroom", 0)
	v.SetDefault("gc.memory_limit", 0)
	v.SetDefault("delivery.batch_size", 500)
	v.SetDefault("delivery.backoff.initial", "100ms")
	v.SetDefault("delivery.backoff.max", "30s")
	// Keys that have no default but must be settable from the environment.
	for _, k := range []string{
		"grpc.tls.cert_file", "grpc.tls.key_file", "grpc.tls.client_ca_file",
		"grpc.ingest_tokens", "grpc.ingest_tokens_file", "grpc.client_tokens", "grpc.client_tokens_file",
		"grpc.admin_tokens", "grpc.admin_tokens_file",
		"http.tls.cert_file", "http.tls.key_file", "http.tls.client_ca_file", "http.token", "http.token_file",
		"http.metrics_address",
		"mutualtlsfilespath", "mutualtlsclient.certfile", "mutualtlsclient.keyfile", "mutualtlsclient.cacertfile",
		"tlsclient.cacertfile",
		"listenaddress", "listenport", "debug", // falcosidekick's LISTENADDRESS, LISTENPORT, DEBUG
	} {
		_ = v.BindEnv(k)
	}
	// falcosidekick's plain blocks, so WEBHOOK_ADDRESS-style overrides
	// work as HARRIER_ROUTER_WEBHOOK_ADDRESS.
	for kind, keys := range sidekickEnvKeys {
		for _, k := range keys {
			_ = v.BindEnv(kind + "." + k)
		}
	}
}

var sidekickEnvKeys = join(coreEnvKeys, integrationEnvKeys)

var coreEnvKeys = map[string][]string{
	"webhook": {"condition", "template", "address", "method", "customheaders", "minimumpriority", "mutualtls", "checkcert", "timeout", "format"},
	"elasticsearch": {"condition", "template", "format", "hostport", "index", "type", "suffix", "minimumpriority", "username", "password", "password_file",
		"apikey", "apikey_file", "mutualtls", "checkcert", "customheaders"},
	"kafka": {"condition", "template", "format", "hostport", "topic", "minimumpriority", "sasl", "tls", "username", "password", "password_file",
		"balancer", "partitioner", "clientid", "compression", "requiredacks", "topiccreation", "key", "mutualtls", "checkcert"},
}

// readSettings reads the file at path ("" for none) over the defaults, with
// HARRIER_ROUTER_* environment overrides applied.
func readSettings(path string) (map[string]any, error) {
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return v.AllSettings(), nil
}

// Load reads and validates the file at path ("" for the embedded defaults
// plus environment overrides).
func Load(path string) (*Config, error) {
	settings, err := readSettings(path)
	if err != nil {
		return nil, err
	}
	cfg, err := parse(settings)
	if err != nil {
		where := "config"
		if path != "" {
			where = "config " + path
		}
		if msg := err.Error(); strings.Contains(msg, "\n") {
			// One error per line, indented under the file name.
			return nil, fmt.Errorf("%s:\n  %s", where, strings.ReplaceAll(msg, "\n", "\n  "))
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return cfg, nil
}

// sidekickListen applies falcosidekick's listenaddress and listenport, the
// address of its HTTP server, to http.address (Falco's http_output posts
// there). An absent listenaddress keeps Harrier's default host, and an
// http.address set beside them must agree.
func sidekickListen(root *block, c *Config) {
	if !root.has("listenaddress") && !root.has("listenport") {
		return
	}
	defHost, defPort, _ := net.SplitHostPort(DefaultHTTPAddress)
	host := root.str("listenaddress", defHost)
	port := defPort
	if root.has("listenport") {
		p := root.integer("listenport", 0)
		if p < 1 || p > 65535 {
			root.errorf("listenport", "want a port number (1-65535), got %d", p)
			return
		}
		port = strconv.Itoa(p)
	}
	addr := net.JoinHostPort(host, port)
	if c.HTTP.Address != DefaultHTTPAddress && c.HTTP.Address != addr {
		root.errorf("listenaddress", "listenaddress/listenport (falcosidekick's) give %s but http.address is %s: keep one (http.address is Harrier's key)", addr, c.HTTP.Address)
		return
	}
	c.HTTP.Address = addr
}

// IsLoopback reports whether a listen address binds loopback only
// ("localhost", 127.0.0.0/8, ::1); ":port" and "0.0.0.0" bind every
// interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var outputNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func parse(all map[string]any) (*Config, error) {
	var errs []error
	root := newBlock("", all, &errs)
	c := &Config{}
	c.DataDir = root.str("data_dir", DefaultDataDir)
	c.ShutdownTimeout = root.duration("shutdown_timeout", 15*time.Second)

	g := root.sub("grpc")
	c.GRPC.Address = g.str("address", DefaultGRPCAddress)
	c.GRPC.TLS = serverTLS(g.sub("tls"))
	c.GRPC.IngestTokens = tokens(g, "ingest_tokens")
	c.GRPC.ClientTokens = tokens(g, "client_tokens")
	c.GRPC.AdminTokens = tokens(g, "admin_tokens")
	for _, a := range c.GRPC.AdminTokens {
		if slices.Contains(c.GRPC.IngestTokens, a) {
			g.errorf("admin_tokens", "an admin token must not also be an ingest token")
			break
		}
	}
	c.GRPC.MaxRecvBytes = int(g.size("max_recv_bytes", 16<<20))
	c.GRPC.MaxConcurrentStreams = g.integer("max_concurrent_streams", DefaultMaxConcurrentStreams)
	if c.GRPC.MaxConcurrentStreams < 1 {
		g.errorf("max_concurrent_streams", "must be at least 1")
	}
	c.GRPC.Ack = ackPolicy(g)
	g.finish()

	h := root.sub("http")
	c.HTTP.Address = h.str("address", DefaultHTTPAddress)
	c.HTTP.TLS = serverTLS(h.sub("tls"))
	c.HTTP.Token = h.secret("token")
	c.HTTP.MetricsAddress = h.str("metrics_address", DefaultMetricsAddress)
	c.HTTP.MaxBodyBytes = h.size("max_body_bytes", 4<<20)
	c.HTTP.MaxConcurrentRequests = h.integer("max_concurrent_requests", 64)
	c.HTTP.MaxInflightBytes = h.size("max_inflight_bytes", 16<<20)
	if c.HTTP.MaxConcurrentRequests < 1 {
		h.errorf("max_concurrent_requests", "must be at least 1")
	}
	if c.HTTP.MaxInflightBytes < c.HTTP.MaxBodyBytes {
		h.errorf("max_inflight_bytes", "%d is less than http.max_body_bytes (%d): a largest request could never be taken", c.HTTP.MaxInflightBytes, c.HTTP.MaxBodyBytes)
	}
	c.HTTP.Ack = ackPolicy(h)
	h.finish()

	j := root.sub("journal")
	c.Journal.Backend = strings.ToLower(j.str("backend", BackendLocal))
	switch c.Journal.Backend {
	case BackendLocal:
		if j.has("kafka") {
			j.errorf("kafka", "is only read with journal.backend: kafka")
		}
	case BackendKafka:
		c.Journal.Kafka = parseJournalKafka(j.sub("kafka"))
	default:
		j.errorf("backend", "want local or kafka, got %q", c.Journal.Backend)
	}
	c.Journal.SegmentBytes = j.size("segment_bytes", 64<<20)
	c.Journal.MaxBytes = j.size("max_bytes", 2<<30)
	c.Journal.MaxAge = j.duration("max_age", 168*time.Hour)
	c.Journal.FsyncInterval = j.duration("fsync_interval", 50*time.Millisecond)
	if c.Journal.FsyncInterval <= 0 || c.Journal.FsyncInterval > 10*time.Second {
		j.errorf("fsync_interval", "want a duration above 0 and at most 10s, got %v", c.Journal.FsyncInterval)
	}
	if c.Journal.SegmentBytes < 4096 {
		j.errorf("segment_bytes", "must be at least 4KiB")
	}
	if c.Journal.MaxBytes != 0 && c.Journal.MaxBytes < 2*c.Journal.SegmentBytes {
		j.errorf("max_bytes", "must be 0 (unbounded) or at least twice journal.segment_bytes")
	}
	j.finish()

	s := root.sub("subscriptions")
	c.Subscriptions.Buffer = s.integer("buffer", 4096)
	c.Subscriptions.MaxReplay = s.integer("max_replay", 10000)
	if c.Subscriptions.Buffer < 1 {
		s.errorf("buffer", "must be at least 1")
	}
	s.finish()

	sidekickListen(root, c)
	c.InsecureAllowPlaintextTokens = root.boolean("insecure_allow_plaintext_tokens", false)
	if !c.InsecureAllowPlaintextTokens {
		if len(c.GRPC.IngestTokens)+len(c.GRPC.ClientTokens)+len(c.GRPC.AdminTokens) > 0 && !c.GRPC.TLS.Enabled() && !IsLoopback(c.GRPC.Address) {
			g.errorf("address", "tokens are configured but %s is plaintext and not on loopback: set grpc.tls, listen on loopback, or set insecure_allow_plaintext_tokens: true", c.GRPC.Address)
		}
		if c.HTTP.Token != "" && !c.HTTP.TLS.Enabled() && !IsLoopback(c.HTTP.Address) {
			h.errorf("address", "http.token is set but %s is plaintext and not on loopback: set http.tls, listen on loopback, or set insecure_allow_plaintext_tokens: true", c.HTTP.Address)
		}
	}
	parseConsole(root, c)

	l := root.sub("log")
	c.Log.Level = strings.ToLower(l.str("level", "info"))
	// falcosidekick's debug: true means debug logging.
	if root.boolean("debug", false) {
		c.Log.Level = "debug"
	}
	c.Log.Format = strings.ToLower(l.str("format", "json"))
	switch c.Log.Level {
	case "debug", "info", "warn", "warning", "error":
	default:
		l.errorf("level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		l.errorf("format", "want json or text, got %q", c.Log.Format)
	}
	l.finish()

	gc := root.sub("gc")
	c.GC.Percent = gc.integer("percent", DefaultGCPercent)
	if c.GC.Percent < 1 {
		gc.errorf("percent", "must be at least 1 (larger values collect less often)")
	}
	c.GC.Headroom = gc.size("headroom", DefaultGCHeadroom)
	c.GC.MemoryLimit = gc.size("memory_limit", 0)
	gc.finish()

	d := root.sub("delivery")
	defs := outputDefaults{batchSize: d.integer("batch_size", 500)}
	bo := d.sub("backoff")
	defs.backoff = Backoff{Initial: bo.duration("initial", 100*time.Millisecond), Max: bo.duration("max", 30*time.Second)}
	bo.finish()
	d.finish()

	gl := globalTLS{
		filesPath: root.str("mutualtlsfilespath", ""),
	}
	mc := root.sub("mutualtlsclient")
	gl.certFile, gl.keyFile, gl.caFile = mc.str("certfile", ""), mc.str("keyfile", ""), mc.str("cacertfile", "")
	mc.finish()
	tc := root.sub("tlsclient")
	gl.tlsCAFile = tc.str("cacertfile", "")
	tc.finish()

	// Named outputs: outputs.<kind>.<name>.
	outs := root.sub("outputs")
	for _, kindName := range sortedKeys(outs.m) {
		k, ok := kinds[kindName]
		kb := outs.sub(kindName)
		if !ok {
			outs.errorf(kindName, "unknown output kind (want one of %s)", strings.Join(kindNames(), ", "))
			continue
		}
		for _, name := range sortedKeys(kb.m) {
			if !outputNameRE.MatchString(name) {
				kb.errorf(name, "output names are lowercase letters, digits, - and _")
			}
			ob := kb.sub(name)
			c.Outputs = append(c.Outputs, parseOutput(k, kindName, kindName+"."+name, ob, defs, gl))
		}
		kb.finish()
	}
	outs.finish()
	// falcosidekick's plain form: a top-level block per kind, enabled when
	// its address/hostport/path is set.
	for _, kindName := range kindNames() {
		if !root.has(kindName) {
			continue
		}
		k := kinds[kindName]
		ob := root.sub(kindName)
		if !k.enabled(ob) {
			ob.used = allUsed(ob.m) // a disabled sidekick block may hold anything
			continue
		}
		c.Outputs = append(c.Outputs, parseOutput(k, kindName, kindName, ob, defs, gl))
	}
	root.used["delivery"] = true
	root.finish()

	if len(c.Outputs) == 0 && len(errs) == 0 {
		c.DefaultOutputs = true
		c.Outputs = embeddedDefaults(c.DataDir, defs)
	}
	sort.Slice(c.Outputs, func(a, b int) bool { return c.Outputs[a].Name < c.Outputs[b].Name })
	for i := 1; i < len(c.Outputs); i++ {
		if c.Outputs[i].Name == c.Outputs[i-1].Name {
			errs = append(errs, fmt.Errorf("%s: output configured twice", c.Outputs[i].Name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// ackPolicy reads a listener's ack key.
func ackPolicy(b *block) string {
	a := strings.ToLower(b.str("ack", DefaultAck))
	if a != AckWritten && a != AckFsync {
		b.errorf("ack", "want %s or %s, got %q", AckWritten, AckFsync, a)
	}
	return a
}

func allUsed(m map[string]any) map[string]bool {
	u := map[string]bool{}
	for k := range m {
		u[k] = true
	}
	return u
}

type outputDefaults struct {
	batchSize int
	backoff   Backoff
}

func parseOutput(k kind, kindName, name string, b *block, defs outputDefaults, gl globalTLS) Output {
	o := Output{Kind: kindName, Name: name, BatchSize: b.integer("batch_size", defs.batchSize)}
	o.Filter = &harrierv1.AlertFilter{}
	if p := b.str("minimumpriority", ""); p != "" {
		pr, err := harrierv1.ParsePriority(p)
		if err != nil {
			b.errorf("minimumpriority", "%v", err)
		}
		o.Filter.MinPriority = pr
	}
	f := b.sub("filter")
	o.Filter.Sources = f.list("sources")
	o.Filter.Rules = f.list("rules")
	o.Filter.Tags = f.list("tags")
	o.Filter.Hostnames = f.list("hostnames")
	f.finish()
	bo := b.sub("backoff")
	o.Backoff = Backoff{Initial: bo.duration("initial", defs.backoff.Initial), Max: bo.duration("max", defs.backoff.Max)}
	bo.finish()
	o.Condition = b.str("condition", "")
	if strings.TrimSpace(o.Condition) != "" {
		if _, err := alertfilter.CompileCondition(o.Condition); err != nil {
			b.errorf("condition", "%v", err)
		}
	}
	o.Template = b.str("template", "")
	if o.Template != "" {
		if _, err := msgtemplate.Parse(o.Template); err != nil {
			b.errorf("template", "%v", err)
		}
	}
	if b.has("throttle") {
		tb := b.sub("throttle")
		o.Throttle = Throttle{Rate: tb.integer("rate", 0), Window: tb.duration("window", time.Minute), Fields: tb.list("fields")}
		if o.Throttle.Rate < 1 {
			tb.errorf("rate", "must be at least 1 (alerts per key per window)")
		}
		if o.Throttle.Window < time.Second {
			tb.errorf("window", "must be at least 1s")
		}
		tb.finish()
	}
	if o.BatchSize < 1 {
		b.errorf("batch_size", "must be at least 1")
	}
	switch kindName {
	case "webhook", "file", "stdout":
		if o.DedupWindow = b.duration("dedupwindow", DefaultDedupWindow); o.DedupWindow < 0 {
			b.errorf("dedupwindow", "must not be negative")
		}
	}
	o.Settings = k.parse(b, name, gl)
	b.finish()
	o.Fingerprint = fingerprint(o)
	return o
}

// fingerprint changes whenever anything that shapes the output changes
// (secrets included, hashed).
func fingerprint(o Output) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v|%d|%v|%#v|%v|%q|%q|%#v", o.Kind, o.Name, o.Filter.String(), o.BatchSize, o.Backoff, o.Settings, o.DedupWindow,
		o.Condition, o.Template, o.Throttle)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func serverTLS(b *block) tlsconfig.Server {
	s := tlsconfig.Server{CertFile: b.str("cert_file", ""), KeyFile: b.str("key_file", ""), ClientCAFile: b.str("client_ca_file", "")}
	if (s.CertFile == "") != (s.KeyFile == "") {
		b.errorf("cert_file", "cert_file and key_file must be set together")
	}
	if s.ClientCAFile != "" && s.CertFile == "" {
		b.errorf("client_ca_file", "mutual TLS needs cert_file and key_file too")
	}
	b.finish()
	return s
}

func tokens(b *block, key string) []string {
	out := b.list(key)
	if file := b.str(key+"_file", ""); file != "" {
		fb := newBlock(b.path, map[string]any{key + "_file": file}, b.errs)
		content := fb.secret(key)
		for _, line := range strings.Split(content, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
	}
	for _, t := range out {
		if len(t) < 16 {
			b.errorf(key, "tokens must be at least 16 characters")
			break
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
