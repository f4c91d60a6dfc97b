package httpout

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

func TestExcerptRedactsAndBounds(t *testing.T) {
	c := &Client{Secrets: []string{"tok-SECRET-1"}}
	tests := []struct{ in, want, absent string }{
		{"bad token tok-SECRET-1\n  here", "bad token [REDACTED] here", "tok-SECRET-1"},
		{`{"url":"https://user:pw@host/x"}`, `{"url":"https://[REDACTED]@host/x"}`, "pw@"},
		{strings.Repeat("é", 400), "…", "\ufffd"},
	}
	for _, tt := range tests {
		got := c.Excerpt([]byte(tt.in))
		if !strings.Contains(got, tt.want) || (tt.absent != "" && strings.Contains(got, tt.absent)) || len(got) > ExcerptBytes+8 {
			t.Errorf("Excerpt(%.40q) = %.80q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDoClassifies(t *testing.T) {
	for _, tt := range []struct {
		status    int
		permanent bool
	}{{400, true}, {401, true}, {404, true}, {408, false}, {429, false}, {500, false}, {503, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "answer for "+r.Header.Get("X-Key"), tt.status)
		}))
		c, err := New("out", 0, tlsconfig.Client{})
		if err != nil {
			t.Fatal(err)
		}
		c.Headers, c.Secrets = map[string]string{"X-Key": "k-12345"}, []string{"k-12345"}
		_, err = c.Do(context.Background(), http.MethodPost, srv.URL, nil, nil)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != tt.status || output.IsPermanent(err) != tt.permanent ||
			!strings.Contains(err.Error(), "answer for [REDACTED]") {
			t.Errorf("%d: err = %v", tt.status, err)
		}
		srv.Close()
	}
	c, _ := New("out", 0, tlsconfig.Client{})
	if _, err := c.Do(context.Background(), http.MethodPost, "http://127.0.0.1:1/", nil, nil); err == nil || output.IsPermanent(err) {
		t.Errorf("unreachable: %v", err)
	}
}

func TestEachAlert(t *testing.T) {
	alerts := []*harrierv1.Alert{{Id: "a"}, {Id: "b"}}
	down := errors.New("down")
	if err := EachAlert(context.Background(), alerts, func(context.Context, *harrierv1.Alert) error { return down }); err != down {
		t.Fatalf("all transient: %v", err)
	}
	err := EachAlert(context.Background(), alerts, func(_ context.Context, a *harrierv1.Alert) error {
		if a.GetId() == "b" {
			return output.Permanent(errors.New("refused"))
		}
		return nil
	})
	var pe *output.PartialError
	if !errors.As(err, &pe) || len(pe.Items) != 1 || pe.Items[0].Index != 1 {
		t.Fatalf("partial: %v", err)
	}
}
