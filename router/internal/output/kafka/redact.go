package kafka

import "log/slog"

// LogValue renders c for logs without its SASL password.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", c.Name),
		slog.String("hostport", c.HostPort),
		slog.String("topic", c.Topic),
		slog.String("key", c.Key),
		slog.String("requiredacks", c.RequiredAcks),
		slog.String("compression", c.Compression),
		slog.String("balancer", c.Balancer),
		slog.Bool("tls", c.TLS != nil),
		slog.String("sasl", c.SASL.Mechanism),
		slog.String("username", c.SASL.Username),
		slog.Bool("password_set", c.SASL.Password != ""),
	}
	if c.TLS != nil {
		attrs = append(attrs, slog.String("cacert", c.TLS.CAFile), slog.String("clientcert", c.TLS.CertFile), slog.Bool("checkcert", !c.TLS.InsecureSkipVerify))
	}
	return slog.GroupValue(attrs...)
}

// String is LogValue as text, so printing a Config never shows a secret.
func (c Config) String() string { return c.LogValue().String() }

// GoString keeps %#v from printing the password too.
func (c Config) GoString() string { return c.String() }
