package loki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

var t0 = time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)

func alert(id, ns string) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "Terminal shell", Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall",
		Output: "shell " + id, Time: timestamppb.New(t0), Hostname: "node-1", Tags: []string{"shell"},
		OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: ns}}}}
}

// lokiPeer follows Loki's published push API contract (testdata/README.md):
// no Loki can run here and its code is AGPL. It validates what Loki
// validates (tenant when multi-tenant, label names, non-empty streams,
// timestamps as decimal nanoseconds) and stores the lines by tenant.
type lokiPeer struct {
	mu          sync.Mutex
	multiTenant bool
	lines       map[string][]Stream // by tenant
	status      int                 // forced answer when non-zero
}

var labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (p *lokiPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != 0 {
		http.Error(w, "Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec)", p.status)
		return
	}
	if r.URL.Path != DefaultEndpoint || r.Method != http.MethodPost {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	tenant := r.Header.Get("X-Scope-OrgID")
	if p.multiTenant && tenant == "" {
		http.Error(w, "no org id", http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "unsupported Content-Type", http.StatusUnsupportedMediaType)
		return
	}
	var push Push
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &push); err != nil {
		http.Error(w, "loghttp.PushRequest.Streams: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, s := range push.Streams {
		if len(s.Stream) == 0 {
			http.Error(w, "error parsing labels {}: at least one label pair is required per stream", http.StatusBadRequest)
			return
		}
		for k, v := range s.Stream {
			if !labelRE.MatchString(k) || v == "" {
				http.Error(w, fmt.Sprintf("error parsing labels: invalid label %q=%q", k, v), http.StatusBadRequest)
				return
			}
		}
		for _, v := range s.Values {
			if _, err := strconv.ParseInt(v[0], 10, 64); err != nil {
				http.Error(w, "invalid timestamp "+v[0], http.StatusBadRequest)
				return
			}
		}
	}
	if p.lines == nil {
		p.lines = map[string][]Stream{}
	}
	p.lines[tenant] = append(p.lines[tenant], push.Streams...)
	w.WriteHeader(http.StatusNoContent)
}

func TestContractExampleAccepted(t *testing.T) {
	b, err := os.ReadFile("testdata/push-request.json")
	if err != nil {
		t.Fatal(err)
	}
	p := &lokiPeer{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	res, err := http.Post(srv.URL+DefaultEndpoint, "application/json", strings.NewReader(string(b)))
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("peer refused the documented example: %v %v", res, err)
	}
}

func TestDeliverStreamsAndTenant(t *testing.T) {
	p := &lokiPeer{multiTenant: true}
	srv := httptest.NewServer(p)
	defer srv.Close()
	o, err := New(Config{Name: "loki", HostPort: srv.URL, Tenant: "team-a", LabelFields: []string{"k8s.ns.name"},
		ExtraLabels: map[string]string{"cluster": "eu1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a", "prod"), alert("b", "dev"), alert("c", "prod")}); err != nil {
		t.Fatal(err)
	}
	got := p.lines["team-a"]
	if len(got) != 2 {
		t.Fatalf("streams %+v", p.lines)
	}
	prod := got[0]
	if prod.Stream["k8s_ns_name"] != "prod" || prod.Stream["cluster"] != "eu1" || prod.Stream["priority"] != "warning" ||
		prod.Stream["tags"] != "shell" || len(prod.Values) != 2 || prod.Values[0][0] != strconv.FormatInt(t0.UnixNano(), 10) {
		t.Fatalf("prod stream %+v", prod)
	}
	if a, err := falcojson.Unmarshal([]byte(prod.Values[1][1])); err != nil || a.GetId() != "c" {
		t.Fatalf("line %q: %v", prod.Values[1][1], err)
	}
}

func TestRefusalsReported(t *testing.T) {
	tests := []struct {
		name      string
		peer      *lokiPeer
		cfg       Config
		permanent bool
		want      string
	}{
		{"missing tenant", &lokiPeer{multiTenant: true}, Config{}, true, "HTTP 401: no org id"},
		{"rate limited", &lokiPeer{status: 429}, Config{Tenant: "t"}, false, "HTTP 429: Ingestion rate limit"},
		{"bad label", &lokiPeer{}, Config{ExtraLabels: map[string]string{"bad-label": "x"}}, true, "HTTP 400: error parsing labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.peer)
			defer srv.Close()
			tt.cfg.Name, tt.cfg.HostPort = "loki", srv.URL
			tt.cfg.User, tt.cfg.APIKey = "123", "glc_SECRETKEY"
			o, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = o.Deliver(context.Background(), []*harrierv1.Alert{alert("a", "prod")})
			var se interface{ Error() string }
			if err == nil || output.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) || errors.As(err, &se) && strings.Contains(err.Error(), "SECRETKEY") {
				t.Fatalf("err = %v (permanent %v)", err, output.IsPermanent(err))
			}
		})
	}
}
