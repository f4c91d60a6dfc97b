package redact_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/proto/redact"
)

func TestStringHidesEverySecretForm(t *testing.T) {
	tests := []struct {
		in     string
		secret string
		keep   string
	}{
		{`Post "https://hooks.example/x?token=s3cr3t-tok&team=a": dial tcp: connection refused`, "s3cr3t-tok", "team=a"},
		{`https://alice:pa55word@es.example:9200/_bulk`, "pa55word", "alice"},
		{`kafka://AKIAUSERTOKEN@broker:9092`, "AKIAUSERTOKEN", "broker:9092"},
		{`request failed: Authorization: Bearer eyJhbGciOi.abc.def`, "eyJhbGciOi.abc.def", "request failed"},
		{`header X-Api-Key: k3y-value-123 refused`, "k3y-value-123", "refused"},
		{`basic auth Basic YWxpY2U6cGFzcw==`, "YWxpY2U6cGFzcw==", "basic auth"},
		{`password=hunter22 user=bob`, "hunter22", "user=bob"},
		{`https://h.example/?api_key=abcd1234&sig=zzzz9999`, "abcd1234", "h.example"},
		{`token_file=/etc/harrier/token`, "", "/etc/harrier/token"},
	}
	for _, tc := range tests {
		got := redact.String(tc.in)
		if tc.secret != "" && strings.Contains(got, tc.secret) {
			t.Errorf("%q -> %q still shows %q", tc.in, got, tc.secret)
		}
		if !strings.Contains(got, tc.keep) {
			t.Errorf("%q -> %q lost %q", tc.in, got, tc.keep)
		}
	}
}

func TestURL(t *testing.T) {
	got := redact.URL("https://u:p4ss@h.example/a?token=t0ken1&x=1")
	if strings.Contains(got, "p4ss") || strings.Contains(got, "t0ken1") || !strings.Contains(got, "x=1") || !strings.Contains(got, "u:") {
		t.Fatalf("URL: %s", got)
	}
}

func TestHandlerRedactsEveryAttribute(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redact.Handler(slog.NewJSONHandler(&buf, nil), "literal-secret-value"))
	log = log.With("endpoint", "https://a:b1234567@h/")
	log.Error("delivery to https://h/?token=tok-in-msg failed",
		"err", errors.New(`Post "https://h/x?key=key-in-err": EOF`),
		"token", "tok-as-attr",
		slog.Group("out", "url", "https://h/?secret=sec-in-group"),
		"note", "saw literal-secret-value",
	)
	out := buf.String()
	for _, s := range []string{"b1234567", "tok-in-msg", "key-in-err", "tok-as-attr", "sec-in-group", "literal-secret-value"} {
		if strings.Contains(out, s) {
			t.Errorf("log line shows %q: %s", s, out)
		}
	}
	if !strings.Contains(out, "delivery to") {
		t.Fatalf("message lost: %s", out)
	}
}
