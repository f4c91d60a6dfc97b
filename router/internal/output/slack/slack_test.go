package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
	"github.com/harrier-security/harrier/router/internal/output"
)

func alert(id string) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "Terminal shell", Priority: harrierv1.Priority_PRIORITY_CRITICAL, Source: "syscall",
		Output: "shell in container " + id, Time: timestamppb.New(time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)), Hostname: "node-1",
		OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "prod"}}}}
}

type answer struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func answers(t *testing.T) map[string]answer {
	b, err := os.ReadFile("testdata/slack-answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]answer{}
	for k, v := range raw {
		var a answer
		if json.Unmarshal(v, &a) == nil {
			out[k] = a
		}
	}
	return out
}

// peer follows the incoming-webhook contracts: a POST of JSON to the
// webhook path. No Slack, Mattermost, Teams or Google Chat can run here, so
// it checks what each documents as required and answers as documented.
type peer struct {
	mu     sync.Mutex
	bodies []map[string]any
	answer answer
}

func (p *peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	p.bodies = append(p.bodies, m)
	w.WriteHeader(p.answer.Status)
	_, _ = io.WriteString(w, p.answer.Body)
}

func TestFlavours(t *testing.T) {
	ans := answers(t)
	tests := []struct {
		flavour, format string
		check           func(m map[string]any) bool
	}{
		{Slack, FormatAll, func(m map[string]any) bool {
			at := m["attachments"].([]any)[0].(map[string]any)
			return m["channel"] == "#sec" && at["color"] == "#e01e5a" && strings.Contains(at["text"].(string), "shell in container a") &&
				len(at["fields"].([]any)) == 5 && at["ts"].(float64) > 0
		}},
		{Mattermost, FormatText, func(m map[string]any) bool {
			at := m["attachments"].([]any)[0].(map[string]any)
			return at["fields"] == nil && at["text"] != nil
		}},
		{Teams, FormatAll, func(m map[string]any) bool {
			at := m["attachments"].([]any)[0].(map[string]any)
			card := at["content"].(map[string]any)
			return m["type"] == "message" && at["contentType"] == "application/vnd.microsoft.card.adaptive" &&
				card["type"] == "AdaptiveCard" && len(card["body"].([]any)) == 3
		}},
		{GoogleChat, FormatFields, func(m map[string]any) bool {
			s := m["text"].(string)
			return strings.HasPrefix(s, "*Critical: Terminal shell*") && strings.Contains(s, "k8s.ns.name: `prod`") && !strings.Contains(s, "shell in container")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.flavour, func(t *testing.T) {
			p := &peer{answer: ans["ok"]}
			srv := httptest.NewServer(p)
			defer srv.Close()
			o, err := New(Config{Name: tt.flavour, WebhookURL: srv.URL + "/services/T0/B0/XXXXXXXXXXXX", Flavour: tt.flavour, Format: tt.format, Channel: "#sec"})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a"), alert("b")}); err != nil {
				t.Fatal(err)
			}
			if len(p.bodies) != 2 || !tt.check(p.bodies[0]) {
				t.Fatalf("bodies %v", p.bodies)
			}
		})
	}
}

func TestAnswersAreReportedAndClassified(t *testing.T) {
	ans := answers(t)
	for name, permanent := range map[string]bool{"invalid_payload": true, "invalid_token": true, "no_service": true,
		"channel_is_archived": true, "rate_limited": false, "rollup_error": false} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(&peer{answer: ans[name]})
			defer srv.Close()
			url := srv.URL + "/services/T0/B0/SECRETTOKEN123"
			o, err := New(Config{Name: "slack", WebhookURL: url})
			if err != nil {
				t.Fatal(err)
			}
			err = o.Deliver(context.Background(), []*harrierv1.Alert{alert("a")})
			var pe *output.PartialError
			if errors.As(err, &pe) {
				err = pe.Items[0].Err
			}
			if err == nil || output.IsPermanent(err) != permanent || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v, permanent %v want %v", err, output.IsPermanent(err), permanent)
			}
			if strings.Contains(err.Error(), "SECRETTOKEN123") {
				t.Fatalf("secret in %v", err)
			}
		})
	}
}

func TestTemplateReplacesText(t *testing.T) {
	tpl, err := msgtemplate.Parse(`{{.Priority}} on {{.Hostname}}: {{field "k8s.ns.name"}}`)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{answer: answer{Status: 200, Body: "ok"}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	o, err := New(Config{Name: "googlechat", WebhookURL: srv.URL + "/v1/spaces/x", Flavour: GoogleChat, Format: FormatText, Template: tpl})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a")}); err != nil {
		t.Fatal(err)
	}
	if got := p.bodies[0]["text"]; got != "*Critical: Terminal shell*\nCritical on node-1: prod" {
		t.Fatalf("text %q", got)
	}
}
