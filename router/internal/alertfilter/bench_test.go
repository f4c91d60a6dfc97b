package alertfilter

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the calling thread's CPU time (the benchmark locks its
// goroutine to the thread, so other helpers' load does not count).
func threadCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tenOutputs are routing conditions of the kinds the docs show, one per
// output.
var tenOutputs = []string{
	`priority in (Emergency, Alert, Critical, Error)`,
	`source = k8s_audit`,
	`rule in ("Terminal shell in container", "Outbound connection", "Write below etc")`,
	`k8s.ns.name startswith prod- and not k8s.ns.name in (kube-system, monitoring)`,
	`tags in (shell, network) and priority in (Warning, Error)`,
	`container.image.repository glob "docker.io/*/nginx"`,
	`container.image.repository pmatch (docker.io/library, quay.io/prometheus)`,
	`hostname startswith node- and tags contains mitre_`,
	`proc.pid > 100 and k8s.ns.name exists`,
	`ka.target.namespace contains web or (rule icontains shell and not tags = k8s)`,
}

// BenchmarkConditionsTenOutputs evaluates the ten conditions on each alert
// of a mix; the per-output cost is the thread's CPU time divided by the
// evaluations (reported as cpu-ns/alert/output).
func BenchmarkConditionsTenOutputs(b *testing.B) {
	conds := make([]*Condition, len(tenOutputs))
	for i, text := range tenOutputs {
		c, err := CompileCondition(text)
		if err != nil {
			b.Fatal(err)
		}
		conds[i] = c
	}
	alerts := routingAlerts()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU(b)
	hits := 0
	for i := 0; i < b.N; i++ {
		a := alerts[i%len(alerts)]
		for _, c := range conds {
			if c.Match(a) {
				hits++
			}
		}
	}
	cpu := threadCPU(b) - cpu0
	b.StopTimer()
	if hits == 0 {
		b.Fatal("no condition matched")
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(len(conds)), "cpu-ns/alert/output")
}
