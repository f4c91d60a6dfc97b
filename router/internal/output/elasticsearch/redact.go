package elasticsearch

import (
	"log/slog"
	"sort"
)

// LogValue renders c for logs without its secrets (password, API key,
// custom header values, which often carry tokens).
func (c Config) LogValue() slog.Value {
	headers := make([]string, 0, len(c.CustomHeaders))
	for k := range c.CustomHeaders {
		headers = append(headers, k)
	}
	sort.Strings(headers)
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("hostport", c.HostPort),
		slog.String("index", c.Index),
		slog.String("suffix", string(c.Suffix)),
		slog.String("username", c.Username),
		slog.Bool("password_set", c.Password != ""),
		slog.Bool("apikey_set", c.APIKey != ""),
		slog.Any("customheaders", headers),
		slog.String("cacert", c.TLS.CAFile),
		slog.String("clientcert", c.TLS.CertFile),
		slog.Bool("checkcert", !c.TLS.InsecureSkipVerify),
	)
}

// String is LogValue as text, so printing a Config never shows a secret.
func (c Config) String() string { return c.LogValue().String() }

// GoString keeps %#v from printing the secrets too.
func (c Config) GoString() string { return c.String() }
