package faulttest

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
)

func auditBatch(worker, first, n int) ([]byte, []string) {
	var b bytes.Buffer
	ids := make([]string, 0, n)
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`)
	for i := range n {
		id := fmt.Sprintf("w%02d-%06d", worker, first+i)
		ids = append(ids, id)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%s","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"pods","namespace":"default","name":"p"},"stageTimestamp":"2026-11-24T12:00:00.000000Z"}`, id)
	}
	b.WriteString("]}")
	return b.Bytes(), ids
}

// TestSIGKILLAfterAcknowledgementsLosesNothing: kube-apiserver never sends
// an acknowledged batch again, so every event the webhook answered 200 for
// must reach the router even when the sensor is killed (SIGKILL, no
// shutdown) in the middle of the load. After a restart on the same spool,
// the alert of every acknowledged event arrives.
func TestSIGKILLAfterAcknowledgementsLosesNothing(t *testing.T) {
	rcv, store := transporttest.Run(t, transporttest.Options{})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, rcv.Addr, "127.0.0.1:0", "")
	s := start(t, cfg)
	url := "http://" + s.webhook + "/k8s_audit"

	const workers, perBatch, killAfter = 16, 10, 4000
	var mu sync.Mutex
	var acked []string
	var ackedN, failed atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i += perBatch {
				select {
				case <-stop:
					return
				default:
				}
				body, ids := auditBatch(w, i, perBatch)
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					return // the sensor is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
					ackedN.Add(int64(len(ids)))
				}
			}
		})
	}
	eventually(t, 60*time.Second, "acknowledged events before the kill", func() bool { return ackedN.Load() >= killAfter })
	s.Kill(t)
	close(stop)
	wg.Wait()
	if failed.Load() == 0 {
		t.Log("no request was in flight at the kill")
	}
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()
	t.Logf("%d events acknowledged before SIGKILL; %d alerts had reached the router", len(want), store.Unique())

	s2 := start(t, cfg)
	defer s2.Stop(t)
	// The rule's output names the event: "event id=<auditID>".
	missing := func() int {
		seen := map[string]bool{}
		for _, a := range store.Alerts() {
			out := a.GetOutput()
			if i := strings.Index(out, "event id="); i >= 0 {
				if f := strings.Fields(out[i+len("event id="):]); len(f) > 0 {
					seen[f[0]] = true
				}
			}
		}
		n := 0
		for _, id := range want {
			if !seen[id] {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for missing() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events never reached the router", missing(), len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
