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
	for _, c := range []struct {
		name   string
		attach func() (*Floor, error)
		enter  bool
	}{{"AttachFloor", AttachFloor, false}, {"AttachFloorEnterExit", AttachFloorEnterExit, true}} {
		f, err := c.attach()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*ebpf.Program{f.objs.FloorEnter, f.objs.FloorExit} {
			st0, err := p.Stats()
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				unix.Getppid()
			}
			st, err := p.Stats()
			if err != nil {
				t.Fatal(err)
			}
			runs := st.RunCount - st0.RunCount
			if want := p != f.objs.FloorEnter || c.enter; want && runs < 10 {
				t.Errorf("%s: %s ran %d times, want ≥10", c.name, p, runs)
			} else if !want && runs != 0 {
				t.Errorf("%s: %s ran %d times, want 0 (not attached)", c.name, p, runs)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
