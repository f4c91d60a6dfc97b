package sink

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// BenchmarkHTTPSink posts alerts to a real HTTP receiver over loopback. The
// receiver runs in a child process (so allocs/op are the sink's alone) and
// answers 200 to Falco JSON bodies: one object (what a stock falcosidekick
// takes), NDJSON lines or an array. One op is one alert, from Send to the
// receiver having it.
func BenchmarkHTTPSink(b *testing.B) {
	for _, bc := range httpSinkBenchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			addr, count, stop := startReceiver(b)
			defer stop()
			cfg := bc.cfg
			cfg.URL, cfg.Queue, cfg.Logger = "http://"+addr+"/", b.N+1, quiet
			h := NewHTTP(cfg)
			a := alert("0193a4f2-7c1e-7a55-9d0e-3f1c2b4a5d6e", harrierv1.Priority_PRIORITY_WARNING)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if err := h.Send(a); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(time.Minute)
			for count() < b.N {
				if time.Now().After(deadline) {
					b.Fatalf("receiver has %d of %d alerts", count(), b.N)
				}
				time.Sleep(time.Millisecond) // polling a peer in another process
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if err := h.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
		})
	}
}

var httpSinkBenchConfigs = []struct {
	name string
	cfg  HTTPConfig
}{
	{"one-per-request", HTTPConfig{}},
	{"one-per-request,concurrency=4", HTTPConfig{Concurrency: 4}},
	{"ndjson", HTTPConfig{Batch: BatchNDJSON}},
	{"array", HTTPConfig{Batch: BatchArray}},
	{"ndjson,gzip", HTTPConfig{Batch: BatchNDJSON, Compress: true}},
}

// startReceiver starts the child receiver; count asks it how many alerts it
// has taken.
func startReceiver(b *testing.B) (addr string, count func() int, stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHTTPSinkReceiver$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HARRIER_SINK_RECEIVER=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "receiver: "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		b.Fatal("receiver did not start")
	}
	client := &http.Client{}
	count = func() int {
		resp, err := client.Get("http://" + addr + "/count")
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		n, _ := strconv.Atoi(string(body))
		return n
	}
	stop = func() {
		in.Close() // the receiver exits when its stdin closes
		_ = cmd.Wait()
	}
	return addr, count, stop
}

// TestHTTPSinkReceiver is BenchmarkHTTPSink's receiver process; it does
// nothing in an ordinary test run.
func TestHTTPSinkReceiver(t *testing.T) {
	if os.Getenv("HARRIER_SINK_RECEIVER") == "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var alerts atomic.Int64
	rule := []byte(`"rule":`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/count" {
			fmt.Fprint(w, alerts.Load())
			return
		}
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rd = zr
		}
		body, err := io.ReadAll(rd)
		if err != nil || len(body) == 0 || (body[0] != '{' && body[0] != '[') {
			http.Error(w, "not Falco JSON", http.StatusBadRequest)
			return
		}
		alerts.Add(int64(bytes.Count(body, rule)))
	})}
	go srv.Serve(ln)
	fmt.Printf("receiver: %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
}
