package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// cpuTime is the CPU time this process has used (user + system). On a
// shared machine wall-clock figures swing with other load; CPU time per
// operation does not, so the benchmarks report both.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op and, for event benchmarks, events per CPU
// second.
func reportCPU(b *testing.B, start time.Duration, n int, events bool) {
	cpu := float64(cpuTime()-start) / float64(n)
	b.ReportMetric(cpu, "cpu-ns/op")
	if events && cpu > 0 {
		b.ReportMetric(1e9/cpu, "events/cpu-s")
	}
}

func BenchmarkLoadK8sAuditRules(b *testing.B) {
	p := sharedFile(b, "rules/k8s_audit_rules.yaml")
	data, _ := os.ReadFile(p)
	fs := []File{{Name: p, Data: data}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start, n := cpuTime(), 0
	for b.Loop() {
		if _, _, err := Load(fs, Options{Registries: k8sRegs()}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, start, n, false)
}

// BenchmarkLoadFalcoRulesParseOnly reads, collects and parses
// falco_rules.yaml; its rules are skipped for want of a syscall registry.
// TODO(lead): once syscallfields.Registry() is available, add the full
// compile of both files here.
func BenchmarkLoadFalcoRulesParseOnly(b *testing.B) {
	p := sharedFile(b, "rules/falco_rules.yaml")
	data, _ := os.ReadFile(p)
	fs := []File{{Name: p, Data: data}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start, n := cpuTime(), 0
	for b.Loop() {
		if _, _, err := Load(fs, Options{Registries: k8sRegs()}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, start, n, false)
}

// auditStream returns a realistic audit stream: most events are the
// routine traffic of a cluster (controllers watching and updating, kubelets
// reporting status, reads by system users), which no rule fires on, and
// one event in ten is one of Falco's recorded detections.
func auditStream(b *testing.B) [][]byte {
	var detections [][]byte
	files, _ := filepath.Glob(filepath.Join(sharedFalco, "k8s_audit", "*.json"))
	if len(files) == 0 {
		require.Missing(b, "shared Falco audit events not found")
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		_ = k8saudit.DecodeBytes(data, func(e *k8saudit.Event) error {
			detections = append(detections, e.Raw())
			return nil
		})
	}
	routine := []string{
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/endpoints/kube-scheduler?timeout=10s","verb":"update","user":{"username":"system:kube-scheduler","groups":["system:authenticated"]},"sourceIPs":["10.0.0.10"],"userAgent":"kube-scheduler/v1.30.0","objectRef":{"resource":"endpoints","namespace":"kube-system","name":"kube-scheduler","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.002000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%d","stage":"ResponseComplete","requestURI":"/api/v1/nodes/node-1/status?timeout=10s","verb":"patch","user":{"username":"system:node:node-1","groups":["system:nodes","system:authenticated"]},"sourceIPs":["10.0.0.11"],"userAgent":"kubelet/v1.30.0","objectRef":{"resource":"nodes","name":"node-1","apiVersion":"v1","subresource":"status"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.003000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%d","stage":"ResponseStarted","requestURI":"/api/v1/pods?watch=true","verb":"watch","user":{"username":"system:serviceaccount:kube-system:coredns","groups":["system:serviceaccounts"]},"sourceIPs":["10.0.0.12"],"userAgent":"coredns","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.001000Z"}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%d","stage":"ResponseComplete","requestURI":"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1","verb":"update","user":{"username":"system:node:node-1","groups":["system:nodes"]},"sourceIPs":["10.0.0.11"],"userAgent":"kubelet/v1.30.0","objectRef":{"resource":"leases","namespace":"kube-node-lease","name":"node-1","apiGroup":"coordination.k8s.io","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.001000Z"}`,
	}
	var out [][]byte
	for i := 0; len(out) < 1000; i++ {
		if i%10 == 9 {
			out = append(out, detections[(i/10)%len(detections)])
			continue
		}
		out = append(out, []byte(fmt.Sprintf(routine[i%len(routine)], i)))
	}
	return out
}

func loadK8s(b *testing.B, m Matching) *Ruleset {
	rs, _, err := LoadFiles([]string{sharedFile(b, "rules/k8s_audit_rules.yaml")}, Options{Registries: k8sRegs(), Matching: m})
	if err != nil {
		b.Fatal(err)
	}
	return rs
}

// BenchmarkEvaluateK8sAudit measures rule evaluation alone: events are
// decoded beforehand, as the webhook hands decoded events to the engine.
func BenchmarkEvaluateK8sAudit(b *testing.B) {
	for _, m := range []struct {
		name string
		m    Matching
	}{{"first", MatchFirst}, {"all", MatchAll}} {
		b.Run(m.name, func(b *testing.B) {
			rs := loadK8s(b, m.m)
			var evs []*k8saudit.Event
			for _, raw := range auditStream(b) {
				e, err := k8saudit.ParseEvent(raw)
				if err != nil {
					b.Fatal(err)
				}
				evs = append(evs, e)
			}
			var s filter.Scratch
			matches := 0
			b.ReportAllocs()
			i, start := 0, cpuTime()
			for b.Loop() {
				matches += rs.EvaluateScratch(evs[i%len(evs)], &s, nil)
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
			reportCPU(b, start, i, true)
			if matches == 0 {
				b.Fatal("no rule matched")
			}
		})
	}
}

// BenchmarkDecodeEvaluateK8sAudit measures what the webhook does per
// event: decode the JSON and evaluate every rule.
func BenchmarkDecodeEvaluateK8sAudit(b *testing.B) {
	rs := loadK8s(b, MatchFirst)
	stream := auditStream(b)
	var s filter.Scratch
	b.ReportAllocs()
	i, start := 0, cpuTime()
	for b.Loop() {
		e, err := k8saudit.ParseEvent(stream[i%len(stream)])
		if err != nil {
			b.Fatal(err)
		}
		rs.EvaluateScratch(e, &s, nil)
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "events/s")
	reportCPU(b, start, i, true)
}
