package ruletest

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// benignStream is a host's ordinary activity, weighted roughly as a busy
// node sees it: library and config reads dominate, then temporary writes,
// connections inside the cluster, program starts and fd shuffling. None of
// it should alert.
var benignStream = []struct {
	weight int
	spec   map[string]any
}{
	{40, map[string]any{"evt.type": "openat", "evt.arg.flags": "O_RDONLY|O_CLOEXEC", "fd.name": "/usr/lib/x86_64-linux-gnu/libc.so.6", "proc.name": "ls", "proc.aname": []any{"bash", "sshd"}}},
	{15, map[string]any{"evt.type": "openat", "evt.arg.flags": "O_RDONLY", "fd.name": "/etc/nginx/nginx.conf", "proc.name": "nginx", "container.id": "3ad7b26ded6d", "container.image": "nginx:1.27"}},
	{10, map[string]any{"evt.type": "openat", "evt.arg.flags": "O_WRONLY|O_CREAT|O_TRUNC", "fd.name": "/tmp/go-build1234/b001/_pkg_.a", "proc.name": "compile", "proc.aname": []any{"go", "bash"}}},
	{5, map[string]any{"evt.type": "openat", "evt.arg.flags": "O_WRONLY|O_APPEND|O_CREAT", "fd.name": "/var/log/app/app.log", "proc.name": "java", "container.id": "8f1c0e2a9b34"}},
	{8, map[string]any{"evt.type": "connect", "fd.cip": "10.244.1.7", "fd.cport": 40522, "fd.sip": "10.96.12.4", "fd.sport": 5432, "proc.name": "java", "container.id": "8f1c0e2a9b34", "k8s.ns.name": "shop"}},
	{4, map[string]any{"evt.type": "socket", "evt.arg.domain": "AF_INET", "proc.name": "curl"}},
	{4, map[string]any{"evt.type": "execve", "proc.name": "ls", "proc.cmdline": "ls -la /var/tmp", "proc.aname": []any{"bash", "sshd"}}},
	{3, map[string]any{"evt.type": "execve", "proc.name": "gcc", "proc.cmdline": "gcc -O2 -c x.c", "proc.aname": []any{"make", "bash"}}},
	{4, map[string]any{"evt.type": "dup2", "evt.rawres": 1, "fd.num": 3, "fd.name": "/tmp/out.txt", "proc.name": "bash"}},
	{3, map[string]any{"evt.type": "close", "fd.num": 3, "fd.name": "/tmp/out.txt", "proc.name": "bash"}},
	{2, map[string]any{"evt.type": "fchmodat", "evt.arg.filename": "/tmp/build/run.sh", "evt.arg.mode": "0755", "proc.name": "chmod"}},
	{2, map[string]any{"evt.type": "renameat2", "evt.arg.oldpath": "/tmp/a", "evt.arg.newpath": "/tmp/b", "proc.name": "mv"}},
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHarrierSyscallRules evaluates Harrier's syscall rules (as the
// sensor loads them by default) over a benign stream; one op is one event.
// It reports CPU time per event and must not allocate.
func BenchmarkHarrierSyscallRules(b *testing.B) {
	rs, _, err := LoadRules([]string{filepath.Join(repoRoot, "rules", "syscall.yaml")})
	if err != nil {
		b.Fatal(err)
	}
	f := &File{}
	var stream []fields.Event
	for i, e := range benignStream {
		ev, err := f.syscallEvent(e.spec, uint64(i+1))
		if err != nil {
			b.Fatal(err)
		}
		var fired []string
		rs.Evaluate(ev, func(r *rules.Rule) { fired = append(fired, r.Name) })
		if len(fired) > 0 {
			b.Fatalf("benign event %v fires %v", e.spec, fired)
		}
		for range e.weight {
			stream = append(stream, ev)
		}
	}
	var s filter.Scratch
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		rs.EvaluateScratch(stream[n%len(stream)], &s, nil)
		n++
	}
	if cpu := cpuTime() - cpu0; n > 0 && cpu > 0 {
		per := float64(cpu.Nanoseconds()) / float64(n)
		b.ReportMetric(per, "cpu-ns/op")
		b.ReportMetric(1e9/per, "events/s/core")
	}
}

// TestBenignStreamIsQuiet: the benchmark's ordinary activity raises no
// alert with all of Harrier's rules loaded.
func TestBenignStreamIsQuiet(t *testing.T) {
	rs, _, err := LoadRules(harrierRulesFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &File{}
	for i, e := range benignStream {
		ev, err := f.syscallEvent(e.spec, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		rs.Evaluate(ev, func(r *rules.Rule) { t.Errorf("benign event %v fires %s", e.spec, r.Name) })
	}
}
