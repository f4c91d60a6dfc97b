// Package pagerduty triggers PagerDuty incidents through the Events API v2
// (POST /v2/enqueue), one event per alert, like falcosidekick's pagerduty
// output. The alert id is the dedup_key, so a redelivered alert updates the
// same incident instead of opening another.
package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/httpout"
	"github.com/harrier-security/harrier/router/internal/output/message"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Event API hosts per region.
var regions = map[string]string{
	"us": "https://events.pagerduty.com",
	"eu": "https://events.eu.pagerduty.com",
}

// Config of one PagerDuty output.
type Config struct {
	Name       string
	RoutingKey string // the integration key of a service (a secret)
	Region     string // "us" (default) or "eu"
	// URL overrides the region's Events API base URL (a proxy, tests).
	URL string
	// Template, when set, renders the summary instead of
	// "<Priority>: <rule>: <output>".
	Template *msgtemplate.Template
	Timeout  time.Duration
	TLS      tlsconfig.Client
}

// Validate checks c without side effects.
func (c *Config) Validate() error {
	if len(c.RoutingKey) != 32 {
		return fmt.Errorf("routingkey: want the 32-character integration key of an Events API v2 integration")
	}
	if _, ok := regions[c.Region]; c.Region != "" && !ok {
		return fmt.Errorf("region %q: want us or eu", c.Region)
	}
	if c.URL != "" {
		if err := httpout.ValidURL(c.URL); err != nil {
			return fmt.Errorf("url %w", err)
		}
	}
	return nil
}

// Output is a PagerDuty output.
type Output struct {
	cfg    Config
	url    string
	client *httpout.Client
}

// New builds a PagerDuty output.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us"
	}
	base := cfg.URL
	if base == "" {
		base = regions[cfg.Region]
	}
	c, err := httpout.New(cfg.Name, cfg.Timeout, cfg.TLS)
	if err != nil {
		return nil, err
	}
	c.Secrets = []string{cfg.RoutingKey}
	return &Output{cfg: cfg, url: strings.TrimRight(base, "/") + "/v2/enqueue", client: c}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error { o.client.Close(); return nil }

// Event is an Events API v2 trigger.
type Event struct {
	RoutingKey  string  `json:"routing_key"`
	EventAction string  `json:"event_action"`
	DedupKey    string  `json:"dedup_key,omitempty"`
	Payload     Payload `json:"payload"`
}

// Payload is the event's payload.
type Payload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp,omitempty"`
	Component     string          `json:"component,omitempty"`
	Group         string          `json:"group,omitempty"`
	Class         string          `json:"class,omitempty"`
	CustomDetails json.RawMessage `json:"custom_details,omitempty"`
}

// Severity maps a Falco priority to PagerDuty's four severities.
func Severity(p harrierv1.Priority) string {
	switch {
	case p.AtLeast(harrierv1.Priority_PRIORITY_CRITICAL):
		return "critical"
	case p.AtLeast(harrierv1.Priority_PRIORITY_ERROR):
		return "error"
	case p.AtLeast(harrierv1.Priority_PRIORITY_WARNING):
		return "warning"
	}
	return "info"
}

// Event builds the trigger for a.
func (o *Output) Event(a *harrierv1.Alert) (Event, error) {
	details, err := falcojson.Marshal(a)
	if err != nil {
		return Event{}, err
	}
	summary := message.Title(a) + ": " + a.GetOutput()
	if o.cfg.Template != nil {
		if summary, err = o.cfg.Template.Render(a); err != nil {
			return Event{}, err
		}
	}
	if len(summary) > 1024 { // PagerDuty's limit
		summary = strings.ToValidUTF8(summary[:1021], "") + "..."
	}
	src := a.GetHostname()
	if src == "" {
		src = "harrier"
	}
	e := Event{RoutingKey: o.cfg.RoutingKey, EventAction: "trigger", DedupKey: a.GetId(), Payload: Payload{
		Summary: summary, Source: src, Severity: Severity(a.GetPriority()), Component: a.GetSource(),
		Group: a.GetClusterName(), Class: a.GetRule(), CustomDetails: details,
	}}
	if t := a.GetTime(); t != nil {
		e.Payload.Timestamp = t.AsTime().UTC().Format(time.RFC3339Nano)
	}
	return e, nil
}

// Deliver implements output.Output.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	return httpout.EachAlert(ctx, alerts, func(ctx context.Context, a *harrierv1.Alert) error {
		e, err := o.Event(a)
		if err != nil {
			return output.Permanent(err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			return output.Permanent(err)
		}
		_, err = o.client.Do(ctx, http.MethodPost, o.url, b, map[string]string{"Content-Type": "application/json"})
		return err
	})
}
