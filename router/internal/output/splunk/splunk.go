// Package splunk sends alerts to Splunk's HTTP Event Collector (HEC,
// POST /services/collector/event): one request per batch, the events
// concatenated as HEC's batch format allows, each event the alert's Falco
// JSON with its time, host, source, sourcetype and index.
package splunk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/httpout"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// DefaultEndpoint is HEC's JSON event endpoint.
const DefaultEndpoint = "/services/collector/event"

// Config of one HEC output.
type Config struct {
	Name       string
	HostPort   string // base URL, e.g. https://splunk:8088
	Endpoint   string
	Token      string // HEC token, sent as "Authorization: Splunk <token>"
	Index      string // empty: the token's default index
	Source     string // "harrier" by default
	SourceType string // "falco" by default
	// Channel is sent as X-Splunk-Request-Channel (required when the
	// token has indexer acknowledgement on).
	Channel       string
	CustomHeaders map[string]string
	Timeout       time.Duration
	TLS           tlsconfig.Client
}

// Validate checks c without side effects.
func (c *Config) Validate() error {
	if err := httpout.ValidURL(c.HostPort); err != nil {
		return fmt.Errorf("hostport %w", err)
	}
	if c.Token == "" {
		return fmt.Errorf("token is required")
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "/") {
		return fmt.Errorf("endpoint %q: want a path starting with /", c.Endpoint)
	}
	return nil
}

// Output is a Splunk HEC output.
type Output struct {
	cfg    Config
	url    string
	client *httpout.Client
}

// New builds a Splunk HEC output.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if cfg.Source == "" {
		cfg.Source = "harrier"
	}
	if cfg.SourceType == "" {
		cfg.SourceType = "falco"
	}
	c, err := httpout.New(cfg.Name, cfg.Timeout, cfg.TLS)
	if err != nil {
		return nil, err
	}
	c.Headers = map[string]string{"Authorization": "Splunk " + cfg.Token}
	c.Secrets = []string{cfg.Token}
	for k, v := range cfg.CustomHeaders {
		c.Headers[k] = v
		c.Secrets = append(c.Secrets, v)
	}
	if cfg.Channel != "" {
		c.Headers["X-Splunk-Request-Channel"] = cfg.Channel
	}
	return &Output{cfg: cfg, url: strings.TrimRight(cfg.HostPort, "/") + cfg.Endpoint, client: c}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error { o.client.Close(); return nil }

// Event is one HEC event envelope.
type Event struct {
	Time       float64         `json:"time"` // epoch seconds
	Host       string          `json:"host,omitempty"`
	Source     string          `json:"source"`
	SourceType string          `json:"sourcetype"`
	Index      string          `json:"index,omitempty"`
	Event      json.RawMessage `json:"event"`
}

// Deliver implements output.Output. HEC refuses a batch at its first bad
// event and reports it by number; that event is refused for good and the
// batch is retried without it.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	var (
		body  []byte
		items []output.ItemError
		sent  []int // batch index of each event in body
	)
	for i, a := range alerts {
		ev, err := falcojson.Marshal(a)
		if err != nil {
			items = append(items, output.ItemError{Index: i, Err: output.Permanent(err)})
			continue
		}
		e := Event{Host: a.GetHostname(), Source: o.cfg.Source, SourceType: o.cfg.SourceType, Index: o.cfg.Index, Event: ev}
		if t := a.GetTime(); t != nil {
			e.Time = float64(t.AsTime().UnixMicro()) / 1e6
		}
		b, err := json.Marshal(e)
		if err != nil {
			items = append(items, output.ItemError{Index: i, Err: output.Permanent(err)})
			continue
		}
		body = append(append(body, b...), '\n')
		sent = append(sent, i)
	}
	if len(sent) > 0 {
		ans, err := o.client.Do(ctx, http.MethodPost, o.url, body, map[string]string{"Content-Type": "application/json"})
		if err != nil {
			var r struct {
				Invalid *int `json:"invalid-event-number"`
			}
			if output.IsPermanent(err) && json.Unmarshal(ans.Body, &r) == nil && r.Invalid != nil && *r.Invalid >= 0 && *r.Invalid < len(sent) {
				// Only the named event is bad: the others go again.
				for j, idx := range sent {
					e := err
					if j != *r.Invalid {
						e = fmt.Errorf("%s: batch refused for event %d: %w", o.cfg.Name, *r.Invalid, httpout.Transient(err))
					}
					items = append(items, output.ItemError{Index: idx, Err: e})
				}
				return &output.PartialError{Items: items}
			}
			return err
		}
	}
	if len(items) > 0 {
		return &output.PartialError{Items: items}
	}
	return nil
}
