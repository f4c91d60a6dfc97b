// Package source assembles the sensor's syscall event source:
// bpfcapture → dispatch (workers sharded by process) → proctable.Apply →
// a caller's evaluation. The daemon and the live test harness both run it,
// so what the tests exercise is the pipeline the sensor runs.
package source

import (
	"context"
	"runtime"
	"slices"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/syscall/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/syscall/dispatch"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Options configure Open.
type Options struct {
	RingBytes int // capture ring buffer size; 0: bpfcapture's default
	Workers   int // evaluation workers; 0 or less: one per core
	// Table configures the process table the events are applied to. Open
	// calls it only once the capture is open, so that a host that cannot
	// capture is not probed for what the table needs (container runtimes).
	// nil: the zero Config (no /proc reads, every process on the host).
	Table func() proctable.Config
}

// Source is an open capture with its process table. Evaluation starts
// with Run.
type Source struct {
	Capture *bpfcapture.Capture
	Table   *proctable.Table
	workers int
}

// Open loads the capture programs and creates the process table. The
// capture passes only the lifecycle events until SetInterest.
func Open(opts Options) (*Source, error) {
	c, err := bpfcapture.Open(bpfcapture.Options{RingBytes: opts.RingBytes})
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var cfg proctable.Config
	if opts.Table != nil {
		cfg = opts.Table()
	}
	return &Source{Capture: c, Table: proctable.New(cfg), workers: workers}, nil
}

// Interest is the syscalls the kernel must pass for rs: those its enabled
// syscall rules can match, plus those the process table needs.
func Interest(rs *rules.Ruleset) []sysevent.Type {
	set := map[sysevent.Type]bool{}
	for _, t := range proctable.StateTypes() {
		set[t] = true
	}
	for _, r := range rs.Rules() {
		if !r.Enabled || r.Source != syscallfields.Source {
			continue
		}
		if len(r.EventTypes) == 0 {
			// The rule can match any event type: every syscall.
			for t := 0; t <= sysevent.MaxSyscall; t++ {
				set[sysevent.Type(t)] = true
			}
			continue
		}
		for _, name := range r.EventTypes {
			if t, ok := sysevent.TypeByName(name); ok {
				set[t] = true
			}
		}
	}
	out := make([]sysevent.Type, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// SetInterest makes the kernel pass the syscalls rs needs (Interest).
func (s *Source) SetInterest(rs *rules.Ruleset) error {
	return s.Capture.SetInterest(Interest(rs))
}

// Run sweeps the process table and shards the captured events by process
// over the workers, each of which applies an event to the process table
// and then hands it to evaluate with that worker's scratch space; events
// of one process are evaluated in order. Run returns when ctx ends or the
// capture fails, after the workers have finished what was queued. The
// caller bootstraps the table before (how a failure counts is its choice).
func (s *Source) Run(ctx context.Context, evaluate func(ev *sysevent.Event, scratch *filter.Scratch)) error {
	go s.Table.Run(ctx)
	scratch := make([]filter.Scratch, s.workers)
	sh := dispatch.New(dispatch.Options{Workers: s.workers, Batch: 64, Depth: 256}, func(w int, ev *sysevent.Event) {
		s.Table.Apply(ev)
		evaluate(ev, &scratch[w])
	})
	err := s.Capture.RunIdle(ctx, sh.Submit, sh.Flush)
	sh.Close()
	return err
}

// Close detaches the programs; call it after Run has returned.
func (s *Source) Close() error { return s.Capture.Close() }
