package bpfcapture

import (
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// TestAttachFloor attaches the floor programs and checks, with the
// kernel's BPF statistics, that they run on this process's syscalls.
func TestAttachFloor(t *testing.T) {
	requireRoot(t)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatalf("BPF statistics: %v", err)
	}
	defer stats.Close()
	f, err := AttachFloor()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*ebpf.Program{f.objs.FloorEnter, f.objs.FloorExit} {
		for i := 0; i < 10; i++ {
			unix.Getppid()
		}
		st, err := p.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.RunCount < 10 {
			t.Errorf("%s ran %d times, want ≥10", p, st.RunCount)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
