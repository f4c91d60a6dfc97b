// Package alertmanager posts alerts to Prometheus Alertmanager's alerts API
// v2 (POST /api/v2/alerts), one request per batch, like falcosidekick's
// alertmanager output. Labels identify an alert to Alertmanager (it groups
// and deduplicates by them); annotations carry the text.
package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/httpout"
	"github.com/harrier-security/harrier/router/internal/output/message"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// DefaultEndpoint is the alerts API v2 (v1 left Alertmanager in 0.27).
const DefaultEndpoint = "/api/v2/alerts"

// Config of one Alertmanager output.
type Config struct {
	Name     string
	HostPort string // base URL, e.g. http://alertmanager:9093
	Endpoint string // DefaultEndpoint when empty
	// ExpiresAfter sets endsAt that long after delivery, so Alertmanager
	// resolves the alert by itself; 0 leaves endsAt to Alertmanager's
	// resolve_timeout.
	ExpiresAfter     time.Duration
	ExtraLabels      map[string]string
	ExtraAnnotations map[string]string
	// SeverityMap overrides the severity label per Falco priority name
	// (lower case, e.g. "warning": "minor").
	SeverityMap map[string]string
	// LabelFields are output fields copied into labels (e.g. k8s.ns.name),
	// named with dots and other invalid characters replaced by "_".
	LabelFields   []string
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
	if c.ExpiresAfter < 0 {
		return errors.New("expiresafter must not be negative")
	}
	for k := range c.SeverityMap {
		if _, err := harrierv1.ParsePriority(k); err != nil {
			return fmt.Errorf("customseveritymap: %q is not a priority", k)
		}
	}
	for k := range c.ExtraLabels {
		if !validLabel.MatchString(k) {
			return fmt.Errorf("extralabels: %q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", k)
		}
	}
	return nil
}

// Output is an Alertmanager output.
type Output struct {
	cfg    Config
	url    string
	client *httpout.Client
	now    func() time.Time
}

// New builds an Alertmanager output.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	c, err := httpout.New(cfg.Name, cfg.Timeout, cfg.TLS)
	if err != nil {
		return nil, err
	}
	c.Headers = cfg.CustomHeaders
	for _, v := range cfg.CustomHeaders {
		c.Secrets = append(c.Secrets, v)
	}
	return &Output{cfg: cfg, url: strings.TrimRight(cfg.HostPort, "/") + cfg.Endpoint, client: c, now: time.Now}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error { o.client.Close(); return nil }

// Alert is one element of the alerts API v2 request body.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Deliver implements output.Output. Alertmanager validates the whole array
// and stores all or nothing, so a batch succeeds or fails as one.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	now := o.now()
	body := make([]Alert, len(alerts))
	for i, a := range alerts {
		body[i] = o.convert(a, now)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return output.Permanent(fmt.Errorf("alertmanager %s: %w", o.cfg.Name, err))
	}
	_, err = o.client.Do(ctx, http.MethodPost, o.url, b, map[string]string{"Content-Type": "application/json"})
	return err
}

// severity is the default severity label per priority, in the words
// Alertmanager routes commonly match on.
func severity(p harrierv1.Priority) string {
	switch {
	case p.AtLeast(harrierv1.Priority_PRIORITY_CRITICAL):
		return "critical"
	case p.AtLeast(harrierv1.Priority_PRIORITY_WARNING):
		return "warning"
	}
	return "info"
}

func (o *Output) convert(a *harrierv1.Alert, now time.Time) Alert {
	prio := strings.ToLower(a.GetPriority().FalcoName())
	sev := severity(a.GetPriority())
	if s, ok := o.cfg.SeverityMap[prio]; ok {
		sev = s
	}
	labels := map[string]string{
		"alertname": a.GetRule(),
		"rule":      a.GetRule(),
		"priority":  prio,
		"severity":  sev,
		"source":    a.GetSource(),
		"hostname":  a.GetHostname(),
	}
	if len(a.GetTags()) > 0 {
		tags := append([]string(nil), a.GetTags()...)
		sort.Strings(tags)
		labels["tags"] = strings.Join(tags, ",")
	}
	if c := a.GetClusterName(); c != "" {
		labels["cluster"] = c
	}
	for _, f := range o.cfg.LabelFields {
		if v, ok := a.GetOutputFields()[f]; ok {
			labels[message.LabelName(f)] = message.FieldString(v)
		}
	}
	for k, v := range o.cfg.ExtraLabels {
		labels[k] = v
	}
	for k, v := range labels {
		if v == "" { // Alertmanager drops empty labels; keep the set stable
			delete(labels, k)
		}
	}
	ann := map[string]string{"summary": message.Title(a), "description": a.GetOutput(), "uuid": a.GetId()}
	for k, v := range o.cfg.ExtraAnnotations {
		ann[k] = v
	}
	out := Alert{Labels: labels, Annotations: ann}
	start := now
	if t := a.GetTime(); t != nil {
		start = t.AsTime()
		out.StartsAt = start.UTC().Format(time.RFC3339Nano)
	}
	if o.cfg.ExpiresAfter > 0 {
		// From delivery, not the alert's time: an alert delivered late
		// (after an outage) still fires for the whole window.
		out.EndsAt = later(start, now).Add(o.cfg.ExpiresAfter).UTC().Format(time.RFC3339Nano)
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

var validLabel = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
