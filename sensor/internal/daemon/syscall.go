package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/syscall/container"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/source"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// syscallSource is the eBPF capture feeding the process table and the
// rules (source.Source) with the daemon's metadata, evaluation and
// metrics around it.
type syscallSource struct {
	d         *Daemon
	src       *source.Source
	res       *container.Resolver
	closeMeta func()
	wait      time.Duration
}

func openSyscall(d *Daemon) (*syscallSource, error) {
	sc := d.cfg.Sources.Syscall
	s := &syscallSource{d: d, wait: sc.ContainerWait}
	src, err := source.Open(source.Options{
		RingBytes: sc.RingBufferBytes,
		Workers:   sc.Workers,
		Table: func() proctable.Config {
			// Container and pod metadata from the CRI runtime and Docker's
			// state files when the host has them; cgroup-derived ids always.
			disc, err := container.Discover(sc.CRISocket)
			if err != nil {
				d.log.Warn("no container runtime metadata (container.image, k8s.pod.* will be <NA>)", "err", err)
			}
			s.closeMeta = disc.Close
			s.res = disc.Resolver()
			s.res.SetLogger(d.log)
			s.res.OnStart = s.containerStarted
			return proctable.Config{ProcRoot: "/proc", Containers: s.res.FromCgroup, Logger: d.log}
		},
	})
	if err != nil {
		if s.closeMeta != nil {
			s.closeMeta()
		}
		return nil, fmt.Errorf("sources.syscall: %w (or set sources.syscall.enabled=false to run without syscall capture)", err)
	}
	s.src = src
	if err := s.setInterest(d.cur.Load().rs); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// containerStarted evaluates Falco's "container" event for a container
// that started while the sensor runs (rules with evt.type=container).
func (s *syscallSource) containerStarted(c *sysevent.Container) {
	th := &sysevent.Thread{}
	th.SetContainer(c)
	ev := &sysevent.Event{Type: sysevent.TypeContainer, Time: time.Now().UnixNano(), Thread: th}
	if c.StartTS > 0 {
		ev.Time = c.StartTS
	}
	sc := scratchPool.Get().(*filter.Scratch)
	s.d.evaluate(ev, sc, s.d.m.evaluatedSyscall)
	scratchPool.Put(sc)
}

func (s *syscallSource) setInterest(rs *rules.Ruleset) error {
	if err := s.src.SetInterest(rs); err != nil {
		return fmt.Errorf("sources.syscall: %w", err)
	}
	return nil
}

// run bootstraps the process table and evaluates events until ctx ends;
// then it lets the workers finish what is queued.
func (s *syscallSource) run(ctx context.Context) error {
	if err := s.src.Table.Bootstrap(ctx); err != nil {
		s.d.log.Warn("process table bootstrap from /proc incomplete", "err", err)
	}
	rctx, stopResolver := context.WithCancel(context.Background())
	defer stopResolver()
	go s.res.Run(rctx)
	err := s.src.Run(ctx, func(ev *sysevent.Event, scratch *filter.Scratch) {
		// An event of a container the runtime has not described yet waits
		// a bounded time for it (once per container; one atomic load for
		// the others).
		if th := ev.Thread; th != nil {
			if c := th.Placeholder(); c != nil && c.Pending() {
				s.res.Wait(c, s.wait)
			}
		}
		s.d.evaluate(ev, scratch, s.d.m.evaluatedSyscall)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *syscallSource) close() error {
	if s.closeMeta != nil {
		s.closeMeta()
	}
	return s.src.Close()
}

func (s *syscallSource) collectors() []prometheus.Collector {
	c := s.src.Capture
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
		newFunc("harrier_enrichment_misses_total", "Container metadata that was not there when needed, by kind: timeout (an event stopped waiting for it), lookup_failed (the runtime did not describe a container), queue_full (lookups backed up), alert (an alert went out without it).", prometheus.CounterValue, []string{"kind"},
			func(emit func(float64, ...string)) {
				for k, n := range s.res.Misses() {
					emit(float64(n), k)
				}
				emit(float64(s.d.m.alertMisses.Load()), "alert")
			}),
		newFunc("harrier_sensor_processes", "Processes in the process table (live and recently exited).", prometheus.GaugeValue, nil,
			func(emit func(float64, ...string)) { emit(float64(s.src.Table.Len())) }),
	}
}
