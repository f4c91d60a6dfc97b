package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/audittest"
)

// benignEvent is the bulk of a real cluster's audit stream: reads and
// status updates by controllers and kubelets, which no rule fires on.
func benignEvent(i int) []byte {
	verbs := []string{"get", "list", "watch", "update", "patch"}
	res := []string{"pods", "nodes", "leases", "endpoints", "configmaps", "events"}
	return fmt.Appendf(nil, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b-%08d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/%s/x-%d","verb":"%s","user":{"username":"system:node:node-%d","groups":["system:nodes","system:authenticated"]},"sourceIPs":["10.0.0.%d"],"userAgent":"kubelet/v1.30.0","objectRef":{"resource":"%s","namespace":"kube-system","name":"x-%d","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-24T12:00:00.000000Z","stageTimestamp":"2026-11-24T12:00:00.001000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`,
		i, res[i%len(res)], i, verbs[i%len(verbs)], i%50, i%250, res[i%len(res)], i)
}

// BenchmarkWebhookAuditEvents measures audit events per second through the
// whole k8s_audit path: HTTP POST of EventLists (400 events, kube-apiserver's
// default batch), decoding, queueing, evaluation with Falco's syscall and
// k8s audit rulesets loaded, and delivery of the alerts over gRPC to a real
// receiver through the on-disk spool. The stream mixes Falco's real audit
// events (which fire rules) with benign controller traffic; the share of
// Falco's events is the sub-benchmark's name.
func BenchmarkWebhookAuditEvents(b *testing.B) {
	k8sRules := sharedPath(b, "rules/k8s_audit_rules.yaml")
	falcoRules := sharedPath(b, "rules/falco_rules.yaml")
	files, _ := filepath.Glob(filepath.Join(shared, "k8s_audit", "*.json"))
	var real [][]byte
	for _, f := range files {
		real = append(real, audittest.Lines(b, f)...)
	}
	// ack: durable (default) answers after the alerts are fsynced in the
	// spool; queued answers once the events are queued (the old behaviour).
	for _, c := range []struct {
		share int
		ack   string
	}{{10, "durable"}, {100, "durable"}, {10, "queued"}, {100, "queued"}} {
		share := c.share
		b.Run(fmt.Sprintf("falco-events-%d%%/ack-%s", share, c.ack), func(b *testing.B) {
			rcv, _ := transporttest.Run(b, transporttest.Options{})
			cfg := testConfig(b, rcv.Addr, falcoRules, k8sRules)
			cfg.Sources.K8sAudit.Workers = 2
			cfg.Sources.K8sAudit.Ack = c.ack
			r := start(b, cfg)
			defer r.stop(b)

			const batch = 400
			var bodies [][]byte
			for k := range 16 {
				var items [][]byte
				for i := range batch {
					n := k*batch + i
					if n%100 < share {
						items = append(items, real[n%len(real)])
					} else {
						items = append(items, benignEvent(n))
					}
				}
				bodies = append(bodies, audittest.EventList(items))
			}
			url := "http://" + r.d.WebhookAddr() + "/k8s_audit"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			requests := (b.N + batch - 1) / batch
			var next atomic.Int64
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			var wg sync.WaitGroup
			for range 4 { // kube-apiserver sends batches from a few goroutines
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(requests) {
							return
						}
						for {
							resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[i%int64(len(bodies))]))
							if err != nil {
								b.Error(err)
								return
							}
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode == http.StatusOK {
								break
							}
							if resp.StatusCode != http.StatusServiceUnavailable {
								b.Errorf("status %d", resp.StatusCode)
								return
							}
							time.Sleep(time.Millisecond) // queue full: back off as the apiserver would
						}
					}
				})
			}
			wg.Wait()
			r.waitEvaluatedQuiet(b, requests*batch)
			el := time.Since(start)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(requests*batch)/el.Seconds(), "events/s")
			// The machine may be shared: events per CPU-second of this
			// process (sensor and load generator together) does not
			// depend on what else runs.
			b.ReportMetric(float64(requests*batch)/cpu.Seconds(), "events/cpu-s")
			alerts := 0
			for _, n := range r.alertCount() {
				alerts += n
			}
			b.ReportMetric(float64(alerts)/el.Seconds(), "alerts/s")
		})
	}
}

func (r *running) waitEvaluatedQuiet(b *testing.B, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for r.evaluated() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d evaluated", r.evaluated(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (r *running) alertCount() map[string]int {
	out := map[string]int{}
	mfs, err := r.d.reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "harrier_sensor_alerts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			rule := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "rule" {
					rule = l.GetValue()
				}
			}
			out[rule] += int(m.GetCounter().GetValue())
		}
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
