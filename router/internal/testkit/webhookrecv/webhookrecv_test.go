package webhookrecv

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func line(id string) string {
	return `{"uuid":"` + id + `","output":"o","priority":"Warning","rule":"r","time":"2026-11-24T10:00:00.000000000Z","source":"syscall","hostname":"h","output_fields":{}}`
}

func TestReceiver(t *testing.T) {
	r := New(t)
	post := func(body string) int {
		t.Helper()
		resp, err := http.Post(r.URL, "application/x-ndjson", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name   string
		status int // set before posting
		body   string
		want   int
	}{
		{"one alert", 0, line("a"), 200},
		{"ndjson", 0, line("b") + "\n" + line("c") + "\n", 200},
		{"redelivery", 0, line("a"), 200},
		{"bad line refuses the whole body", 0, line("d") + "\n{", 400},
		{"refusing", 503, line("e"), 503},
	} {
		r.SetStatus(c.status)
		if got := post(c.body); got != c.want {
			t.Fatalf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	r.SetStatus(0)
	if n := r.Unique(); n != 3 {
		t.Fatalf("unique %d, want 3 (a, b, c)", n)
	}
	all := []string{"a", "b", "c", "d", "e"}
	if m, d := r.Missing(all), r.Delivered(all); m != 2 || d != 3 {
		t.Fatalf("missing %d delivered %d, want 2 and 3", m, d)
	}
	if c := r.Counts(); c["a"] != 2 || c["b"] != 1 || c["d"] != 0 {
		t.Fatalf("counts %v", c)
	}
	r.SetDelay(50 * time.Millisecond)
	start := time.Now()
	post(line("f"))
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("answered after %s, want at least the 50ms delay", el)
	}
}
