package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
)

func TestTemplateBodies(t *testing.T) {
	for _, tc := range []struct {
		name, format, tpl, ctype string
		want                     []string
	}{
		{"text", FormatSingle, `{{.Priority | upper}} {{.Rule}} on {{.Hostname}}: {{.Output}}`, "text/plain; charset=utf-8",
			[]string{"WARNING r on h: o a", "WARNING r on h: o b"}},
		{"json", FormatSingle, `{"text": {{printf "%q" .Output}}}`, "application/json",
			[]string{`{"text": "o a"}`, `{"text": "o b"}`}},
		{"ndjson", FormatNDJSON, `{{.ID}} {{.Rule}}`, "application/x-ndjson", []string{"a r\nb r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if ct := r.Header.Get("Content-Type"); ct != tc.ctype {
					http.Error(w, "content type "+ct, 400)
					return
				}
				mu.Lock()
				got = append(got, string(b))
				mu.Unlock()
			}))
			defer srv.Close()
			tpl, err := msgtemplate.Parse(tc.tpl)
			if err != nil {
				t.Fatal(err)
			}
			o, err := New(Config{Name: "webhook.chat", Address: srv.URL, Format: tc.format, Template: tpl})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a"), alert("b")}); err != nil {
				t.Fatal(err)
			}
			sort.Strings(got)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("bodies %q, want %q", got, tc.want)
			}
		})
	}
}
