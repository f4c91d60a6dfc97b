package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/testkit/poll"
)

// A client that multiplexes over plaintext HTTP/2 with prior knowledge
// (h2c) is served as HTTP/2; a batch as a JSON array is accepted whole.
func TestHTTPIngestSpeaksH2C(t *testing.T) {
	s := newSink(t)
	e := start(t, fmt.Sprintf("webhook: {address: %s}\n", s.srv.URL))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}}
	defer client.CloseIdleConnections()
	alert := func(rule string) string {
		return fmt.Sprintf(`{"output":"o","priority":"Warning","rule":%q,"time":"2026-11-24T10:20:05.408091526Z","source":"syscall","hostname":"h","output_fields":{}}`, rule)
	}
	resp, err := client.Post("http://"+e.r.HTTPAddr()+"/", "application/json",
		strings.NewReader("["+alert("a")+","+alert("b")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	poll.Until(t, 10*time.Second, "both alerts at the webhook", func() bool { return s.count() == 2 })
}
