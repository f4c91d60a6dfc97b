package config

import (
	"log/slog"
	"net/url"
)

// OutputSummary describes an output without any secret.
type OutputSummary struct {
	Name            string `json:"name"`
	Kind            string `json:"kind"`
	Target          string `json:"target,omitempty"`
	MinimumPriority string `json:"minimumpriority,omitempty"`
}

// Summaries describe the outputs for logs and `config validate`; they never
// contain passwords, keys, tokens or header values.
func (c *Config) Summaries() []OutputSummary {
	out := make([]OutputSummary, 0, len(c.Outputs))
	for _, o := range c.Outputs {
		s := OutputSummary{Name: o.Name, Kind: o.Kind, MinimumPriority: o.Filter.GetMinPriority().FalcoName()}
		if t := kinds[o.Kind].target; t != nil {
			s.Target = t(o.Settings)
		}
		out = append(out, s)
	}
	return out
}

// redactURL drops userinfo and the query (tokens often hide there).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.String()
}

// Secrets are the literal tokens of the configuration, for log redaction
// (redact.Handler) of forms no pattern recognises.
func (c *Config) Secrets() []string {
	out := append(append(append([]string{}, c.GRPC.IngestTokens...), c.GRPC.ClientTokens...), c.GRPC.AdminTokens...)
	if c.HTTP.Token != "" {
		out = append(out, c.HTTP.Token)
	}
	return out
}

// LogValue makes slog print the summary, never the settings themselves.
func (c *Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("grpc", c.GRPC.Address), slog.Bool("grpc_tls", c.GRPC.TLS.Enabled()),
		slog.String("http", c.HTTP.Address), slog.Bool("http_tls", c.HTTP.TLS.Enabled()),
		slog.String("data_dir", c.DataDir), slog.String("journal", c.Journal.Backend),
	}
	if k := c.Journal.Kafka; k != nil {
		attrs = append(attrs, slog.Any("journal_brokers", k.Brokers), slog.String("journal_topic", k.Topic))
	}
	for _, s := range c.Summaries() {
		attrs = append(attrs, slog.Group("output."+s.Name, "kind", s.Kind, "target", s.Target, "minimumpriority", s.MinimumPriority))
	}
	return slog.GroupValue(attrs...)
}
