package syscallfields_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

const (
	falcoSyscallRules = "../../../../../shared/testdata/falco/rules/falco_rules.yaml"
	falcoAuditRules   = "../../../../../shared/testdata/falco/rules/k8s_audit_rules.yaml"
)

func loadBothFalcoFiles(b *testing.B) *rules.Ruleset {
	b.Helper()
	if _, err := os.Stat(falcoSyscallRules); err != nil {
		require.Missing(b, fmt.Sprintf("Falco rules not available at %s", falcoSyscallRules))
	}
	rs, _, err := rules.LoadFiles([]string{falcoSyscallRules, falcoAuditRules}, rules.Options{Registries: sources.Registries()})
	if err != nil {
		b.Fatal(err)
	}
	return rs
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoadFalcoRules loads, collects and compiles both of Falco's
// rules files unchanged (syscall and k8s_audit).
func BenchmarkLoadFalcoRules(b *testing.B) {
	loadBothFalcoFiles(b)
	b.ReportAllocs()
	for b.Loop() {
		loadBothFalcoFiles(b)
	}
}

func benchProc(pid int64, parent *sysevent.Thread, comm, exe, exePath string, args ...string) *sysevent.Thread {
	t := &sysevent.Thread{Pid: pid, VPid: pid, StartTime: 1_700_000_000_000_000_000}
	t.SetImage(sysevent.NewImage(comm, exe, exePath, args))
	ppid := int64(0)
	if parent != nil {
		ppid = parent.Pid
	}
	t.SetParent(parent, ppid)
	t.SetSession(pid, pid)
	t.Creds.LoginUID = sysevent.NoLoginUID
	t.Threads.Store(1)
	return t
}

func benchFile(num int64, path string) *sysevent.FD {
	f := &sysevent.FD{Num: num, Type: sysevent.FDFile, Name: path}
	i := strings.LastIndexByte(path, '/')
	f.Dir, f.Base = path[:max(i, 1)], path[i+1:]
	return f
}

// BenchmarkEvaluateFalcoRules evaluates a host's routine syscall traffic
// (library loads, reads and writes, config reads, a directory listing, log
// writes: none of which fires a rule) with both Falco rules files loaded,
// the way the sensor's workers do: one Scratch per worker, the event's type
// index selecting the candidate rules. cpu-ns/op is CPU time per event, which
// holds on a busy machine; the target is 2M events/s/core (500 cpu-ns) and
// no allocation.
func BenchmarkEvaluateFalcoRules(b *testing.B) {
	rs := loadBothFalcoFiles(b)
	init := benchProc(1, nil, "systemd", "/sbin/init", "/usr/lib/systemd/systemd")
	sshd := benchProc(500, init, "sshd", "sshd", "/usr/sbin/sshd", "-D")
	bash := benchProc(600, sshd, "bash", "-bash", "/usr/bin/bash")
	nginx := benchProc(800, init, "nginx", "nginx", "/usr/sbin/nginx")
	py := benchProc(900, bash, "python3", "python3", "/usr/bin/python3", "app.py")
	evs := []*sysevent.Event{
		{Type: sysevent.SysOpenat, Ret: 3, Path: "/usr/lib/x86_64-linux-gnu/libssl.so.3", Flags: 0o2000000, Thread: nginx, FDInfo: benchFile(3, "/usr/lib/x86_64-linux-gnu/libssl.so.3")},
		{Type: sysevent.SysRead, Ret: 100, Thread: nginx, FDInfo: benchFile(3, "/usr/lib/x86_64-linux-gnu/libssl.so.3")},
		{Type: sysevent.SysOpenat, Ret: 4, Path: "/usr/lib/python3.11/json/__init__.py", Thread: py, FDInfo: benchFile(4, "/usr/lib/python3.11/json/__init__.py")},
		{Type: sysevent.SysWrite, Ret: 100, Thread: py, FDInfo: benchFile(1, "/dev/pts/0")},
		{Type: sysevent.SysOpenat, Ret: 5, Path: "/etc/hosts", Thread: py, FDInfo: benchFile(5, "/etc/hosts")},
		{Type: sysevent.SysClose, Ret: 0, Thread: py, FDInfo: benchFile(5, "/etc/hosts")},
		{Type: sysevent.SysExecve, Ret: 0, Argv: []string{"ls", "-la"}, Thread: benchProc(1000, bash, "ls", "ls", "/usr/bin/ls", "-la")},
		{Type: sysevent.SysRead, Ret: 10, Thread: bash, FDInfo: benchFile(0, "/dev/pts/0")},
		{Type: sysevent.SysOpenat, Ret: 6, Path: "/var/log/nginx/access.log", Flags: 0o1101, Thread: nginx, FDInfo: benchFile(6, "/var/log/nginx/access.log")},
		{Type: sysevent.SysWrite, Ret: 200, Thread: nginx, FDInfo: benchFile(6, "/var/log/nginx/access.log")},
	}
	var s filter.Scratch
	for _, e := range evs {
		rs.EvaluateScratch(e, &s, func(r *rules.Rule) { b.Fatalf("benign %v event fired %q", e.Type, r.Name) })
	}
	b.ReportAllocs()
	cpu0, n := cpuNow(), 0
	for b.Loop() {
		rs.EvaluateScratch(evs[n%len(evs)], &s, nil)
		n++
	}
	b.ReportMetric(float64((cpuNow()-cpu0).Nanoseconds())/float64(n), "cpu-ns/op")
}
