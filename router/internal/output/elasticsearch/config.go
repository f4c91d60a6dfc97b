package elasticsearch

import (
	"fmt"
	"github.com/harrier-security/harrier/router/internal/alertformat"
	"net/url"
	"strings"
	"time"

	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Suffix selects how the event time is appended to the index name.
type Suffix string

// Index suffixes, named as falcosidekick names them.
const (
	SuffixDaily    Suffix = "daily"    // <index>-2026.11.24
	SuffixMonthly  Suffix = "monthly"  // <index>-2026.11
	SuffixAnnually Suffix = "annually" // <index>-2026
	SuffixNone     Suffix = "none"     // <index>
)

// Config configures one Elasticsearch output. Field comments name the
// falcosidekick key (elasticsearch.<key>) each field takes; minimumpriority
// and the other filters belong to the delivery pipeline, not here.
type Config struct {
	// Name is the output's name, unique per router (default "elasticsearch").
	Name string
	// HostPort is one or more node URLs, comma-separated, e.g.
	// "https://es-1:9200,https://es-2:9200" (hostport).
	HostPort string
	// Index is the index name prefix (index; default "falco").
	Index string
	// Type is falcosidekick's mapping type (type). Elasticsearch 8 removed
	// mapping types, so it is accepted and ignored.
	Type string
	// Suffix is daily, monthly, annually or none (suffix; default daily),
	// taken from the alert's event time in UTC.
	Suffix Suffix
	// Username and Password enable HTTP basic auth (username, password).
	Username string
	Password string
	// APIKey is a base64 "id:key" API key (apikey); it wins over basic auth.
	APIKey string
	// CustomHeaders are added to every request (customheaders).
	CustomHeaders map[string]string
	// TLS configures https:// addresses: CA bundle, client certificate for
	// mutual TLS (mutualtls), and checkcert: false as InsecureSkipVerify.
	TLS tlsconfig.Client
	// Timeout bounds one bulk request when the caller's context has no
	// earlier deadline (default 30s).
	Timeout time.Duration
	// SkipTemplate leaves the index template alone (it is installed at
	// start by default), for clusters whose templates are managed elsewhere.
	SkipTemplate bool
	// CompressionDisabled turns gzip request bodies off (on by default;
	// falcosidekick's enablecompression: false).
	CompressionDisabled bool
	// Shards and Replicas go into the template's index settings when
	// positive (numberofshards, numberofreplicas); zero keeps the
	// cluster's defaults.
	Shards, Replicas int
	// Pipeline is an ingest pipeline every document goes through
	// (pipeline).
	Pipeline string
	// Format is the document format: falco (default), ecs or ocsf
	// (package alertformat; docs/outputs-formats.md).
	Format string
}

const (
	defaultName    = "elasticsearch"
	defaultIndex   = "falco"
	defaultTimeout = 30 * time.Second
)

// withDefaults validates c and fills its defaults. Errors name the key.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = defaultName
	}
	if strings.TrimSpace(c.HostPort) == "" {
		return c, fmt.Errorf("%s: hostport is required", c.Name)
	}
	for _, a := range c.addresses() {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("%s: hostport %q: want http(s)://host:port", c.Name, a)
		}
	}
	if c.Index == "" {
		c.Index = defaultIndex
	}
	if c.Index != strings.ToLower(c.Index) || strings.ContainsAny(c.Index, ` "*\/<>|,#?:`) || strings.HasPrefix(c.Index, "_") || strings.HasPrefix(c.Index, "-") {
		return c, fmt.Errorf("%s: index %q: Elasticsearch index names are lowercase without spaces, quotes or any of *\\/<>|,#?: and do not start with _ or -", c.Name, c.Index)
	}
	switch Suffix(strings.ToLower(string(c.Suffix))) {
	case "":
		c.Suffix = SuffixDaily
	case SuffixDaily, SuffixMonthly, SuffixAnnually, SuffixNone:
		c.Suffix = Suffix(strings.ToLower(string(c.Suffix)))
	default:
		return c, fmt.Errorf("%s: suffix %q: want daily, monthly, annually or none", c.Name, c.Suffix)
	}
	if c.Timeout < 0 {
		return c, fmt.Errorf("%s: timeout %v is negative", c.Name, c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if err := alertformat.Check(c.Format); err != nil {
		return c, fmt.Errorf("%s: %w", c.Name, err)
	}
	if c.Shards < 0 || c.Replicas < 0 {
		return c, fmt.Errorf("%s: numberofshards and numberofreplicas must not be negative", c.Name)
	}
	return c, nil
}

func (c Config) addresses() []string {
	var out []string
	for _, a := range strings.Split(c.HostPort, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, strings.TrimRight(a, "/"))
		}
	}
	return out
}
