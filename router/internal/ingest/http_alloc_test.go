//go:build !race

package ingest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/harrier-security/harrier/router/internal/journal"
)

// A request of one Falco alert allocates nothing on its way to the local
// journal (the race detector's own allocations would count, hence the build
// tag). The one allocation allowed is the test's io.NopCloser.
func TestHTTPHandlerAllocations(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	h := NewHTTP(j, nil, nil, "", 0).WithAck(journal.AckWritten)
	body := []byte(falcoAlert("allocs"))
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.ContentLength = int64(len(body))
	rd := bytes.NewReader(body)
	w := &nopWriter{h: http.Header{}}
	n := testing.AllocsPerRun(500, func() {
		rd.Reset(body)
		r.Body = io.NopCloser(rd)
		h.ServeHTTP(w, r)
	})
	if n > 1 {
		t.Fatalf("%.1f allocations per request, want at most 1", n)
	}
	if w.code != http.StatusOK {
		t.Fatalf("answered %d", w.code)
	}
}
