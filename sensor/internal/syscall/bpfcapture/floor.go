package bpfcapture

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Floor is the bare cost of the capture's attach points: the sys_exit
// tracepoint (tp_btf, as the capture uses; sys_enter too for
// AttachFloorEnterExit, what a capture hooking both pays) running programs
// that return at once (bpf/floor.bpf.c). Benchmarks attach it to measure
// what a tracepoint-based capture pays before it looks at a syscall; what
// the capture costs above it is Harrier's own work.
type Floor struct {
	objs  floorObjects
	links []link.Link
}

// AttachFloor loads and attaches the floor program on sys_exit, the
// capture's one syscall attach point (root or CAP_BPF and CAP_PERFMON).
func AttachFloor() (*Floor, error) { return attachFloor(false) }

// AttachFloorEnterExit attaches floor programs on sys_enter and sys_exit:
// the floor of a capture that records arguments at entry.
func AttachFloorEnterExit() (*Floor, error) { return attachFloor(true) }

func attachFloor(enter bool) (*Floor, error) {
	if err := requirements(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("bpfcapture: raising RLIMIT_MEMLOCK: %w", err)
	}
	f := &Floor{}
	if err := loadFloorObjects(&f.objs, nil); err != nil {
		return nil, fmt.Errorf("bpfcapture: loading the floor programs: %w", err)
	}
	progs := []*ebpf.Program{f.objs.FloorExit}
	if enter {
		progs = append(progs, f.objs.FloorEnter)
	}
	for _, p := range progs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("bpfcapture: attaching %s: %w", p, err)
		}
		f.links = append(f.links, l)
	}
	return f, nil
}

// Close detaches and unloads the programs.
func (f *Floor) Close() error {
	var errs []error
	for _, l := range f.links {
		errs = append(errs, l.Close())
	}
	f.links = nil
	errs = append(errs, f.objs.Close())
	return errors.Join(errs...)
}
