package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/ship/sink"
)

// The sensor's http output in each batch mode against a real harrier-router
// (its Falco http_output listener on its defaults): every alert is stored,
// and batching posts fewer requests than alerts.
func TestHTTPSinkBatchesToRouter(t *testing.T) {
	routerBin := filepath.Join(t.TempDir(), "harrier-router")
	build := exec.Command("go", "build", "-o", routerBin, "./cmd/harrier-router")
	build.Dir = "../../router"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building harrier-router: %v\n%s", err, out)
	}
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	router := exec.Command(routerBin, "run")
	router.Env = append(os.Environ(),
		"HARRIER_ROUTER_DATA_DIR="+t.TempDir(),
		"HARRIER_ROUTER_GRPC_ADDRESS="+freeAddr(t),
		"HARRIER_ROUTER_HTTP_ADDRESS="+httpAddr,
		"HARRIER_ROUTER_HTTP_METRICS_ADDRESS="+metricsAddr)
	var routerLog lockedBuffer
	router.Stdout, router.Stderr = &routerLog, &routerLog
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = router.Process.Kill()
		_ = router.Wait()
	}()
	pollUntil(t, 30*time.Second, "router /ping", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, routerLog.String)

	const perMode = 2000
	stored, requests := 0.0, 0.0
	for _, mode := range []struct {
		cfg     sink.HTTPConfig
		batched bool
	}{
		{sink.HTTPConfig{}, false},
		{sink.HTTPConfig{Batch: sink.BatchNDJSON, Concurrency: 4}, true},
		{sink.HTTPConfig{Batch: sink.BatchArray, Compress: true}, true},
	} {
		cfg := mode.cfg
		cfg.URL, cfg.Queue = "http://"+httpAddr+"/", perMode
		h := sink.NewHTTP(cfg)
		for i := range perMode {
			a := &harrierv1.Alert{Id: fmt.Sprintf("%s-%d", cfg.Batch, i), Rule: "Sink test", Source: "syscall",
				Priority: harrierv1.Priority_PRIORITY_WARNING, Time: timestamppb.Now(), Hostname: "node-1",
				Output: "a test alert", OutputFields: map[string]*harrierv1.FieldValue{
					"proc.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "bash"}}}}
			if err := h.Send(a); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.Close(); err != nil {
			t.Fatalf("batch %q: %v", cfg.Batch, err)
		}
		before := requests
		stored += perMode
		pollUntil(t, 10*time.Second, fmt.Sprintf("%v alerts stored (batch %q)", stored, cfg.Batch), func() bool {
			m := routerMetrics(t, metricsAddr)
			requests = m[`harrier_router_ingest_batches_total{status="ok",transport="http"}`]
			return m[`harrier_router_ingested_alerts_total{transport="http"}`] == stored
		}, routerLog.String)
		n := requests - before
		if mode.batched && n >= perMode/2 {
			t.Errorf("batch %q: %v requests for %d alerts", cfg.Batch, n, perMode)
		}
		if !mode.batched && n != perMode {
			t.Errorf("one alert per request: %v requests for %d alerts", n, perMode)
		}
	}
}

// routerMetrics reads the router's counters (name{labels} → value).
func routerMetrics(t *testing.T, addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out
}
