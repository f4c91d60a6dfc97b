// Package faulttest injects the faults a router meets in production into the
// real harrier-router binary: damaged bytes in active and sealed journal
// segments, deleted segments with the cursors kept, a full disk, SIGKILL at
// random points of a stream. Each test asserts that every acknowledged
// alert is delivered or counted as lost with a reason, never silently.
package faulttest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/routerproc"
	"github.com/harrier-security/harrier/router/internal/testkit/sensorstream"
	"github.com/harrier-security/harrier/router/internal/testkit/webhookrecv"
)

var binary string

func TestMain(m *testing.M) {
	routerproc.Main(m, "harrier-faulttest", nil, routerproc.Target{Pkg: "../cmd/harrier-router", Path: &binary})
}

// env is one router configuration: a data directory, a webhook receiver
// (output "webhook.soc") and the listener addresses.
type env struct {
	t        *testing.T
	dir      string
	dataDir  string
	cfg      string
	grpcAddr string
	httpAddr string
	// metricsAddr serves /healthz and /metrics (their own listener).
	metricsAddr string
	hook        *webhookrecv.Receiver
	r           *router
}

func newEnv(t *testing.T, dataDir, journal string) *env {
	e := &env{t: t, dir: t.TempDir(), hook: webhookrecv.New(t), grpcAddr: routerproc.FreePort(t), httpAddr: routerproc.FreePort(t), metricsAddr: routerproc.FreePort(t)}
	e.dataDir = dataDir
	if e.dataDir == "" {
		e.dataDir = filepath.Join(e.dir, "data")
	}
	e.cfg = filepath.Join(e.dir, "router.yaml")
	cfg := fmt.Sprintf(`delivery: {batch_size: 200, backoff: {initial: 20ms, max: 200ms}}
%s
outputs:
  webhook:
    soc: {address: %s, format: ndjson}
  file:
    archive: {path: %s}
`, journal, e.hook.URL, e.filePath())
	routerproc.WriteConfig(t, e.cfg, routerproc.Config(e.dataDir, routerproc.Listeners{GRPC: e.grpcAddr, HTTP: e.httpAddr, Metrics: e.metricsAddr}, cfg))
	return e
}

// filePath is the file output's (output "file.archive"), outside the data
// directory.
func (e *env) filePath() string { return filepath.Join(e.dir, "alerts.jsonl") }

// fileIDs counts each alert id in the file output.
func (e *env) fileIDs() map[string]int {
	ids := map[string]int{}
	b, _ := os.ReadFile(e.filePath())
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if a, err := falcojson.Unmarshal(line); err == nil {
			ids[a.GetId()]++
		}
	}
	return ids
}

// router is one harrier-router process.
type router struct{ *routerproc.Proc }

func (e *env) start() {
	t := e.t
	t.Helper()
	r := &router{routerproc.Start(t, binary, "run", "--config", e.cfg)}
	e.r = r
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("router log (tail):\n%s", routerproc.Tail(r.logs(), 40))
		}
	})
	r.WaitHealthy(t, e.metricsAddr, 15*time.Second)
}

func (r *router) logs() string { return r.Logs() }
func (r *router) kill()        { r.Kill() }
func (r *router) stop()        { r.Stop() }

// get returns the body of an HTTP GET on the router's HTTP listener.
func (e *env) get(path string) string {
	resp, err := http.Get("http://" + e.metricsAddr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metric sums the samples of name whose labels contain every given
// label="value" pair.
func (e *env) metric(name string, labels ...string) float64 {
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	var sum float64
	for _, line := range strings.Split(e.get("/metrics"), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[1], l)
		}
		if v, err := strconv.ParseFloat(m[2], 64); ok && err == nil {
			sum += v
		}
	}
	return sum
}

// lost is what the router counted as lost for the webhook output.
func (e *env) lost() float64 {
	return e.metric("harrier_router_output_lost_total", `output="webhook.soc"`)
}

// sensor streams to the router as node-1; ids start with prefix.
func (e *env) sensor(prefix string) *sensorstream.Sensor {
	return &sensorstream.Sensor{Addr: e.grpcAddr, Prefix: prefix, Output: "shell spawned in a container"}
}

// flipByte damages one byte at frac of the file's length.
func flipByte(t *testing.T, path string, frac float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatalf("%s is empty", path)
	}
	b[int(float64(len(b))*frac)] ^= 0x20
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// segments lists the journal's segment files, oldest first.
func (e *env) segments() []string {
	segs, _ := filepath.Glob(filepath.Join(e.dataDir, "journal", "*.seg"))
	return segs
}

// accountedFor waits until every acknowledged alert is delivered or
// counted lost, and returns both counts.
func (e *env) accountedFor(acked []string) (delivered, lost int) {
	e.t.Helper()
	poll.Until(e.t, 30*time.Second, "every acknowledged alert delivered or counted lost", func() bool {
		delivered, lost = e.hook.Delivered(acked), int(e.lost())
		return delivered+lost >= len(acked)
	})
	return delivered, lost
}
