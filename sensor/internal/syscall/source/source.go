// Package source assembles the sensor's syscall event source:
// bpfcapture → dispatch (workers sharded by process) → proctable.Apply →
// the caller's handler. The daemon, `harrier-sensor capture`, the live
// tests and the benchmarks all open it with Open, so what the tests
// exercise is the pipeline the sensor runs.
//
// The source knows nothing of rules: its user says which syscalls it
// wants (an interest set), and the source adds those its process table
// needs.
package source

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harrier-security/harrier/sensor/internal/syscall/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/syscall/container"
	"github.com/harrier-security/harrier/sensor/internal/syscall/dispatch"
	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Options configure Open.
type Options struct {
	RingBytes int // capture ring buffer size; 0: bpfcapture's default
	Workers   int // handler workers; 0 or less: one per core
	// Interest is the syscalls the caller wants; the process table's own
	// are always added. Change it later with SetInterest.
	Interest []sysevent.Type
	// RuntimeMetadata asks the container runtimes (the CRI socket,
	// Docker's state files) for image and pod metadata; without it
	// containers are known by their cgroup-derived id only.
	RuntimeMetadata bool
	// Runtimes says where the CRI sockets and Docker's state are
	// (container.DefaultPaths on a host).
	Runtimes container.Paths
	// ContainerWait bounds how long an event of a container whose metadata
	// is being looked up waits for it before it is handled (once per
	// container; 0: never wait).
	ContainerWait time.Duration
	// OnContainerStart, when set, is called with each container that
	// starts while the source runs, once its metadata is known.
	OnContainerStart func(c *sysevent.Container)
	Logger           *slog.Logger
}

// Source is an open capture with its process table. Handling starts with
// Run.
type Source struct {
	Capture *bpfcapture.Capture
	Table   *proctable.Table
	// Containers resolves cgroups to containers and their runtime
	// metadata; Run runs its lookups and runtime watchers.
	Containers *container.Resolver
	workers    int
	log        *slog.Logger

	sh        *dispatch.Sharder
	handle    Handler // set by Run before the first event is submitted
	closeMeta func()
}

// Open loads the capture programs, sets the interest set and creates the
// process table. The capture is opened before the container runtimes are
// probed and before anything reads /proc, so that a host that cannot
// capture is not probed and no process born in between is missed.
func Open(opts Options) (*Source, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	c, err := bpfcapture.Open(bpfcapture.Options{RingBytes: opts.RingBytes})
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	s := &Source{Capture: c, workers: workers, log: log, closeMeta: func() {}}
	if err := s.SetInterest(opts.Interest); err != nil {
		c.Close()
		return nil, err
	}
	s.Containers = container.NewResolver(nil)
	if opts.RuntimeMetadata {
		d, err := container.Discover(opts.Runtimes)
		switch {
		case err != nil:
			log.Warn("no container runtime metadata (container.image, k8s.pod.* will be <NA>)", "err", err)
		case len(d.Meta) == 0: // the CRI runtime, when found, is among the sources
			log.Info("no container runtime found: containers are known by id only (container.image, k8s.pod.* are <NA>)",
				"cri_sockets", opts.Runtimes.CRISockets, "docker_root", opts.Runtimes.DockerRoot)
		}
		s.closeMeta = d.Close
		s.Containers = d.Resolver()
	}
	s.Containers.SetLogger(log)
	s.Containers.OnStart = opts.OnContainerStart
	s.Table = proctable.New(proctable.Config{ProcRoot: "/proc", Containers: s.Containers.FromCgroup, Logger: log})
	// The workers exist from Open so that their metrics can be registered
	// before Run; they receive events only once Run has set the handler.
	wait := opts.ContainerWait
	s.sh = dispatch.New(dispatch.Options{Workers: workers, Batch: 64, Depth: 256}, func(w int, ev *sysevent.Event) {
		s.Table.Apply(ev)
		// An event of a container the runtime has not described yet
		// waits a bounded time for it, once per container; for the others
		// this is one atomic load.
		if th := ev.Thread; th != nil {
			if c := th.Placeholder(); c != nil && c.Pending() {
				s.Containers.Wait(c, wait)
			}
		}
		s.handle(w, ev)
	})
	return s, nil
}

// Workers is the number of handler workers Run starts; worker indexes
// passed to the handler are below it.
func (s *Source) Workers() int { return s.workers }

// SetInterest makes the kernel pass the given syscalls plus those the
// process table needs.
func (s *Source) SetInterest(types []sysevent.Type) error {
	if err := s.Capture.SetInterest(WithState(types)); err != nil {
		return fmt.Errorf("setting the syscalls of interest: %w", err)
	}
	return nil
}

// SetPrefilter loads the kernel prefilter (nil: none): events of
// interest that no rule can match and no state needs stay in the kernel.
func (s *Source) SetPrefilter(spec *kfilter.Spec) error {
	pf, err := spec.Compile()
	if err != nil {
		return fmt.Errorf("compiling the kernel prefilter: %w", err)
	}
	if err := s.Capture.SetPrefilter(pf); err != nil {
		return fmt.Errorf("loading the kernel prefilter: %w", err)
	}
	return nil
}

// WithState is types plus the syscalls the process table needs, sorted
// and without duplicates.
func WithState(types []sysevent.Type) []sysevent.Type {
	out := append(slices.Clone(types), proctable.StateTypes()...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Bootstrap reads the processes already running from /proc. Call it after
// Open and before Run; how a partial failure counts is the caller's
// choice.
func (s *Source) Bootstrap(ctx context.Context) error { return s.Table.Bootstrap(ctx) }

// Handler handles one event on worker w (0 ≤ w < Workers()): events of
// one process reach the same worker in capture order, so per-worker
// scratch space needs no lock. The event is recycled when the handler
// returns (see dispatch.Handler).
type Handler func(w int, ev *sysevent.Event)

// Run sweeps the process table and shards the captured events by process
// over the workers, each of which applies an event to the process table
// and then hands it to handle. Run returns when ctx ends or the capture
// fails, after the workers have finished what was queued. Run once.
func (s *Source) Run(ctx context.Context, handle Handler) error {
	go s.Table.Run(ctx)
	// The domain names rules compare fd.*ip.name with resolve in the
	// background while events flow.
	syscallfields.StartDNS(ctx)
	// Lookups outlive ctx until the workers have drained.
	rctx, stopLookups := context.WithCancel(context.Background())
	defer stopLookups()
	go s.Containers.Run(rctx)
	// Written before the first Submit: the channel send to a worker orders
	// it before every handler call.
	s.handle = handle
	// Records are decoded straight into the workers' pooled events: no
	// per-event copy of the event struct on the way.
	err := s.Capture.RunOwned(ctx, s.sh.Get, s.sh.SubmitOwned, s.sh.Flush)
	s.sh.Close()
	return err
}

// Collectors are the source's metrics, each owned by its component:
// capture (harrier_capture_*), dispatch (harrier_dispatch_*), process
// table (harrier_proctable_*) and container metadata
// (harrier_enrichment_*).
func (s *Source) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.Capture.Collector(), s.sh.Collector(), s.Table.Collector(), s.Containers.Collector()}
}

// Close stops the workers, detaches the programs and closes the runtime
// connections; call it after Run has returned (or without Run).
func (s *Source) Close() error {
	s.sh.Close()
	s.closeMeta()
	return s.Capture.Close()
}
