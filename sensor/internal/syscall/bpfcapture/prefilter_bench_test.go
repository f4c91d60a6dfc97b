package bpfcapture

import (
	"context"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// BenchmarkPrefilteredOpenat times openat+close of /dev/null in this
// process, alternating in one run: the capture loaded but its sys_exit
// program detached ("none"), detached with the floor programs
// attached instead (AttachFloor: the same tracepoints, programs returning
// at once, "floor"), the capture attached with openat/close not of
// interest ("bare"), of interest with a prefilter that keeps them in the
// kernel ("filtered"), and of interest without one, every event read and
// decoded ("shipped"). The loop runs on one locked OS thread and each
// configuration is charged that thread's CPU time (the BPF programs run in
// its context; waiting for a core on a busy machine is not counted), per
// call pair, the median of ten rounds per b.N. filtered/floor-cost is
// (filtered - none) / (floor - none):
// what an open no rule watches, and its close, cost over what any
// tracepoint-based capture pays (target: at most 2). The reader's
// decoding of shipped events runs on other threads: the process's CPU per
// pair (cpu-ns/op-shipped-process) includes it.
func BenchmarkPrefilteredOpenat(b *testing.B) {
	requireRoot(b)
	const n = 5000
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// per configuration, the thread CPU per pair of each round: the
	// medians resist the bursts of a shared machine better than sums
	loop := func(acc *[]float64) {
		c0 := threadCPU()
		for i := 0; i < n; i++ {
			fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
		}
		*acc = append(*acc, float64((threadCPU()-c0).Nanoseconds())/n)
	}
	c, err := Open(Options{IgnorePID: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(*sysevent.Event) {}) }()
	defer func() { cancel(); <-done }()
	// The syscall programs' links, to detach and attach them again.
	var sys []link.Link
	for _, p := range []*ebpf.Program{c.objs.SysExit} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			b.Fatal(err)
		}
		sys = append(sys, l)
	}
	// (Open attached them too: those links go, these stay under our control.)
	for _, l := range c.links[len(c.links)-1:] {
		_ = l.Close()
	}
	c.links = c.links[:len(c.links)-1]
	defer func() {
		for _, l := range sys {
			_ = l.Close()
		}
	}()
	detached := func(fn func()) {
		for _, l := range sys {
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
		}
		fn()
		for i, p := range []*ebpf.Program{c.objs.SysExit} {
			l, err := link.AttachTracing(link.TracingOptions{Program: p})
			if err != nil {
				b.Fatal(err)
			}
			sys[i] = l
		}
	}
	pf := keptLoopPrefilter(b)
	types := []sysevent.Type{sysevent.SysOpenat, sysevent.SysClose}
	var none, floor, bare, filtered, shipped []float64
	var shippedProc time.Duration
	for i := 0; i < b.N; i++ {
		for round := 0; round < 10; round++ {
			detached(func() {
				loop(&none)
				f, err := AttachFloor()
				if err != nil {
					b.Fatal(err)
				}
				loop(&floor)
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			})
			_ = c.SetInterest(nil)
			loop(&bare)
			_ = c.SetInterest(types)
			_ = c.SetPrefilter(pf)
			loop(&filtered)
			_ = c.SetPrefilter(nil)
			p0 := selfCPU()
			loop(&shipped)
			shippedProc += selfCPU() - p0
			_ = c.SetInterest(nil)
		}
	}
	st, _ := c.Stats()
	b.ReportMetric(median(none), "cpu-ns/op-none")
	b.ReportMetric(median(floor), "cpu-ns/op-floor")
	b.ReportMetric(median(bare), "cpu-ns/op-bare")
	b.ReportMetric(median(filtered), "cpu-ns/op-filtered")
	b.ReportMetric(median(shipped), "cpu-ns/op-shipped")
	b.ReportMetric(float64(shippedProc.Nanoseconds())/float64(len(shipped)*n), "cpu-ns/op-shipped-process")
	cost := func(v []float64) float64 { return (median(v) - median(none)) / (median(floor) - median(none)) }
	b.ReportMetric(cost(bare), "bare/floor-cost")
	b.ReportMetric(cost(filtered), "filtered/floor-cost")
	b.ReportMetric(cost(shipped), "shipped/floor-cost")
	b.ReportMetric(float64(st.Drops), "drops")
}

// median of v (sorted in place).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func selfCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProgramRuntime measures, with the kernel's BPF statistics
// (BPF_ENABLE_STATS), the time spent inside the capture's sys_exit program
// (the floor: AttachFloor's, on sys_exit too) per openat+close pair of /dev/null in this process: the floor
// programs (bpfcapture.AttachFloor, return at once), the capture with the
// two syscalls not of interest ("bare"), of interest with a prefilter that
// keeps them in the kernel ("filtered") and without one ("shipped"). It
// excludes the traced syscall slow path and the trampolines around the
// programs (what the floor costs over no capture), so it is the figure the
// BPF code itself can change; syscalls of other processes during the loop
// add to it, so quote it from a quiet machine.
func BenchmarkProgramRuntime(b *testing.B) {
	requireRoot(b)
	const n = 20000
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("BPF statistics: %v", err)
	}
	defer stats.Close()
	loop := func() {
		for i := 0; i < n; i++ {
			fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
		}
	}
	progTime := func(progs ...*ebpf.Program) (time.Duration, uint64) {
		var d time.Duration
		var runs uint64
		for _, p := range progs {
			st, err := p.Stats()
			if err != nil {
				b.Fatal(err)
			}
			d += st.Runtime
			runs += st.RunCount
		}
		return d, runs
	}
	measure := func(progs ...*ebpf.Program) (time.Duration, uint64) {
		d0, r0 := progTime(progs...)
		loop()
		d1, r1 := progTime(progs...)
		return d1 - d0, r1 - r0
	}
	var floor, bare, filtered, shipped time.Duration
	var floorRuns, filteredRuns uint64
	for i := 0; i < b.N; i++ {
		f, err := AttachFloor()
		if err != nil {
			b.Fatal(err)
		}
		d, r := measure(f.objs.FloorEnter, f.objs.FloorExit)
		floor += d
		floorRuns += r
		f.Close()
	}
	c, err := Open(Options{IgnorePID: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx, func(*sysevent.Event) {}) }()
	pf := keptLoopPrefilter(b)
	types := []sysevent.Type{sysevent.SysOpenat, sysevent.SysClose}
	progs := []*ebpf.Program{c.objs.SysExit}
	for i := 0; i < b.N; i++ {
		_ = c.SetInterest(nil)
		d, _ := measure(progs...)
		bare += d
		_ = c.SetInterest(types)
		_ = c.SetPrefilter(pf)
		d, r := measure(progs...)
		filtered += d
		filteredRuns += r
		_ = c.SetPrefilter(nil)
		d, _ = measure(progs...)
		shipped += d
		_ = c.SetInterest(nil)
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
	b.ReportMetric(per(floor), "bpf-ns/pair-floor")
	b.ReportMetric(per(bare), "bpf-ns/pair-bare")
	b.ReportMetric(per(filtered), "bpf-ns/pair-filtered")
	b.ReportMetric(per(shipped), "bpf-ns/pair-shipped")
	// program runs per pair: 2 when nothing else ran during the loop
	b.ReportMetric(float64(floorRuns)/float64(b.N*n), "runs/pair-floor")
	b.ReportMetric(float64(filteredRuns)/float64(b.N*n), "runs/pair-filtered")
}

// keptLoopPrefilter is the benchmarks' prefilter: opens under /etc/ leave
// the kernel; the loop's opens of /dev/null stay, and so do their closes.
func keptLoopPrefilter(b *testing.B) *kfilter.Compiled {
	b.Helper()
	spec := &kfilter.Spec{Types: map[sysevent.Type]kfilter.TypeFilter{
		sysevent.SysOpenat: {Terms: []kfilter.Term{{Prefix: []string{"/etc/"}}}},
		sysevent.SysClose:  {All: true, DropMarkedFD: true},
	}}
	pf, err := spec.Compile()
	if err != nil {
		b.Fatal(err)
	}
	return pf
}
