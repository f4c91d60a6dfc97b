package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// routerMemoryCeiling is the documented bound (docs/router.md) on the
// router's resident memory under hostile concurrent bodies with the
// default limits.
const routerMemoryCeiling = 300 << 20

func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestFiftyMaximumFalcoBodiesStayUnderTheCeiling: 50 concurrent Falco
// http_output bodies just under max_body_bytes (issue 12 measured 840 MB
// without bounds) keep the router's peak RSS under the documented ceiling;
// the excess is answered 503 with Retry-After.
func TestFiftyMaximumFalcoBodiesStayUnderTheCeiling(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, "")
	r := startRouter(t, cfg, grpcAddr, httpAddr)
	pad := strings.Repeat("p", 30<<10)
	var body bytes.Buffer
	for i := 0; body.Len() < 4<<20-40<<10; i++ {
		fmt.Fprintf(&body, `{"output":"big %d %s","priority":"Warning","rule":"Big","time":"2026-11-24T10:00:00.000000000Z","source":"syscall","hostname":"h1","output_fields":{}}`+"\n", i, pad)
	}
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			resp, err := http.Post("http://"+httpAddr+"/", "application/json", bytes.NewReader(body.Bytes()))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[-1]++ // a refused request's connection may close before its body is sent
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
	wg.Wait()
	rss := peakRSS(t, r.Pid())
	t.Logf("answers %v; peak RSS %d MiB (ceiling %d MiB)", codes, rss>>20, routerMemoryCeiling>>20)
	if codes[200] == 0 || codes[503] == 0 {
		t.Fatalf("answers %v: want some stored (200) and the excess refused (503)", codes)
	}
	for c, n := range codes {
		if c != 200 && c != 503 && c != -1 {
			t.Fatalf("%d answers %d", n, c)
		}
	}
	if rss > routerMemoryCeiling {
		t.Fatalf("peak RSS %d MiB is over the ceiling of %d MiB", rss>>20, routerMemoryCeiling>>20)
	}
}
