package pagerduty

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
	"github.com/harrier-security/harrier/router/internal/output"
)

const key = "0123456789abcdef0123456789abcdef"

func alert(id string, p harrierv1.Priority) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "Terminal shell", Priority: p, Source: "syscall", Output: "shell " + id,
		Time: timestamppb.New(time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)), Hostname: "node-1", ClusterName: "eu1"}
}

type answer struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

func answers(t *testing.T) map[string]answer {
	b, err := os.ReadFile("testdata/answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]answer
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// enqueue follows the Events API v2 contract (no PagerDuty is reachable
// from here): it checks the fields PagerDuty requires and answers with the
// documented bodies. Events with a known dedup_key update, not add.
type enqueue struct {
	mu       sync.Mutex
	ans      map[string]answer
	force    string
	incident map[string]Event
}

func (p *enqueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	reply := func(a answer) { w.WriteHeader(a.Status); _, _ = w.Write(a.Body) }
	if p.force != "" {
		reply(p.ans[p.force])
		return
	}
	var e Event
	b, _ := io.ReadAll(r.Body)
	if r.URL.Path != "/v2/enqueue" || json.Unmarshal(b, &e) != nil || len(e.RoutingKey) != 32 || e.EventAction != "trigger" ||
		e.Payload.Summary == "" || e.Payload.Source == "" || len(e.Payload.Summary) > 1024 ||
		!strings.Contains(" critical error warning info ", " "+e.Payload.Severity+" ") {
		reply(p.ans["invalid"])
		return
	}
	if p.incident == nil {
		p.incident = map[string]Event{}
	}
	p.incident[e.DedupKey] = e
	w.WriteHeader(202)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": e.DedupKey})
}

func TestDocumentedExampleAccepted(t *testing.T) {
	b, err := os.ReadFile("testdata/trigger.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&enqueue{ans: answers(t)})
	defer srv.Close()
	res, err := http.Post(srv.URL+"/v2/enqueue", "application/json", strings.NewReader(string(b)))
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("peer refused the documented example: %v %v", res, err)
	}
}

func TestDeliverDedupsByAlertID(t *testing.T) {
	p := &enqueue{ans: answers(t)}
	srv := httptest.NewServer(p)
	defer srv.Close()
	o, err := New(Config{Name: "pagerduty", RoutingKey: key, URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	long := alert("b", harrierv1.Priority_PRIORITY_NOTICE)
	long.Output = strings.Repeat("x", 3000)
	batch := []*harrierv1.Alert{alert("a", harrierv1.Priority_PRIORITY_EMERGENCY), long, alert("a", harrierv1.Priority_PRIORITY_EMERGENCY)}
	if err := o.Deliver(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(p.incident) != 2 {
		t.Fatalf("incidents %v", p.incident)
	}
	a := p.incident["a"].Payload
	if a.Severity != "critical" || a.Source != "node-1" || a.Class != "Terminal shell" || a.Group != "eu1" || !strings.Contains(string(a.CustomDetails), `"uuid":"a"`) {
		t.Fatalf("payload %+v", a)
	}
	if p.incident["b"].Payload.Severity != "info" {
		t.Fatalf("b %+v", p.incident["b"])
	}
}

func TestAnswers(t *testing.T) {
	for _, tt := range []struct {
		force     string
		permanent bool
		want      string
	}{{"invalid", true, "Length of 'routing_key'"}, {"throttled", false, "HTTP 429"}} {
		t.Run(tt.force, func(t *testing.T) {
			srv := httptest.NewServer(&enqueue{ans: answers(t), force: tt.force})
			defer srv.Close()
			o, _ := New(Config{Name: "pagerduty", RoutingKey: key, URL: srv.URL})
			err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a", harrierv1.Priority_PRIORITY_ERROR)})
			var pe *output.PartialError
			if errors.As(err, &pe) {
				err = pe.Items[0].Err
			}
			if err == nil || output.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{RoutingKey: "short"}, {RoutingKey: key, Region: "ap"}, {RoutingKey: key, URL: "ftp://x"}} {
		if c.Validate() == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
