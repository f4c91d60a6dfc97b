package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/prefilter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/syscall/container"
	"github.com/harrier-security/harrier/sensor/internal/syscall/source"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// syscallSource is the eBPF syscall source (source.Source) with the
// daemon's evaluation around it: the daemon turns the ruleset into the
// interest set and owns each worker's scratch space.
type syscallSource struct {
	d   *Daemon
	src *source.Source
}

func openSyscall(d *Daemon) (*syscallSource, error) {
	sc := d.cfg.Sources.Syscall
	src, err := source.Open(source.Options{
		RingBytes: sc.RingBufferBytes,
		Workers:   sc.Workers,
		Interest:  sources.SyscallInterest(d.cur.Load().rs),
		// Container and pod metadata from the CRI runtime and Docker's
		// state files when the host has them; cgroup-derived ids always.
		RuntimeMetadata: true,
		Runtimes:        container.Paths{CRISockets: sc.CRISockets, DockerRoot: sc.DockerRoot},
		ContainerWait:   sc.ContainerWait,
		Logger:          d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("sources.syscall: %w (or set sources.syscall.enabled=false to run without syscall capture)", err)
	}
	s := &syscallSource{d: d, src: src}
	if err := src.SetPrefilter(prefilter.Derive(d.cur.Load().rs)); err != nil {
		src.Close()
		return nil, fmt.Errorf("sources.syscall: %w", err)
	}
	src.Containers.OnStart = s.containerStarted
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
	if err := s.src.SetInterest(sources.SyscallInterest(rs)); err != nil {
		return fmt.Errorf("sources.syscall: %w", err)
	}
	// The rules changed: so does what may stay in the kernel.
	if err := s.src.SetPrefilter(prefilter.Derive(rs)); err != nil {
		return fmt.Errorf("sources.syscall: %w", err)
	}
	return nil
}

// run bootstraps the process table and evaluates events until ctx ends;
// then it lets the workers finish what is queued.
func (s *syscallSource) run(ctx context.Context) error {
	if err := s.src.Bootstrap(ctx); err != nil {
		s.d.log.Warn("process table bootstrap from /proc incomplete", "err", err)
	}
	scratch := make([]filter.Scratch, s.src.Workers())
	err := s.src.Run(ctx, func(w int, ev *sysevent.Event) {
		s.d.evaluate(ev, &scratch[w], s.d.m.evaluatedSyscall)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *syscallSource) close() error { return s.src.Close() }
