// Package faulttest injects the faults a router meets in production into the
// real harrier-router binary: damaged bytes in active and sealed journal
// segments, deleted segments with the cursors kept, a full disk, SIGKILL at
// random points of a stream. Each test asserts that every acknowledged
// alert is delivered or counted as lost with a reason, never silently.
package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/testkit/routerproc"
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
	hook        *receiver
	r           *router
}

func newEnv(t *testing.T, dataDir, journal string) *env {
	e := &env{t: t, dir: t.TempDir(), hook: newReceiver(t), grpcAddr: routerproc.FreePort(t), httpAddr: routerproc.FreePort(t), metricsAddr: routerproc.FreePort(t)}
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
`, journal, e.hook.srv.URL, e.filePath())
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

// receiver is a real webhook endpoint; it answers status (when set) instead
// of accepting.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	ids    map[string]int
	status int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{ids: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		st := r.status
		r.mu.Unlock()
		if st != 0 {
			w.WriteHeader(st)
			return
		}
		var got []string
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			a, err := falcojson.Unmarshal(line)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			got = append(got, a.GetId())
		}
		r.mu.Lock()
		for _, id := range got {
			r.ids[id]++
		}
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) set(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// delivered counts the ids of acked that arrived, and reports ids that
// arrived without having been acknowledged by this test (never expected).
func (r *receiver) delivered(acked []string) (n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range acked {
		if r.ids[id] > 0 {
			n++
		}
	}
	return n
}

// sensor streams batches like a real sensor: it forgets a batch only once
// acknowledged OK, and resends it after reconnecting.
type sensor struct {
	addr   string
	prefix string
	mu     sync.Mutex
	acked  []string
	next   int
	retry  int // batches answered RETRY
	// corrupt, when set, edits each new batch before it is sent.
	corrupt func([]*harrierv1.Alert)
}

func (s *sensor) ackedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acked...)
}

func (s *sensor) retries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retry
}

func (s *sensor) batch(n int) []*harrierv1.Alert {
	out := make([]*harrierv1.Alert, n)
	for i := range out {
		s.next++
		out[i] = &harrierv1.Alert{Id: fmt.Sprintf("%s-%07d", s.prefix, s.next), Rule: "Terminal shell in container",
			Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall", Hostname: "node-1",
			Output: "shell spawned in a container", Time: timestamppb.Now(), Tags: []string{"shell"}}
	}
	return out
}

// run streams batches of n alerts until ctx ends or batches were acked
// (0: no limit), reconnecting on errors.
func (s *sensor) run(ctx context.Context, n, batches int, pause time.Duration) {
	var pending []*harrierv1.Alert
	done := 0
	for ctx.Err() == nil && (batches == 0 || done < batches) {
		conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return
		}
		stream, err := harrierv1.NewIngestClient(conn).Stream(ctx)
		if err != nil {
			conn.Close()
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		seq := uint64(0)
		for ctx.Err() == nil && (batches == 0 || done < batches) {
			if pending == nil {
				pending = s.batch(n)
				if s.corrupt != nil {
					s.corrupt(pending)
				}
			}
			seq++
			if err = stream.Send(&harrierv1.AlertBatch{Sequence: seq, Alerts: pending, SensorId: "node-1"}); err != nil {
				break
			}
			ack, err := stream.Recv()
			if err != nil {
				break
			}
			switch ack.GetStatus() {
			case harrierv1.AckStatus_ACK_STATUS_OK:
				s.mu.Lock()
				for _, a := range pending {
					s.acked = append(s.acked, a.Id)
				}
				s.mu.Unlock()
				pending = nil
				done++
			case harrierv1.AckStatus_ACK_STATUS_RETRY:
				s.mu.Lock()
				s.retry++
				s.mu.Unlock()
				sleep(ctx, 20*time.Millisecond)
			}
			sleep(ctx, pause)
		}
		conn.Close()
		sleep(ctx, 50*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// send streams batches of n alerts and returns once all are acknowledged.
func (s *sensor) send(t *testing.T, batches, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := len(s.ackedIDs())
	s.run(ctx, n, batches, 0)
	if got := len(s.ackedIDs()) - before; got != batches*n {
		t.Fatalf("%d of %d alerts acknowledged", got, batches*n)
	}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
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
	eventually(e.t, 30*time.Second, "every acknowledged alert delivered or counted lost", func() bool {
		delivered, lost = e.hook.delivered(acked), int(e.lost())
		return delivered+lost >= len(acked)
	})
	return delivered, lost
}
