package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
	"google.golang.org/protobuf/proto"
)

func falcoAlert(rule string) string {
	return fmt.Sprintf(`{"hostname":"h","output":"o","priority":"Warning","rule":%q,"source":"syscall","tags":["t"],"time":"2026-11-24T10:20:05.408091526Z","output_fields":{"proc.name":"bash","evt.num":7}}`, rule)
}

func storedRules(t *testing.T, j *journal.Journal) []string {
	t.Helper()
	r := j.NewReader(1)
	defer r.Close()
	var rules []string
	for {
		e, ok, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return rules
		}
		var a harrierv1.Alert
		if err := proto.Unmarshal(e.Data, &a); err != nil {
			t.Fatal(err)
		}
		if len(a.GetId()) != 36 || a.GetOutputFields()["evt.num"] == nil {
			t.Fatalf("stored alert %v lacks its id or fields", &a)
		}
		rules = append(rules, a.GetRule())
	}
}

func TestHTTPBodies(t *testing.T) {
	one, two := falcoAlert("one"), falcoAlert("two")
	pretty := strings.Replace(one, `,"rule"`, ",\n  \"rule\"", 1)
	tests := []struct {
		name, body string
		code       int
		rules      []string
		reason     string
	}{
		{"one alert (Falco http_output)", one, 200, []string{"one"}, ""},
		{"JSON lines", one + "\n\n" + two + "\n", 200, []string{"one", "two"}, ""},
		{"JSON array", " [" + one + " ,\n" + two + "] ", 200, []string{"one", "two"}, ""},
		{"pretty-printed object", pretty, 200, []string{"one"}, ""},
		{"bad second line", one + "\n{\"rule\":\n", 400, nil, "line 2"},
		{"bad array element", "[" + one + `,{"rule":"x"}]`, 400, nil, "array element 1"},
		{"empty array", "[]", 400, nil, "empty JSON array"},
		{"trailing data after array", "[" + one + "]]", 400, nil, "trailing data"},
		{"empty body", "  ", 400, nil, "empty body"},
		{"over the limit", "[" + strings.Repeat(one+",", 20) + one + "]", 413, nil, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := journal.Open(t.TempDir(), journal.Options{SyncInterval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			srv := httptest.NewServer(NewHTTP(j, nil, nil, "", 2048).WithAck(journal.AckWritten))
			defer srv.Close()
			resp, err := http.Post(srv.URL, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			reason, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(reason), tt.reason) {
				t.Fatalf("status %d %q, want %d mentioning %q", resp.StatusCode, reason, tt.code, tt.reason)
			}
			deadline := time.Now().Add(10 * time.Second)
			for j.Next()-1 != uint64(len(tt.rules)) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := storedRules(t, j); fmt.Sprint(got) != fmt.Sprint(tt.rules) && !(len(got) == 0 && tt.rules == nil) {
				t.Fatalf("stored %v, want %v", got, tt.rules)
			}
		})
	}
}

// Each policy answers 200 with the alert stored: "written" before its
// fsync (the journal has it in the file, not yet visible to readers when
// the window is long), "fsync" after.
func TestHTTPAckPolicies(t *testing.T) {
	for _, ack := range []journal.Ack{journal.AckWritten, journal.AckFsync} {
		t.Run(ack.String(), func(t *testing.T) {
			dir := t.TempDir()
			j, err := journal.Open(dir, journal.Options{SyncInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			srv := httptest.NewServer(NewHTTP(j, nil, nil, "", 0).WithAck(ack))
			defer srv.Close()
			resp, err := http.Post(srv.URL, "application/json", strings.NewReader(falcoAlert("r")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			visible := j.Next() == 2
			if visible != (ack == journal.AckFsync) {
				t.Fatalf("ack %v: fsynced and visible at the answer = %v", ack, visible)
			}
			// Whatever was answered is in the file for a restarted router.
			j2, err := journal.Open(dir, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j2.Close()
			if got := storedRules(t, j2); len(got) != 1 {
				t.Fatalf("the journal file holds %v after the answer", got)
			}
		})
	}
}

// Falco's compress_uploads, and an HTTP/2 client over one connection.
func TestHTTPGzipAndHTTP2(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{SyncInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	srv := httptest.NewUnstartedServer(NewHTTP(j, nil, nil, "", 0).WithAck(journal.AckWritten))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(falcoAlert("gz")))
	zw.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, &zb)
	req.Header.Set("Content-Encoding", "gzip")
	for i := 0; i < 3; i++ {
		if i > 0 {
			req, _ = http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(falcoAlert("h2")))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("request %d: status %d over %s, want 200 over HTTP/2", i, resp.StatusCode, resp.Proto)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for j.Next() != 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := storedRules(t, j); fmt.Sprint(got) != "[gz h2 h2]" {
		t.Fatalf("stored %v", got)
	}
}

// BenchmarkHTTPOneAlertPerRequest is Falco's http_output against the
// handler: one keep-alive connection, one alert per request, each answer
// awaited. Profile it with -cpuprofile.
func BenchmarkHTTPOneAlertPerRequest(b *testing.B) {
	for _, ack := range []journal.Ack{journal.AckWritten, journal.AckFsync} {
		b.Run("ack="+ack.String(), func(b *testing.B) {
			j, err := journal.Open(b.TempDir(), journal.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			srv := httptest.NewServer(NewHTTP(j, nil, nil, "", 0).WithAck(ack))
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
			body := []byte(falcoAlert("bench"))
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}

// nopWriter is the least a ResponseWriter can be, so that
// BenchmarkHTTPHandler measures the handler and the journal, not the
// network or net/http.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkHTTPHandler is the handler path alone (body read, Falco JSON
// decode, journal append with the default ack): ns/op and allocs/op per
// request of one alert; "parallel" has concurrent requests share journal
// writes (group commit).
func BenchmarkHTTPHandler(b *testing.B) {
	body := []byte(falcoAlert("bench"))
	for _, par := range []bool{false, true} {
		b.Run(map[bool]string{false: "serial", true: "parallel"}[par], func(b *testing.B) {
			j, err := journal.Open(b.TempDir(), journal.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			h := NewHTTP(j, nil, nil, "", 0).WithAck(journal.AckWritten)
			one := func(r *http.Request, rd *bytes.Reader, w *nopWriter) {
				rd.Reset(body)
				r.Body = io.NopCloser(rd)
				clear(w.h)
				h.ServeHTTP(w, r)
			}
			newReq := func() (*http.Request, *bytes.Reader, *nopWriter) {
				r := httptest.NewRequest(http.MethodPost, "/", nil)
				r.ContentLength = int64(len(body))
				return r, bytes.NewReader(body), &nopWriter{h: http.Header{}}
			}
			b.ReportAllocs()
			if !par {
				r, rd, w := newReq()
				for b.Loop() {
					one(r, rd, w)
				}
				return
			}
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				r, rd, w := newReq()
				for pb.Next() {
					one(r, rd, w)
				}
			})
		})
	}
}

func TestAppendUUIDv7(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := string(appendUUIDv7(nil))
		u, err := uuid.Parse(s)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 || seen[s] {
			t.Fatalf("%q: %v version %d variant %v dup %v", s, err, u.Version(), u.Variant(), seen[s])
		}
		sec, nsec := u.Time().UnixTime()
		if d := time.Since(time.Unix(sec, nsec)); d < -time.Second || d > time.Minute {
			t.Fatalf("%q: time %v ago", s, d)
		}
		seen[s] = true
	}
}

// A body of undeclared length (chunked) goes through the limiting reader:
// stored when within the limit, 413 over it.
func TestHTTPChunkedBody(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{SyncInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	srv := httptest.NewServer(NewHTTP(j, nil, nil, "", 2048).WithAck(journal.AckWritten))
	defer srv.Close()
	one := falcoAlert("chunked")
	for _, tt := range []struct {
		body string
		code int
	}{{one + "\n" + one, 200}, {strings.Repeat(one+"\n", 20), 413}} {
		// io.MultiReader hides the length: the client sends it chunked.
		resp, err := http.Post(srv.URL, "application/json", io.MultiReader(strings.NewReader(tt.body)))
		if err != nil {
			t.Fatal(err)
		}
		reason, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Fatalf("status %d %q, want %d", resp.StatusCode, reason, tt.code)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for j.Next() != 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := storedRules(t, j); fmt.Sprint(got) != "[chunked chunked]" {
		t.Fatalf("stored %v", got)
	}
}

// recordingAppender is an Appender other than the local journal (as
// journal/kafkalog is): it keeps each batch and answers at once.
type recordingAppender struct{ batches []journal.Batch }

func (a *recordingAppender) AppendBatch(b journal.Batch) (<-chan journal.Result, error) {
	c := journal.Batch{Key: b.Key, IDs: slices.Clone(b.IDs), Ack: b.Ack}
	for _, r := range b.Recs {
		c.Recs = append(c.Recs, slices.Clone(r))
	}
	a.batches = append(a.batches, c)
	done := make(chan journal.Result, 1)
	done <- journal.Result{}
	return done, nil
}

// An appender that keeps ids apart from the records (Kafka's header) gets
// each record's id, given or made, and the sender's host as key.
func TestHTTPBatchIDsAndKeyForOtherAppenders(t *testing.T) {
	app := &recordingAppender{}
	srv := httptest.NewServer(NewHTTP(app, nil, nil, "", 0).WithAck(journal.AckWritten))
	defer srv.Close()
	withID := strings.Replace(falcoAlert("b"), `{"hostname":"h"`, `{"uuid":"given-id","hostname":"h"`, 1)
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(falcoAlert("a")+"\n"+withID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(app.batches) != 1 {
		t.Fatalf("status %d, %d batches", resp.StatusCode, len(app.batches))
	}
	b := app.batches[0]
	if b.Key != "h" || len(b.IDs) != 2 || len(b.Recs) != 2 || b.IDs[1] != "given-id" {
		t.Fatalf("batch key %q ids %q, %d records", b.Key, b.IDs, len(b.Recs))
	}
	for i, rec := range b.Recs {
		var a harrierv1.Alert
		if err := proto.Unmarshal(rec, &a); err != nil || a.GetId() != b.IDs[i] {
			t.Fatalf("record %d id %q, batch id %q (%v)", i, a.GetId(), b.IDs[i], err)
		}
	}
}
