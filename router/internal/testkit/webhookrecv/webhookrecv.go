// Package webhookrecv is a real webhook endpoint for the router's end-to-end
// tests: an HTTP server on loopback that decodes the webhook output's Falco
// JSON bodies (one alert, or NDJSON) and counts the deliveries of each alert
// id. A test can make it refuse (any status) or answer slowly.
package webhookrecv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
)

// Receiver counts deliveries per alert id; it is closed when the test ends.
type Receiver struct {
	// URL is the address to configure as the webhook output's address.
	URL string

	mu     sync.Mutex
	ids    map[string]int
	status int
	delay  time.Duration
}

// New starts a receiver that accepts every well-formed body.
func New(t testing.TB) *Receiver {
	r := &Receiver{ids: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	st, delay := r.status, r.delay
	r.mu.Unlock()
	time.Sleep(delay)
	if st != 0 {
		w.WriteHeader(st)
		return
	}
	// Decode the whole body before counting: a body refused with 400 is
	// redelivered, so none of it counts.
	var got []string
	for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		a, err := falcojson.Unmarshal(line)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, a.GetId())
	}
	r.mu.Lock()
	for _, id := range got {
		r.ids[id]++
	}
	r.mu.Unlock()
}

// SetStatus makes the receiver answer status to every request without
// reading the alerts; 0 accepts again.
func (r *Receiver) SetStatus(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// SetDelay makes every answer wait d.
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	r.delay = d
	r.mu.Unlock()
}

// Missing is how many of ids never arrived.
func (r *Receiver) Missing(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if r.ids[id] == 0 {
			n++
		}
	}
	return n
}

// Delivered is how many of ids arrived at least once.
func (r *Receiver) Delivered(ids []string) int { return len(ids) - r.Missing(ids) }

// Unique is how many distinct alert ids arrived.
func (r *Receiver) Unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// Counts is a copy of the deliveries per alert id.
func (r *Receiver) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.ids))
	for id, n := range r.ids {
		out[id] = n
	}
	return out
}
