package splunk

import (
	"bytes"
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
	"github.com/harrier-security/harrier/router/internal/output"
)

const token = "11111111-2222-3333-4444-555555555555"

func alert(id string) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "Terminal shell", Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall",
		Output: "shell " + id, Time: timestamppb.New(time.Date(2026, 11, 24, 1, 2, 3, 500000000, time.UTC)), Hostname: "node-1"}
}

func answers(t *testing.T) map[string]struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
} {
	b, err := os.ReadFile("testdata/hec-answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]struct {
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	}{}
	for k, v := range raw {
		var a struct {
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		}
		if json.Unmarshal(v, &a) == nil && a.Status != 0 {
			out[k] = a
		}
	}
	return out
}

// hec follows HEC's published contract (no Splunk can run here): the token
// in "Authorization: Splunk <token>", a body of concatenated JSON event
// envelopes each with an "event", answers from testdata.
type hec struct {
	mu     sync.Mutex
	events []Event
	answer func(events []Event) (int, []byte)
}

func (h *hec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	reply := func(code int, body string) { w.WriteHeader(code); _, _ = io.WriteString(w, body) }
	if r.URL.Path != DefaultEndpoint {
		reply(404, `{"text":"The requested URL was not found on this server.","code":404}`)
		return
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		reply(401, `{"text":"Token is required","code":2}`)
		return
	}
	if auth != "Splunk "+token {
		reply(403, `{"text":"Invalid token","code":4}`)
		return
	}
	b, _ := io.ReadAll(r.Body)
	dec := json.NewDecoder(bytes.NewReader(b))
	var evs []Event
	for n := 0; dec.More(); n++ {
		var e Event
		if err := dec.Decode(&e); err != nil || len(e.Event) == 0 {
			reply(400, `{"text":"Event field is required","code":12,"invalid-event-number":`+itoa(n)+`}`)
			return
		}
		evs = append(evs, e)
	}
	if len(evs) == 0 {
		reply(400, `{"text":"No data","code":5}`)
		return
	}
	if h.answer != nil {
		code, body := h.answer(evs)
		if code != 200 {
			w.WriteHeader(code)
			_, _ = w.Write(body)
			return
		}
	}
	h.events = append(h.events, evs...)
	reply(200, `{"text":"Success","code":0}`)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestDeliverBatch(t *testing.T) {
	h := &hec{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	o, err := New(Config{Name: "splunk", HostPort: srv.URL, Token: token, Index: "security"})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a"), alert("b")}); err != nil {
		t.Fatal(err)
	}
	if len(h.events) != 2 {
		t.Fatalf("events %+v", h.events)
	}
	e := h.events[1]
	var ev map[string]any
	_ = json.Unmarshal(e.Event, &ev)
	if e.Index != "security" || e.SourceType != "falco" || e.Source != "harrier" || e.Host != "node-1" || e.Time != 1795482123.5 || ev["uuid"] != "b" {
		t.Fatalf("event %+v %v", e, ev)
	}
}

func TestAnswers(t *testing.T) {
	ans := answers(t)
	tests := []struct {
		answer    string
		token     string
		permanent bool
		want      string
		partial   bool // only the event HEC named is permanent
	}{
		{"invalid_token", "wrong-token-0000", true, "HTTP 403: {\"text\":\"Invalid token\",\"code\":4}", false},
		{"server_busy", token, false, "HTTP 503", false},
		{"incorrect_index", token, true, "Incorrect index", true},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			a := ans[tt.answer]
			h := &hec{answer: func([]Event) (int, []byte) { return a.Status, a.Body }}
			srv := httptest.NewServer(h)
			defer srv.Close()
			o, err := New(Config{Name: "splunk", HostPort: srv.URL, Token: tt.token})
			if err != nil {
				t.Fatal(err)
			}
			err = o.Deliver(context.Background(), []*harrierv1.Alert{alert("a"), alert("b")})
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), tt.token) {
				t.Fatalf("err = %v", err)
			}
			var pe *output.PartialError
			if tt.partial {
				if !errors.As(err, &pe) || len(pe.Items) != 2 || output.IsPermanent(pe.Items[0].Err) || !output.IsPermanent(pe.Items[1].Err) {
					t.Fatalf("partial: %#v", err)
				}
				return
			}
			if output.IsPermanent(err) != tt.permanent {
				t.Fatalf("permanent = %v: %v", output.IsPermanent(err), err)
			}
		})
	}
}
