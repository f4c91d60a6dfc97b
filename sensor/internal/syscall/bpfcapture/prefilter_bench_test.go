package bpfcapture

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// BenchmarkPrefilteredOpenat times openat+close of /dev/null in this
// process, alternating in one run: no capture attached ("none"), the
// capture attached but openat/close not of interest (the bare tracepoint
// cost, "bare"), of interest with a prefilter that keeps them in the
// kernel ("filtered"), and of interest without one, every event read and
// decoded ("shipped"). ns/op of each is reported, and their ratios.
func BenchmarkPrefilteredOpenat(b *testing.B) {
	requireRoot(b)
	const n = 20000
	loop := func() time.Duration {
		start := time.Now()
		for i := 0; i < n; i++ {
			fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
		}
		return time.Since(start)
	}
	var none, bare, filtered, shipped time.Duration
	// Without the programs: before they are attached and after they are
	// detached, around the alternating rounds.
	for i := 0; i < b.N; i++ {
		none += loop()
	}
	c, err := Open(Options{IgnorePID: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(*sysevent.Event) {}) }()

	spec := &kfilter.Spec{Types: map[sysevent.Type]kfilter.TypeFilter{
		sysevent.SysOpenat: {Terms: []kfilter.Term{{Prefix: []string{"/etc/"}}}},
		sysevent.SysClose:  {All: true, DropMarkedFD: true},
	}}
	pf, err := spec.Compile()
	if err != nil {
		b.Fatal(err)
	}
	types := []sysevent.Type{sysevent.SysOpenat, sysevent.SysClose}
	for i := 0; i < b.N; i++ {
		for round := 0; round < 3; round++ {
			_ = c.SetInterest(nil)
			bare += loop()
			_ = c.SetInterest(types)
			_ = c.SetPrefilter(pf)
			filtered += loop()
			_ = c.SetPrefilter(nil)
			shipped += loop()
			_ = c.SetInterest(nil)
		}
	}
	st, _ := c.Stats()
	cancel()
	<-done
	c.Close()
	for i := 0; i < 2*b.N; i++ {
		none += loop()
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(3*b.N*n) }
	b.ReportMetric(per(none), "ns/op-none")
	b.ReportMetric(per(bare), "ns/op-bare")
	b.ReportMetric(per(filtered), "ns/op-filtered")
	b.ReportMetric(per(shipped), "ns/op-shipped")
	b.ReportMetric((per(filtered)-per(none))/(per(bare)-per(none)), "filtered/bare-cost")
	b.ReportMetric(float64(st.Drops), "drops")
}
