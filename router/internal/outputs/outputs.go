// Package outputs is the factory between configuration and delivery: it
// turns each configured output (plain data from package config) into a
// delivery.Spec whose Build constructs the integration (webhook, file,
// stdout, elasticsearch, kafka). Adding an output kind is one case in Build
// plus its settings type in config.
package outputs

import (
	"fmt"
	"io"
	"strings"

	"github.com/harrier-security/harrier/router/internal/alertfilter"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/delivery"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/dedup"
	"github.com/harrier-security/harrier/router/internal/output/elasticsearch"
	"github.com/harrier-security/harrier/router/internal/output/file"
	"github.com/harrier-security/harrier/router/internal/output/kafka"
	"github.com/harrier-security/harrier/router/internal/output/stdout"
	"github.com/harrier-security/harrier/router/internal/output/webhook"
)

// Factory builds outputs. The zero value is ready to use.
type Factory struct {
	// Stdout receives the stdout outputs' lines (nil: os.Stdout).
	Stdout io.Writer
}

// Specs turns the configured outputs into delivery specs, in order.
// A condition that does not compile (config checks them at load, so only
// for a caller that skipped config) fails the output's Build, which
// Apply reports naming the output, keeping its running instance.
func (f Factory) Specs(outs []config.Output) []delivery.Spec {
	specs := make([]delivery.Spec, 0, len(outs))
	for _, o := range outs {
		var cond *alertfilter.Condition
		var condErr error
		if strings.TrimSpace(o.Condition) != "" {
			cond, condErr = alertfilter.CompileCondition(o.Condition)
		}
		specs = append(specs, delivery.Spec{
			Name: o.Name,
			Build: func() (output.Output, error) {
				if condErr != nil {
					return nil, fmt.Errorf("condition: %w", condErr)
				}
				return f.Build(o)
			},
			Filter:      alertfilter.New(o.Filter),
			Condition:   cond,
			Throttle:    delivery.Throttle{Rate: o.Throttle.Rate, Window: o.Throttle.Window, Fields: o.Throttle.Fields},
			BatchSize:   o.BatchSize,
			Backoff:     delivery.Backoff{Initial: o.Backoff.Initial, Max: o.Backoff.Max},
			Fingerprint: o.Fingerprint,
		})
	}
	return specs
}

// Build constructs the output o configures; file, webhook and stdout
// outputs deduplicate on the alert id within o.DedupWindow (a file output
// remembers the ids at the end of its file across restarts).
func (f Factory) Build(o config.Output) (output.Output, error) {
	out, err := f.build(o)
	if err != nil || o.DedupWindow <= 0 {
		return out, err
	}
	var seed []string
	if s, ok := o.Settings.(config.File); ok {
		seed = file.RecentIDs(s.Path, recentBytes)
	}
	return dedup.Wrap(out, o.DedupWindow, 0, seed), nil
}

// recentBytes is how much of a file output's end is read back for ids.
const recentBytes = 16 << 20

func (f Factory) build(o config.Output) (output.Output, error) {
	switch s := o.Settings.(type) {
	case config.Webhook:
		tpl, err := Template(o)
		if err != nil {
			return nil, err
		}
		return built(webhook.New(webhook.Config{
			Name: s.Name, Address: s.Address, Method: s.Method, CustomHeaders: s.CustomHeaders,
			Timeout: s.Timeout, Format: s.Format, Parallel: s.Parallel, TLS: s.TLS, Template: tpl,
		}))
	case config.File:
		return built(file.New(file.Config{Name: s.Name, Path: s.Path, Sync: s.Sync}))
	case config.Stdout:
		return built(stdout.New(stdout.Config{Name: s.Name, Format: s.Format, Writer: f.Stdout}))
	case config.Elasticsearch:
		return built(elasticsearch.New(elasticsearch.Config{
			Name: s.Name, HostPort: s.HostPort, Index: s.Index, Type: s.Type, Suffix: elasticsearch.Suffix(s.Suffix),
			Username: s.Username, Password: s.Password, APIKey: s.APIKey, CustomHeaders: s.CustomHeaders,
			TLS: s.TLS, Timeout: s.Timeout, SkipTemplate: s.SkipTemplate, CompressionDisabled: s.CompressionDisabled,
			Shards: s.Shards, Replicas: s.Replicas, Pipeline: s.Pipeline, Format: s.Format,
		}))
	case config.Kafka:
		return built(kafka.New(kafka.Config{
			Name: s.Name, HostPort: s.HostPort, Topic: s.Topic, Key: s.Key, RequiredAcks: s.RequiredAcks,
			Compression: s.Compression, Balancer: s.Balancer, BatchBytes: s.BatchBytes, BatchTimeout: s.BatchTimeout,
			Timeout: s.Timeout, ClientID: s.ClientID, AllowAutoTopicCreation: s.AllowAutoTopicCreation, TLS: s.TLS,
			SASL:   kafka.SASL{Mechanism: s.SASL.Mechanism, Username: s.SASL.Username, Password: s.SASL.Password},
			Format: s.Format,
		}))
	}
	if out, ok, err := buildIntegration(o); ok {
		return out, err
	}
	return nil, fmt.Errorf("output %s: unknown kind %q (settings %T)", o.Name, o.Kind, o.Settings)
}

// Template is o's message template (nil when none is set), for the
// outputs that write a human message.
func Template(o config.Output) (*msgtemplate.Template, error) {
	if o.Template == "" {
		return nil, nil
	}
	t, err := msgtemplate.Parse(o.Template)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return t, nil
}

// built keeps a failed constructor's typed nil out of the interface.
func built[T output.Output](o T, err error) (output.Output, error) {
	if err != nil {
		return nil, err
	}
	return o, nil
}
