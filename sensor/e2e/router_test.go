package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/testkit/syncbuf"
)

// lockedBuffer collects a subprocess's output while the test reads it (the
// name these tests have long used for syncbuf.Buffer).
type lockedBuffer = syncbuf.Buffer

// peerRouter is a real harrier-router on its embedded defaults, the
// sensor's peer in these tests: gRPC ingest, Falco's HTTP JSON ingest, its
// own /metrics listener, and its file output in its data directory.
type peerRouter struct {
	grpc, http, metrics string
	// alerts is the router's file output (JSON lines).
	alerts string
	log    *lockedBuffer
}

// startRouter builds and starts a real harrier-router; it is killed when
// the test ends.
func startRouter(t *testing.T) *peerRouter {
	t.Helper()
	routerBin := filepath.Join(t.TempDir(), "harrier-router")
	build := exec.Command("go", "build", "-o", routerBin, "./cmd/harrier-router")
	build.Dir = "../../router"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building harrier-router: %v\n%s", err, out)
	}
	data := t.TempDir()
	r := &peerRouter{grpc: freeAddr(t), http: freeAddr(t), metrics: freeAddr(t),
		alerts: filepath.Join(data, "alerts.jsonl"), log: &lockedBuffer{}}
	router := exec.Command(routerBin, "run")
	router.Env = append(os.Environ(),
		"HARRIER_ROUTER_DATA_DIR="+data,
		"HARRIER_ROUTER_GRPC_ADDRESS="+r.grpc,
		"HARRIER_ROUTER_HTTP_ADDRESS="+r.http,
		"HARRIER_ROUTER_HTTP_METRICS_ADDRESS="+r.metrics)
	router.Stdout, router.Stderr = r.log, r.log
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = router.Process.Kill()
		_ = router.Wait()
	})
	return r
}
