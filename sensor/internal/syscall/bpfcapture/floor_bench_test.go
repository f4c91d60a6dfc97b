package bpfcapture

import (
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// BenchmarkFloorPerHook splits the floor between the two tracepoints: an
// openat+close loop on one locked thread, charged its CPU time, with no
// program attached, an empty one on sys_exit only, on sys_enter only, and
// on both (what the capture attaches). It tells how much a design that
// hooks only sys_exit would save before any work is done.
func BenchmarkFloorPerHook(b *testing.B) {
	requireRoot(b)
	const n = 20000
	var objs floorObjects
	if err := loadFloorObjects(&objs, nil); err != nil {
		b.Fatal(err)
	}
	defer objs.Close()
	configs := []struct {
		name  string
		progs []*ebpf.Program
	}{
		{"none", nil},
		{"exit-only", []*ebpf.Program{objs.FloorExit}},
		{"enter-only", []*ebpf.Program{objs.FloorEnter}},
		{"both", []*ebpf.Program{objs.FloorEnter, objs.FloorExit}},
	}
	perPair := make([][]float64, len(configs))
	round := func() {
		for i, c := range configs {
			var links []link.Link
			for _, p := range c.progs {
				l, err := link.AttachTracing(link.TracingOptions{Program: p})
				if err != nil {
					b.Fatalf("attaching %s: %v", p, err)
				}
				links = append(links, l)
			}
			c0 := threadCPU()
			for k := 0; k < n; k++ {
				fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err == nil {
					unix.Close(fd)
				}
			}
			perPair[i] = append(perPair[i], float64((threadCPU()-c0).Nanoseconds())/n)
			for _, l := range links {
				l.Close()
			}
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for b.Loop() {
		for r := 0; r < 5; r++ {
			round()
		}
	}
	none := median(perPair[0])
	if none <= 0 {
		b.Fatal("no thread CPU measured")
	}
	for i, c := range configs {
		m := median(perPair[i])
		b.ReportMetric(m, c.name+"-ns/pair")
		if i > 0 {
			b.ReportMetric(100*(m/none-1), c.name+"-%")
		}
	}
}
