// Package redact is the one rule for hiding secrets in what Harrier
// prints: log lines, error strings, health reports, `config show`. It
// replaces URL credentials (user:password@), the values of query
// parameters and configuration keys whose names say secret (token, key,
// secret, password, auth, signature, ...), bearer and basic credentials,
// and the values of sensitive headers.
package redact

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "REDACTED"

// secretWords mark a key, query parameter or header name as secret.
var secretWords = []string{"password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "api-key", "key",
	"auth", "credential", "signature", "sig", "session", "cookie", "private", "webhookurl"}

// IsSecretKey reports whether a configuration key, query parameter or
// header name names a secret. Names of files holding one (token_file,
// key_file) are paths, not secrets.
func IsSecretKey(name string) bool {
	k := strings.ToLower(name)
	if strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "file") || strings.HasSuffix(k, "_path") {
		return false
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// URL hides the password of the userinfo (and the user when there is no
// password: a lone user is often a token) and the values of secret query
// parameters. A string that does not parse as an absolute URL comes back
// through String.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return String(s)
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else {
			u.User = url.User(Mask)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = Mask
		} else {
			changed := false
			for k, vs := range q {
				if IsSecretKey(k) {
					for i := range vs {
						vs[i] = Mask
					}
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		}
	}
	return u.String()
}

var (
	urlRE = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)
	// Authorization values (Bearer, Basic, or a bare token after the
	// header name) and header-like "name: value" / "name=value" pairs of
	// secret names.
	schemeRE = regexp.MustCompile(`\b(Bearer|Basic|bearer|Token)\s+[A-Za-z0-9._~+/=-]{8,}`)
	pairRE   = regexp.MustCompile(`(?i)\b([a-z0-9_-]*(?:password|passwd|secret|token|apikey|api_key|api-key|authorization|x-api-key|credential|signature)[a-z0-9_-]*)(\s*[:=]\s*)("[^"]*"|[^\s,;&"]+)`)
)

// String hides every secret form found in free text: URLs with
// credentials or secret query parameters, Bearer/Basic credentials and
// "name: value" or "name=value" pairs whose name says secret.
func String(s string) string {
	if s == "" {
		return s
	}
	s = urlRE.ReplaceAllStringFunc(s, func(m string) string {
		u, err := url.Parse(m)
		if err != nil {
			return Mask
		}
		return redactURL(u)
	})
	s = schemeRE.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.IndexAny(m, " \t")
		return m[:i+1] + Mask
	})
	s = pairRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := pairRE.FindStringSubmatch(m)
		if sub[3] == Mask || strings.HasPrefix(sub[3], Mask) || strings.EqualFold(sub[3], "bearer") || strings.EqualFold(sub[3], "basic") {
			return m
		}
		if strings.HasSuffix(strings.ToLower(sub[1]), "_file") {
			return m
		}
		return sub[1] + sub[2] + Mask
	})
	return s
}

// Secrets hides the given literal values wherever they appear (tokens
// and passwords the configuration holds, in whatever form they leak).
func Secrets(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, Mask)
		}
	}
	return s
}

// Handler wraps a slog.Handler so that every log line passes String:
// the message, string and error attributes, and groups. Log calls need no
// care of their own.
func Handler(h slog.Handler, secrets ...string) slog.Handler {
	return &handler{next: h, secrets: secrets}
}

type handler struct {
	next    slog.Handler
	secrets []string
}

func (h *handler) clean(s string) string { return Secrets(String(s), h.secrets) }

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, h.clean(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, nr)
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if IsSecretKey(a.Key) && v.String() != "" {
			return slog.String(a.Key, Mask)
		}
		return slog.String(a.Key, h.clean(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.clean(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, h.clean(x.String()))
		case []string:
			out := make([]string, len(x))
			for i, s := range x {
				out[i] = h.clean(s)
			}
			return slog.Any(a.Key, out)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return &handler{next: h.next.WithAttrs(out), secrets: h.secrets}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), secrets: h.secrets}
}
