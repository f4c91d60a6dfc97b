package syscallfields_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// BenchmarkEnrichment is BenchmarkEvaluateFalcoRules' traffic run inside a
// container, as the sensor's workers handle it, without and with container
// metadata: "off" is the container known by its cgroup id only (the sensor
// before runtime metadata); "on" adds the check a worker makes for a
// container still being looked up, and a container resolved with image,
// pod, labels and mounts, which the rules' container conditions now read.
// The two run interleaved in rounds on one locked thread and are timed in
// that thread's CPU time, so that the load of a shared machine hits both
// alike; overhead-% is on/off - 1.
func BenchmarkEnrichment(b *testing.B) {
	rs := loadBothFalcoFiles(b)
	id := "3f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
	bare := &sysevent.Container{ID: id[:12], FullID: id, Type: "containerd"}
	priv := false
	resolved := sysevent.NewPendingContainer(&sysevent.Container{ID: id[:12], FullID: id, Type: "containerd"})
	resolved.Resolve(&sysevent.Container{ID: id[:12], FullID: id, Type: "containerd", Name: "web",
		Image: "registry.example/team/web:1.4", ImageRepo: "registry.example/team/web", ImageTag: "1.4",
		Privileged: &priv, StartTS: 1_700_000_000_000_000_000, PodName: "web-7d9f", PodNamespace: "shop",
		PodUID: "uid-1", PodLabels: map[string]string{"app": "web"},
		Labels: map[string]string{"io.kubernetes.container.name": "web"},
		Mounts: []sysevent.Mount{{Source: "/var/lib/kubelet/pods/uid-1/volumes/x", Dest: "/data", RW: true, Propagation: "rprivate"}}})
	traffic := func(c *sysevent.Container) []*sysevent.Event {
		in := func(t *sysevent.Thread) *sysevent.Thread { t.SetContainer(c); return t }
		sh := in(benchProc(1, nil, "sh", "sh", "/bin/sh"))
		web := in(benchProc(8, sh, "nginx", "nginx", "/usr/sbin/nginx"))
		py := in(benchProc(9, sh, "python3", "python3", "/usr/bin/python3", "app.py"))
		return []*sysevent.Event{
			{Type: sysevent.SysOpenat, Ret: 3, Path: "/usr/lib/x86_64-linux-gnu/libssl.so.3", Flags: 0o2000000, Thread: web, FDInfo: benchFile(3, "/usr/lib/x86_64-linux-gnu/libssl.so.3")},
			{Type: sysevent.SysRead, Ret: 100, Thread: web, FDInfo: benchFile(3, "/usr/lib/x86_64-linux-gnu/libssl.so.3")},
			{Type: sysevent.SysOpenat, Ret: 4, Path: "/usr/lib/python3.11/json/__init__.py", Thread: py, FDInfo: benchFile(4, "/usr/lib/python3.11/json/__init__.py")},
			{Type: sysevent.SysWrite, Ret: 100, Thread: py, FDInfo: benchFile(1, "/dev/null")},
			{Type: sysevent.SysOpenat, Ret: 5, Path: "/etc/hosts", Thread: py, FDInfo: benchFile(5, "/etc/hosts")},
			{Type: sysevent.SysClose, Ret: 0, Thread: py, FDInfo: benchFile(5, "/etc/hosts")},
			{Type: sysevent.SysOpenat, Ret: 6, Path: "/var/log/nginx/access.log", Flags: 0o1101, Thread: web, FDInfo: benchFile(6, "/var/log/nginx/access.log")},
			{Type: sysevent.SysWrite, Ret: 200, Thread: web, FDInfo: benchFile(6, "/var/log/nginx/access.log")},
		}
	}
	off, on := traffic(bare), traffic(resolved)
	var s filter.Scratch
	for _, e := range append(append([]*sysevent.Event{}, off...), on...) {
		rs.EvaluateScratch(e, &s, func(r *rules.Rule) { b.Fatalf("benign %v event fired %q", e.Type, r.Name) })
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threadCPU := func() time.Duration {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
		return time.Duration(ts.Nano())
	}
	const round = 4096
	var cpuOff, cpuOn time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		t0 := threadCPU()
		for i := range round {
			rs.EvaluateScratch(off[i%len(off)], &s, nil)
		}
		t1 := threadCPU()
		for i := range round {
			e := on[i%len(on)]
			if p := e.Thread.Placeholder(); p != nil && p.Pending() {
				b.Fatal("a resolved container reads as pending")
			}
			rs.EvaluateScratch(e, &s, nil)
		}
		t2 := threadCPU()
		cpuOff += t1 - t0
		cpuOn += t2 - t1
		n += round
	}
	b.ReportMetric(float64(cpuOff.Nanoseconds())/float64(n), "off-cpu-ns/event")
	b.ReportMetric(float64(cpuOn.Nanoseconds())/float64(n), "on-cpu-ns/event")
	b.ReportMetric(100*(float64(cpuOn)/float64(cpuOff)-1), "overhead-%")
}
