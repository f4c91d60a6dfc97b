package webhook

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
)

// FuzzWebhookBody feeds arbitrary bodies through the webhook's handler: it
// must never panic, must answer 200, 400 or 413 (or 503 when full), and must
// queue events exactly when it answers 200.
func FuzzWebhookBody(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","auditID":"a","verb":"create"}]}`,
		`{"kind":"Event","auditID":"a","objectRef":{"resource":"pods"},"requestObject":{"spec":{"containers":[{"securityContext":{"privileged":true}}]}}}`,
		`[{"auditID":"x"},{"auditID":"y"}]`,
		`{"auditID":"x"}` + "\n" + `{"auditID":"y"}`,
		`{"kind":"EventList","items":[{`, `{"auditID":1}`, `null`, `""`, ``, `{}`, `[[]]`,
		`{"kind":"EventList","items":null}`,
	} {
		f.Add([]byte(seed))
	}
	files, _ := filepath.Glob("../../../../../shared/testdata/falco/k8s_audit/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	var got int
	// Acknowledged once queued: the fuzz run has no workers to evaluate.
	s := New(Config{MaxBodyBytes: 1 << 20, QueueEvents: 1 << 20, AckQueued: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(evs []*k8saudit.Event) error { return nil })
	f.Fuzz(func(t *testing.T, body []byte) {
		before := s.Queued()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/k8s_audit", bytes.NewReader(body)))
		after := s.Queued()
		// Drain what was queued: the fuzz run has no workers.
		for after > 0 {
			evs := (<-s.queue).events
			for _, ev := range evs {
				_ = ev.Time()
				_ = ev.AuditID()
			}
			s.queued.Add(-int64(len(evs)))
			after = s.Queued()
			got += len(evs)
		}
		switch rec.Code {
		case http.StatusOK:
			if _, err := DecodeBody(body); err != nil {
				t.Fatalf("200 for a body that does not decode: %v", err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if s.Queued() != before {
				t.Fatal("events queued for a refused body")
			}
			if rec.Body.Len() == 0 {
				t.Fatal("refusal without a reason")
			}
		default:
			t.Fatalf("unexpected status %d", rec.Code)
		}
	})
}

// FuzzSplitMatchesDecoder checks the EventList fast path against the
// general decoder: whenever the fast path accepts a body, the decoder must
// accept it too and find the same events.
func FuzzSplitMatchesDecoder(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","auditID":"a"},{"auditID":"b","verb":"get"}]}`,
		`{"kind":"EventList","items":[]}`, `{"kind":"EventList"}`, `{"items":[{"auditID":"a"}],"kind":"EventList","metadata":{}}`,
		`{"kind":"EventList","items":[{"auditID":"a"}}`, `{"kind":"EventList","items":[{"auditID":"a\"}"}]}`,
		`{"kind":"EventList","Items":[{"auditID":"x"}],"items":[{"auditID":"a"}]}`,
		` {"kind" : "EventList" , "items" : [ {"auditID":"a"} , {"auditID":"b"} ] } `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := splitEventList(body)
		if !ok {
			return
		}
		var slow []*k8saudit.Event
		err := k8saudit.DecodeBytes(body, func(ev *k8saudit.Event) error {
			slow = append(slow, ev)
			return nil
		})
		if err != nil {
			t.Fatalf("fast path accepted a body the decoder refuses (%v): %q", err, body)
		}
		if len(fast) != len(slow) {
			t.Fatalf("fast path found %d events, decoder %d: %q", len(fast), len(slow), body)
		}
		for i := range fast {
			if fast[i].AuditID() != slow[i].AuditID() || !bytes.Equal(bytes.TrimSpace(fast[i].Raw()), bytes.TrimSpace(slow[i].Raw())) {
				t.Fatalf("event %d differs: %q vs %q", i, fast[i].Raw(), slow[i].Raw())
			}
		}
	})
}
