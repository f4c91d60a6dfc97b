// Package loki pushes alerts to Grafana Loki's push API v1 (JSON body),
// like falcosidekick's loki output: one request per batch, one stream per
// distinct label set, each alert one log line. Loki is written to its
// published HTTP API; none of its code is used (it is AGPL).
package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/httpout"
	"github.com/harrier-security/harrier/router/internal/output/message"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// DefaultEndpoint is Loki's push API.
const DefaultEndpoint = "/loki/api/v1/push"

// Line formats.
const (
	FormatJSON = "json" // Falco JSON (default; LogQL's json parser reads it)
	FormatText = "text" // the output line
)

// Config of one Loki output.
type Config struct {
	Name     string
	HostPort string // base URL, e.g. http://loki:3100
	Endpoint string
	Tenant   string // X-Scope-OrgID (multi-tenant Loki)
	User     string // basic auth (Grafana Cloud: the instance id)
	APIKey   string // basic auth password
	// LabelFields are output fields added as stream labels (keep them few
	// and low-cardinality: every distinct set is a Loki stream).
	LabelFields   []string
	ExtraLabels   map[string]string // constant labels
	Format        string
	CustomHeaders map[string]string
	Timeout       time.Duration
	TLS           tlsconfig.Client
}

// Validate checks c without side effects.
func (c *Config) Validate() error {
	if err := httpout.ValidURL(c.HostPort); err != nil {
		return fmt.Errorf("hostport %w", err)
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "/") {
		return fmt.Errorf("endpoint %q: want a path starting with /", c.Endpoint)
	}
	switch c.Format {
	case "", FormatJSON, FormatText:
	default:
		return fmt.Errorf("format %q: want json or text", c.Format)
	}
	if c.APIKey != "" && c.User == "" {
		return fmt.Errorf("apikey needs user (basic auth)")
	}
	return nil
}

// Output is a Loki output.
type Output struct {
	cfg    Config
	url    string
	client *httpout.Client
}

// New builds a Loki output.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.Format == "" {
		cfg.Format = FormatJSON
	}
	c, err := httpout.New(cfg.Name, cfg.Timeout, cfg.TLS)
	if err != nil {
		return nil, err
	}
	c.Headers = map[string]string{}
	for k, v := range cfg.CustomHeaders {
		c.Headers[k] = v
		c.Secrets = append(c.Secrets, v)
	}
	if cfg.Tenant != "" {
		c.Headers["X-Scope-OrgID"] = cfg.Tenant
	}
	if cfg.User != "" {
		req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
		req.SetBasicAuth(cfg.User, cfg.APIKey)
		c.Headers["Authorization"] = req.Header.Get("Authorization")
		c.Secrets = append(c.Secrets, cfg.APIKey)
	}
	return &Output{cfg: cfg, url: strings.TrimRight(cfg.HostPort, "/") + cfg.Endpoint, client: c}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error { o.client.Close(); return nil }

// Push is the push API's JSON body.
type Push struct {
	Streams []Stream `json:"streams"`
}

// Stream is one label set and its lines ([unix nanoseconds, line] pairs).
type Stream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

// Deliver implements output.Output. Loki accepts or refuses a push as a
// whole, so the batch succeeds or fails as one.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	push, items := o.Body(alerts)
	if len(push.Streams) > 0 {
		b, err := json.Marshal(push)
		if err != nil {
			return output.Permanent(fmt.Errorf("%s: %w", o.cfg.Name, err))
		}
		if _, err := o.client.Do(ctx, http.MethodPost, o.url, b, map[string]string{"Content-Type": "application/json"}); err != nil {
			return err
		}
	}
	if len(items) > 0 {
		return &output.PartialError{Items: items}
	}
	return nil
}

// Body groups alerts into streams by label set, in a stable order.
func (o *Output) Body(alerts []*harrierv1.Alert) (Push, []output.ItemError) {
	var (
		items   []output.ItemError
		streams = map[string]*Stream{}
		keys    []string
	)
	for i, a := range alerts {
		var line string
		if o.cfg.Format == FormatText {
			line = falcojson.TextLine(a)
		} else {
			b, err := falcojson.Marshal(a)
			if err != nil {
				items = append(items, output.ItemError{Index: i, Err: output.Permanent(err)})
				continue
			}
			line = string(b)
		}
		labels := o.labels(a)
		key := labelKey(labels)
		s, ok := streams[key]
		if !ok {
			s = &Stream{Stream: labels}
			streams[key] = s
			keys = append(keys, key)
		}
		ts := time.Now()
		if t := a.GetTime(); t != nil {
			ts = t.AsTime()
		}
		s.Values = append(s.Values, [2]string{strconv.FormatInt(ts.UnixNano(), 10), line})
	}
	var p Push
	for _, k := range keys {
		p.Streams = append(p.Streams, *streams[k])
	}
	return p, items
}

func (o *Output) labels(a *harrierv1.Alert) map[string]string {
	l := map[string]string{
		"rule":     a.GetRule(),
		"priority": strings.ToLower(a.GetPriority().FalcoName()),
		"source":   a.GetSource(),
		"hostname": a.GetHostname(),
	}
	if len(a.GetTags()) > 0 {
		tags := append([]string(nil), a.GetTags()...)
		sort.Strings(tags)
		l["tags"] = strings.Join(tags, ",")
	}
	for _, f := range o.cfg.LabelFields {
		if v, ok := a.GetOutputFields()[f]; ok {
			l[message.LabelName(f)] = message.FieldString(v)
		}
	}
	for k, v := range o.cfg.ExtraLabels {
		l[k] = v
	}
	for k, v := range l {
		if v == "" { // Loki refuses empty label values
			delete(l, k)
		}
	}
	return l
}

func labelKey(l map[string]string) string {
	ks := make([]string, 0, len(l))
	for k := range l {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		b.WriteString(k + "\x00" + l[k] + "\x00")
	}
	return b.String()
}
