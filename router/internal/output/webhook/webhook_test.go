package webhook

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

func alert(id string) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "r", Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall",
		Output: "o " + id, Time: timestamppb.New(time.Date(2026, 11, 24, 1, 2, 3, 4, time.UTC)), Hostname: "h"}
}

func TestDeliverSingleSendsFalcoJSONWithHeaders(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a, err := falcojson.Unmarshal(b)
		if err != nil || r.Header.Get("X-Team") != "soc" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad", 400)
			return
		}
		mu.Lock()
		got[a.GetId()] = a.GetOutput()
		mu.Unlock()
	}))
	defer srv.Close()
	o, err := New(Config{Name: "webhook.soc", Address: srv.URL, CustomHeaders: map[string]string{"X-Team": "soc"}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a"), alert("b"), alert("c")}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["b"] != "o b" {
		t.Fatalf("server got %v", got)
	}
}

func TestDeliverClassifiesStatuses(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{{503, false}, {500, false}, {429, false}, {425, false}, {408, false}, {400, true}, {404, true}, {401, true}, {422, true}}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) }))
		o, _ := New(Config{Name: "w", Address: srv.URL})
		err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a")})
		if err == nil {
			t.Fatalf("%d: no error", tt.status)
		}
		perm := output.IsPermanent(err)
		var pe *output.PartialError
		if errors.As(err, &pe) {
			perm = output.IsPermanent(pe.Items[0].Err)
		}
		if perm != tt.permanent {
			t.Errorf("status %d: permanent = %v, want %v (%v)", tt.status, perm, tt.permanent, err)
		}
		srv.Close()
	}
}

func TestDeliverPartialFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if a, _ := falcojson.Unmarshal(b); a.GetId() == "bad" {
			http.Error(w, "mapping conflict", http.StatusUnprocessableEntity)
		}
	}))
	defer srv.Close()
	o, _ := New(Config{Name: "w", Address: srv.URL})
	err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a"), alert("bad"), alert("c")})
	var pe *output.PartialError
	if !errors.As(err, &pe) || len(pe.Items) != 1 || pe.Items[0].Index != 1 || !output.IsPermanent(pe.Items[0].Err) {
		t.Fatalf("err = %v", err)
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	o, _ := New(Config{Name: "w", Address: srv.URL, Timeout: 100 * time.Millisecond})
	err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a")})
	if err == nil || output.IsPermanent(err) {
		t.Fatalf("timeout: %v", err)
	}
}

func TestNDJSONOverTLS(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			if _, err := falcojson.Unmarshal(bytes.TrimSpace(sc.Bytes())); err == nil {
				n.Add(1)
			}
		}
	}))
	defer srv.Close()
	o, err := New(Config{Name: "w", Address: srv.URL, Format: FormatNDJSON})
	if err != nil {
		t.Fatal(err)
	}
	// The test server's certificate is not trusted: refused, but retried
	// (a certificate rotation may be in progress).
	if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a")}); err == nil || output.IsPermanent(err) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	o.client = srv.Client()
	o.client.Timeout = time.Second
	if err := o.Deliver(context.Background(), []*harrierv1.Alert{alert("a"), alert("b")}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Fatalf("server decoded %d alerts, want 2", n.Load())
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{Address: ""}, {Address: "ftp://x"}, {Address: "http://x", Format: "xml"}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
