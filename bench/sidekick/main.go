// Command sidekick is the bench-only stand-in for falcosidekick used by
// `make bench-router` (bench/falcoload), because falcosidekick itself cannot
// be built here: the Go module proxy refuses github.com/falcosecurity/falcosidekick
// (403 "This module version is not available" for every version tried).
//
// It does per alert what falcosidekick's main handler and webhook output do
// (from its published behaviour): decode the body with encoding/json into a
// Falco payload struct (output_fields as map[string]any), give it a UUID
// when it has none, count it, answer 200 at once without storing it, and
// post it as JSON to the webhook from a new goroutine, one request per
// alert, through a shared http.Client built from a clone of
// http.DefaultTransport, logging one line per post. Where falcosidekick
// costs more (Prometheus and expvar counters, its newer clients' extra
// work), the stand-in is cheaper, so ratios against it are conservative.
// It is not part of any product build (its module is not in go.work).
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

type falcoPayload struct {
	UUID         string         `json:"uuid,omitempty"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags,omitempty"`
	Hostname     string         `json:"hostname,omitempty"`
}

var received, posted, failed atomic.Int64

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func main() {
	listen := flag.String("listen", "127.0.0.1:2801", "address Falco posts to")
	webhook := flag.String("webhook", "", "webhook URL every alert is posted to")
	flag.Parse()
	if *webhook == "" {
		log.Fatal("-webhook is required")
	}
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	post := func(p falcoPayload) {
		var body bytes.Buffer
		_ = json.NewEncoder(&body).Encode(p)
		req, err := http.NewRequest(http.MethodPost, *webhook, &body)
		if err != nil {
			log.Printf("[ERROR] : Webhook - %v", err)
			return
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("User-Agent", "Falcosidekick")
		resp, err := client.Do(req)
		if err != nil {
			failed.Add(1)
			log.Printf("[ERROR] : Webhook - %v", err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		posted.Add(1)
		log.Printf("[INFO]  : Webhook - Post OK (%v)", resp.StatusCode)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		var p falcoPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, "Please send a valid request body", http.StatusBadRequest)
			return
		}
		if p.UUID == "" {
			p.UUID = newUUID()
		}
		received.Add(1)
		go post(p)
	})
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pong\n") })
	log.SetOutput(os.Stderr)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadTimeout: time.Minute}
	log.Fatal(srv.ListenAndServe())
}
