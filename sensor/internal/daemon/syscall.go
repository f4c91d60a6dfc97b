package daemon

import (
	"context"
	"fmt"
	"runtime"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harrier-security/harrier/sensor/internal/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/container"
	"github.com/harrier-security/harrier/sensor/internal/dispatch"
	"github.com/harrier-security/harrier/sensor/internal/filter"
	"github.com/harrier-security/harrier/sensor/internal/proctable"
	"github.com/harrier-security/harrier/sensor/internal/rules"
	"github.com/harrier-security/harrier/sensor/internal/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/sysevent"
)

// syscallSource is the eBPF capture feeding the process table and the
// rules: the reader goroutine shards events by process over the workers,
// each of which applies them to the process table and evaluates them.
type syscallSource struct {
	d         *Daemon
	capture   *bpfcapture.Capture
	table     *proctable.Table
	workers   int
	sharder   *dispatch.Sharder
	closeMeta func()
}

func openSyscall(d *Daemon) (*syscallSource, error) {
	sc := d.cfg.Sources.Syscall
	c, err := bpfcapture.Open(bpfcapture.Options{RingBytes: sc.RingBufferBytes})
	if err != nil {
		return nil, fmt.Errorf("sources.syscall: %w (or set sources.syscall.enabled=false to run without syscall capture)", err)
	}
	workers := sc.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	// Container and pod metadata from the CRI runtime and Docker's state
	// files when the host has them; cgroup-derived ids always.
	meta, closeMeta, err := container.DiscoverSources(sc.CRISocket)
	if err != nil {
		d.log.Warn("no container runtime metadata (container.image, k8s.pod.* will be <NA>)", "err", err)
	}
	res := container.NewResolver(nil)
	if len(meta) > 0 {
		res = container.NewResolver(meta)
	}
	s := &syscallSource{
		d:         d,
		capture:   c,
		table:     proctable.New(proctable.Config{ProcRoot: "/proc", Containers: res.FromCgroup, Logger: d.log}),
		workers:   workers,
		closeMeta: closeMeta,
	}
	if err := s.setInterest(d.cur.Load().rs); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// interest is the syscalls the kernel must pass: those the enabled syscall
// rules can match, plus those the process table needs.
func interest(rs *rules.Ruleset) []sysevent.Type {
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

func (s *syscallSource) setInterest(rs *rules.Ruleset) error {
	if err := s.capture.SetInterest(interest(rs)); err != nil {
		return fmt.Errorf("sources.syscall: %w", err)
	}
	return nil
}

// run bootstraps the process table and evaluates events until ctx ends;
// then it lets the workers finish what is queued.
func (s *syscallSource) run(ctx context.Context) error {
	if err := s.table.Bootstrap(ctx); err != nil {
		s.d.log.Warn("process table bootstrap from /proc incomplete", "err", err)
	}
	go s.table.Run(ctx)
	scratch := make([]filter.Scratch, s.workers)
	s.sharder = dispatch.New(dispatch.Options{Workers: s.workers, Batch: 64, Depth: 256}, func(w int, ev *sysevent.Event) {
		s.table.Apply(ev)
		s.d.evaluate(ev, &scratch[w], s.d.m.evaluatedSyscall)
	})
	err := s.capture.RunIdle(ctx, s.sharder.Submit, s.sharder.Flush)
	s.sharder.Close()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *syscallSource) close() error {
	if s.closeMeta != nil {
		s.closeMeta()
	}
	return s.capture.Close()
}

func (s *syscallSource) collectors() []prometheus.Collector {
	c := s.capture
	return []prometheus.Collector{
		newFunc("harrier_sensor_events_captured_total", "Syscall events read from the kernel.", prometheus.CounterValue, nil,
			func(emit func(float64, ...string)) {
				if st, err := c.Stats(); err == nil {
					emit(float64(st.Events))
				}
			}),
		newFunc("harrier_sensor_events_dropped_total", "Syscall events lost, by kind (ring buffer full per event type, decode errors, unpaired exits).", prometheus.CounterValue, []string{"kind"},
			func(emit func(float64, ...string)) {
				st, err := c.Stats()
				if err != nil {
					return
				}
				emit(float64(st.DecodeErrors), "decode_error")
				emit(float64(st.Unpaired), "unpaired")
				// One series per event type (summing them gives the total).
				var typed uint64
				for t, n := range st.DropsByType {
					typed += n
					emit(float64(n), "ringbuf_full:"+t.String())
				}
				if st.Drops > typed {
					emit(float64(st.Drops-typed), "ringbuf_full:other")
				}
			}),
		newFunc("harrier_sensor_processes", "Processes in the process table (live and recently exited).", prometheus.GaugeValue, nil,
			func(emit func(float64, ...string)) { emit(float64(s.table.Len())) }),
	}
}
