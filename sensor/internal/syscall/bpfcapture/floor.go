package bpfcapture

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Floor is the bare cost of the capture's attach points: the sys_enter and
// sys_exit tracepoints (tp_btf, as the capture uses) running programs that
// return at once (bpf/floor.bpf.c). Benchmarks attach it to measure what
// any tracepoint-based capture pays before it looks at a syscall; what the
// capture costs above it is Harrier's own work.
type Floor struct {
	objs  floorObjects
	links []link.Link
}

// AttachFloor loads and attaches the floor programs (root or CAP_BPF and
// CAP_PERFMON).
func AttachFloor() (*Floor, error) {
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
	for _, p := range []*ebpf.Program{f.objs.FloorExit, f.objs.FloorEnter} {
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
