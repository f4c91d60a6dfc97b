package config

import (
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// The settings of each output kind, as the user wrote them (defaults filled
// in). They are plain data: the outputs factory (package outputs) turns them
// into running outputs; config never builds one.

// Webhook is a webhook output (falcosidekick's webhook block).
type Webhook struct {
	Name          string
	Address       string
	Method        string
	CustomHeaders map[string]string
	Timeout       time.Duration
	Format        string // WebhookSingle or WebhookNDJSON
	Parallel      int
	TLS           tlsconfig.Client
}

// Webhook body formats.
const (
	WebhookSingle = "single" // one Falco JSON object per request
	WebhookNDJSON = "ndjson" // a batch per request as JSON lines
)

// File is a JSON-lines file output.
type File struct {
	Name string
	Path string
	Sync bool
}

// Stdout is the standard output printer.
type Stdout struct {
	Name   string
	Format string // StdoutText or StdoutJSON
}

// Stdout formats.
const (
	StdoutText = "text"
	StdoutJSON = "json"
)

// Elasticsearch is an Elasticsearch output (falcosidekick's elasticsearch
// block).
type Elasticsearch struct {
	Name                string
	HostPort            string
	Index               string
	Type                string
	Suffix              string
	Username            string
	Password            string
	APIKey              string
	CustomHeaders       map[string]string
	TLS                 tlsconfig.Client
	Timeout             time.Duration
	SkipTemplate        bool
	CompressionDisabled bool
	Shards, Replicas    int
	Pipeline            string
	Format              string // falco, ecs or ocsf
}

// Kafka is a Kafka output (falcosidekick's kafka block).
type Kafka struct {
	Name                   string
	HostPort               string
	Topic                  string
	Key                    string
	RequiredAcks           string
	Compression            string
	Balancer               string
	BatchBytes             int64
	BatchTimeout           time.Duration
	Timeout                time.Duration
	ClientID               string
	AllowAutoTopicCreation bool
	TLS                    *tlsconfig.Client // nil: plaintext
	SASL                   KafkaSASL
	Format                 string // falco, ecs or ocsf
}

// KafkaSASL is Kafka's SASL authentication (empty Mechanism: none).
type KafkaSASL struct {
	Mechanism string
	Username  string
	Password  string
}

// kind reads one output kind's configuration block. Adding an output kind is
// one entry here, its settings type above, and one case in package outputs.
type kind struct {
	// enabled says whether a falcosidekick-style top-level block turns the
	// output on (falcosidekick enables an output when its address is set).
	enabled func(b *block) bool
	// parse reads the kind's own keys (the common ones are done already)
	// and validates them; errors go to b.
	parse func(b *block, name string, gl globalTLS) any
	// target names the destination for logs, without secrets.
	target func(settings any) string
}

// kinds is every output kind: the core ones below and the integrations
// (integrations.go), joined once at package initialisation.
var kinds = join(coreKinds, integrationKinds)

var coreKinds = map[string]kind{
	"webhook": {
		enabled: func(b *block) bool { return b.str("address", "") != "" },
		parse:   parseWebhook,
		target:  func(s any) string { return redactURL(s.(Webhook).Address) },
	},
	"file": {
		enabled: func(b *block) bool { return b.str("path", "") != "" },
		parse:   parseFile,
		target:  func(s any) string { return s.(File).Path },
	},
	"stdout": {
		enabled: func(b *block) bool { return b.boolean("enabled", false) },
		parse:   parseStdout,
	},
	"elasticsearch": {
		enabled: func(b *block) bool { return b.str("hostport", "") != "" },
		parse:   parseElasticsearch,
		target: func(s any) string {
			es := s.(Elasticsearch)
			var hosts []string
			for _, h := range strings.Split(es.HostPort, ",") {
				hosts = append(hosts, redactURL(strings.TrimSpace(h)))
			}
			return strings.Join(hosts, ",") + " index " + es.Index
		},
	},
	"kafka": {
		enabled: func(b *block) bool { return b.str("hostport", "") != "" },
		parse:   parseKafka,
		target:  func(s any) string { k := s.(Kafka); return k.HostPort + " topic " + k.Topic },
	},
}

func kindNames() []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// globalTLS holds falcosidekick's top-level client TLS settings, used by
// outputs with mutualtls: true.
type globalTLS struct {
	filesPath                 string // mutualtlsfilespath: client.crt, client.key, ca.crt
	certFile, keyFile, caFile string // mutualtlsclient.*
	tlsCAFile                 string // tlsclient.cacertfile
}

// clientTLS reads checkcert, mutualtls and the per-output tlsclient block.
func clientTLS(b *block, gl globalTLS) tlsconfig.Client {
	c := tlsconfig.Client{InsecureSkipVerify: !b.boolean("checkcert", true), CAFile: gl.tlsCAFile}
	if b.boolean("mutualtls", false) {
		c.CertFile, c.KeyFile = gl.certFile, gl.keyFile
		if gl.caFile != "" {
			c.CAFile = gl.caFile
		}
		if c.CertFile == "" && gl.filesPath != "" {
			c.CertFile = filepath.Join(gl.filesPath, "client.crt")
			c.KeyFile = filepath.Join(gl.filesPath, "client.key")
			c.CAFile = filepath.Join(gl.filesPath, "ca.crt")
		}
		if c.CertFile == "" {
			b.errorf("mutualtls", "needs mutualtlsclient.certfile/keyfile (or mutualtlsfilespath) at the top level")
		}
	}
	t := b.sub("tlsclient")
	if v := t.str("cacertfile", ""); v != "" {
		c.CAFile = v
	}
	if v := t.str("certfile", ""); v != "" {
		c.CertFile = v
	}
	if v := t.str("keyfile", ""); v != "" {
		c.KeyFile = v
	}
	c.ServerName = t.str("servername", "")
	t.finish()
	if (c.CertFile == "") != (c.KeyFile == "") {
		b.errorf("tlsclient", "certfile and keyfile must be set together")
	}
	return c
}

func parseWebhook(b *block, name string, gl globalTLS) any {
	c := Webhook{
		Name:          name,
		Address:       b.str("address", ""),
		Method:        b.str("method", "POST"),
		CustomHeaders: b.strmap("customheaders"),
		Timeout:       b.duration("timeout", 10*time.Second),
		Format:        b.str("format", WebhookSingle),
		Parallel:      b.integer("parallel", 8),
		TLS:           clientTLS(b, gl),
	}
	if u, err := url.Parse(c.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		b.errorf("address", "address %q: want an http:// or https:// URL", c.Address)
	}
	switch c.Format {
	case "", WebhookSingle, WebhookNDJSON:
	default:
		b.errorf("format", "format %q: want %q or %q", c.Format, WebhookSingle, WebhookNDJSON)
	}
	return c
}

func parseFile(b *block, name string, _ globalTLS) any {
	c := File{Name: name, Path: b.str("path", ""), Sync: b.boolean("sync", false)}
	if c.Path == "" {
		b.errorf("path", "path is required")
	}
	return c
}

func parseStdout(b *block, name string, _ globalTLS) any {
	b.boolean("enabled", true)
	c := Stdout{Name: name, Format: b.str("format", StdoutText)}
	switch c.Format {
	case "", StdoutText, StdoutJSON:
	default:
		b.errorf("format", "format %q: want %q or %q", c.Format, StdoutText, StdoutJSON)
	}
	return c
}

// ignoreSidekickKeys accepts falcosidekick keys that have no meaning here,
// so a falcosidekick configuration loads unchanged.
func ignoreSidekickKeys(b *block, keys ...string) {
	for _, k := range keys {
		b.get(k)
	}
}

func parseElasticsearch(b *block, name string, gl globalTLS) any {
	c := Elasticsearch{
		Name:                name,
		HostPort:            b.str("hostport", ""),
		Index:               b.str("index", "falco"),
		Type:                b.str("type", ""),
		Suffix:              b.str("suffix", "daily"),
		Username:            b.str("username", ""),
		Password:            b.secret("password"),
		APIKey:              b.secret("apikey"),
		CustomHeaders:       b.strmap("customheaders"),
		TLS:                 clientTLS(b, gl),
		Timeout:             b.duration("timeout", 30*time.Second),
		SkipTemplate:        b.boolean("skiptemplate", false),
		CompressionDisabled: !b.boolean("compression", true),
		Shards:              b.integer("numberofshards", 0),
		Replicas:            b.integer("numberofreplicas", 0),
		Pipeline:            b.str("pipeline", ""),
		Format:              documentFormat(b),
	}
	// Batching and field flattening are sidekick tunables that the delivery
	// pipeline and the index template decide here; the template is always
	// installed unless skiptemplate.
	ignoreSidekickKeys(b, "createindextemplate", "flattenfields", "batching", "enablecompression", "maxconcurrentrequests")
	if c.Shards < 0 || c.Replicas < 0 {
		b.errorf("numberofshards", "numberofshards and numberofreplicas must not be negative")
	}
	if c.HostPort == "" {
		b.errorf("hostport", "is required")
	}
	return c
}

func parseKafka(b *block, name string, gl globalTLS) any {
	c := Kafka{
		Name:                   name,
		HostPort:               b.str("hostport", ""),
		Topic:                  b.str("topic", ""),
		Key:                    b.str("key", ""),
		RequiredAcks:           b.str("requiredacks", "all"),
		Compression:            b.str("compression", "none"),
		Balancer:               b.str("balancer", ""),
		BatchBytes:             b.size("batchbytes", 0),
		BatchTimeout:           b.duration("batchtimeout", 0),
		Timeout:                b.duration("timeout", 0),
		ClientID:               b.str("clientid", ""),
		AllowAutoTopicCreation: b.boolean("topiccreation", false),
		SASL: KafkaSASL{
			Mechanism: b.str("sasl", ""),
			Username:  b.str("username", ""),
			Password:  b.secret("password"),
		},
	}
	c.Format = documentFormat(b)
	if p := b.str("partitioner", ""); p != "" {
		if c.Balancer != "" && c.Balancer != p {
			b.errorf("partitioner", "conflicts with balancer %q (they are the same setting)", c.Balancer)
		}
		c.Balancer = p
	}
	tlsOn := b.boolean("tls", false)
	t := clientTLS(b, gl)
	if tlsOn || t.CertFile != "" {
		c.TLS = &t
	}
	ignoreSidekickKeys(b, "async")
	if c.HostPort == "" {
		b.errorf("hostport", "is required")
	}
	if c.Topic == "" {
		b.errorf("topic", "is required")
	}
	return c
}

// documentFormat reads the format of the documents an output writes.
func documentFormat(b *block) string {
	f := strings.ToLower(b.str("format", "falco"))
	switch f {
	case "falco", "ecs", "ocsf":
	default:
		b.errorf("format", "format %q: want falco, ecs or ocsf", f)
	}
	return f
}

func embeddedDefaults(dataDir string, defs outputDefaults) []Output {
	outs := []Output{
		{Kind: "stdout", Name: "stdout", Filter: &harrierv1.AlertFilter{}, Settings: Stdout{Name: "stdout", Format: StdoutText}},
		{Kind: "file", Name: "file", Filter: &harrierv1.AlertFilter{}, Settings: File{Name: "file", Path: filepath.Join(dataDir, "alerts.jsonl")}},
	}
	for i := range outs {
		outs[i].BatchSize, outs[i].Backoff = defs.batchSize, defs.backoff
		outs[i].Fingerprint = fingerprint(outs[i])
	}
	return outs
}
