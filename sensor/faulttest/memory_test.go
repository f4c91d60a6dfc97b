package faulttest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
)

// memoryCeiling is the documented bound (docs/sensor.md) on the sensor's
// resident memory under hostile concurrent bodies with the default limits.
const memoryCeiling = 300 << 20

// bigAuditBody is an EventList just under the 16 MiB body limit, made of
// events with large request objects (as pods and configmaps bring).
func bigAuditBody(tag string) []byte {
	pad := strings.Repeat("a", 60<<10)
	var b bytes.Buffer
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`)
	for i := 0; b.Len() < 15<<20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"%s-%d","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"configmaps","namespace":"default","name":"c"},"requestObject":{"data":{"k":"%s"}},"stageTimestamp":"2026-11-24T12:00:00.000000Z"}`, tag, i, pad)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// TestFiftyMaximumBodiesStayUnderTheCeiling: 50 concurrent requests of
// almost the largest body (issue 12 measured 5.7 GB of RSS without
// bounds) leave the sensor's peak RSS under the documented ceiling; the
// excess is answered 503 with Retry-After, nothing else fails.
func TestFiftyMaximumBodiesStayUnderTheCeiling(t *testing.T) {
	rcv, _ := transporttest.Run(t, transporttest.Options{})
	s := start(t, writeConfig(t, t.TempDir(), rcv.Addr, "127.0.0.1:0", ""))
	defer s.Stop(t)
	body := bigAuditBody("m")
	url := "http://" + s.webhook + "/k8s_audit"
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			resp, err := http.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				// The sensor may close a refused request's connection
				// before the whole body was sent.
				mu.Lock()
				codes[-1]++
				mu.Unlock()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
	wg.Wait()
	rss := peakRSS(t, s.Pid())
	t.Logf("answers %v; peak RSS %d MiB (ceiling %d MiB)", codes, rss>>20, memoryCeiling>>20)
	if codes[200] == 0 || codes[503] == 0 {
		t.Fatalf("answers %v: want some taken (200) and the excess refused (503)", codes)
	}
	for c, n := range codes {
		if c != 200 && c != 503 && c != -1 {
			t.Fatalf("%d answers %d", n, c)
		}
	}
	if rss > memoryCeiling {
		t.Fatalf("peak RSS %d MiB is over the ceiling of %d MiB", rss>>20, memoryCeiling>>20)
	}
	// The sensor still serves: a small request after the storm.
	small, _ := auditBatch(0, 0, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Post(url, "application/json", bytes.NewReader(small))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sensor does not take a small request after the storm: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
