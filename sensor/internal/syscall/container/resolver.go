package container

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// MetadataSource describes a container from its runtime: image, name,
// Kubernetes pod, mounts. The CRI client and Docker's state files
// implement it.
type MetadataSource interface {
	Lookup(ctx context.Context, id ID) (*sysevent.Container, error)
}

// Watcher follows a container runtime: it lists the running containers,
// then reports containers as they start, until ctx ends or the connection
// fails (it returns the error; the resolver retries with backoff).
type Watcher interface {
	// Name names the runtime and its socket, for logs and /readyz.
	Name() string
	Watch(ctx context.Context, ev WatchEvents) error
}

// WatchEvents receives what a Watcher learns.
type WatchEvents interface {
	// Listed is a container that was running when the watch began.
	Listed(c *sysevent.Container)
	// Started is a container that started while the watch ran.
	Started(c *sysevent.Container)
	// Gone is a container that was deleted.
	Gone(fullID string)
	// Connected says the runtime answers (events may still be unsupported).
	Connected(detail string)
}

// Resolver maps cgroups to containers, once per container: every process
// of a container shares one *sysevent.Container.
//
// Metadata never comes on the caller's goroutine: a container first seen in
// a cgroup is published pending (id and type only) and looked up by the
// resolver's own workers; the watchers push containers as the runtimes
// start them, so that usually the metadata is there before the first
// process. Events of a pending container may wait a bounded time for it
// (Wait); each miss is counted by kind.
type Resolver struct {
	meta     MetadataSource
	watchers []Watcher
	log      *slog.Logger

	// LookupTimeout bounds one runtime lookup; RetryAfter is when a
	// container whose lookup failed is asked about again.
	LookupTimeout time.Duration
	RetryAfter    time.Duration
	// OnStart, when set, is called (on a resolver goroutine) with each
	// container that starts while the sensor runs, once its metadata is
	// known: Falco's "container" event.
	OnStart func(c *sysevent.Container)

	mu        sync.RWMutex
	byID      map[string]*sysevent.Container
	announced map[string]bool
	queue     chan lookupReq

	statusMu sync.Mutex
	status   map[string]RuntimeStatus

	missTimeout, missLookup, missQueue, missAlert atomic.Uint64
}

type lookupReq struct {
	id ID
	c  *sysevent.Container
}

// RuntimeStatus is the state of one runtime connection.
type RuntimeStatus struct {
	Name      string
	Connected bool
	Detail    string // what the runtime supports, or the last error
	Since     time.Time
}

// maxContainers bounds the cache; past it the cache starts over (the
// next lookups refill it).
const maxContainers = 8192

// NewResolver returns a resolver that looks containers up in meta (nil:
// containers carry only their id and type) and follows watchers. Run
// starts its workers.
func NewResolver(meta MetadataSource, watchers ...Watcher) *Resolver {
	return &Resolver{meta: meta, watchers: watchers, log: slog.Default(),
		LookupTimeout: 2 * time.Second, RetryAfter: 30 * time.Second,
		byID: map[string]*sysevent.Container{}, announced: map[string]bool{},
		queue: make(chan lookupReq, 1024), status: map[string]RuntimeStatus{}}
}

// SetLogger sets the logger of the resolver's workers.
func (r *Resolver) SetLogger(l *slog.Logger) {
	if l != nil {
		r.log = l
	}
}

// enriching reports whether the resolver can learn metadata at all.
func (r *Resolver) enriching() bool { return r.meta != nil || len(r.watchers) > 0 }

// FromCgroup takes the contents of /proc/PID/cgroup (or one cgroup path)
// and returns the process's container, sysevent.Host for the host. It
// never blocks on the runtime.
func (r *Resolver) FromCgroup(cgroup string) *sysevent.Container {
	var id ID
	if strings.Contains(cgroup, ":") {
		id = FromCgroupFile(cgroup)
	} else {
		id = FromCgroupPath(cgroup)
	}
	if id.Full == "" {
		return sysevent.Host
	}
	r.mu.RLock()
	c := r.byID[id.Full]
	r.mu.RUnlock()
	if c != nil {
		return c
	}
	c = &sysevent.Container{ID: id.Short(), FullID: id.Full, Type: string(id.Runtime), PodUID: id.PodUID}
	if r.enriching() {
		sysevent.NewPendingContainer(c)
	}
	r.mu.Lock()
	if old := r.byID[id.Full]; old != nil {
		r.mu.Unlock()
		return old
	}
	if len(r.byID) >= maxContainers {
		r.byID = map[string]*sysevent.Container{}
		r.announced = map[string]bool{}
	}
	r.byID[id.Full] = c
	r.mu.Unlock()
	if !r.enriching() {
		return c
	}
	if r.meta == nil {
		// Only watchers: the container may still be announced by one.
		return c
	}
	select {
	case r.queue <- lookupReq{id: id, c: c}:
	default:
		r.missQueue.Add(1)
		c.Resolve(nil)
	}
	return c
}

// complete publishes metadata for a container: it completes the pending
// container processes already hold, or becomes the container new processes
// get. It returns the container to announce, or nil.
func (r *Resolver) complete(m *sysevent.Container, started bool) *sysevent.Container {
	if m == nil || m.FullID == "" {
		return nil
	}
	if m.ID == "" {
		m.ID = ID{Full: m.FullID}.Short()
	}
	r.mu.Lock()
	old := r.byID[m.FullID]
	if old == nil {
		if len(r.byID) >= maxContainers {
			r.byID = map[string]*sysevent.Container{}
			r.announced = map[string]bool{}
		}
		r.byID[m.FullID] = m
	} else if !old.Resolved() {
		if m.PodUID == "" {
			m.PodUID = old.PodUID
		}
		if m.Type == "" {
			m.Type = old.Type
		}
		old.Resolve(m)
		started = true // first seen running before its metadata: it is new
	} else {
		r.mu.Unlock()
		return nil
	}
	announce := started && !r.announced[m.FullID]
	if announce {
		r.announced[m.FullID] = true
	}
	r.mu.Unlock()
	if announce {
		return m
	}
	return nil
}

func (r *Resolver) announce(c *sysevent.Container) {
	if c != nil && r.OnStart != nil {
		r.OnStart(c)
	}
}

// Run runs the lookup workers and the watchers until ctx ends.
func (r *Resolver) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range r.watchers {
		wg.Go(func() { r.watch(ctx, w) })
	}
	if r.meta != nil {
		for range 2 {
			wg.Go(func() { r.lookups(ctx) })
		}
	}
	wg.Wait()
}

func (r *Resolver) lookups(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-r.queue:
			if req.c.Resolved() {
				continue
			}
			r.lookup(ctx, req)
		}
	}
}

func (r *Resolver) lookup(ctx context.Context, req lookupReq) {
	var err error
	// A process may show up a moment before the runtime records its
	// container as started: try again shortly before giving up.
	for i, pause := range []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond} {
		if i > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
		lctx, cancel := context.WithTimeout(ctx, r.LookupTimeout)
		var m *sysevent.Container
		m, err = r.meta.Lookup(lctx, req.id)
		cancel()
		if err == nil && m != nil {
			m.FullID = req.id.Full
			m.ID = req.id.Short()
			if m.Type == "" {
				m.Type = string(req.id.Runtime)
			}
			r.announce(r.complete(m, false))
			return
		}
		if req.c.Resolved() {
			return
		}
	}
	r.missLookup.Add(1)
	r.log.Debug("container metadata lookup failed; its events carry <NA>", "container", req.id.Short(), "err", err)
	req.c.Resolve(nil)
	if r.RetryAfter > 0 {
		time.AfterFunc(r.RetryAfter, func() {
			if ctx.Err() == nil && !req.c.Resolved() {
				select {
				case r.queue <- req:
				default:
				}
			}
		})
	}
}

// watch runs one watcher, reconnecting with backoff.
func (r *Resolver) watch(ctx context.Context, w Watcher) {
	backoff := 500 * time.Millisecond
	r.setStatus(w.Name(), false, "connecting")
	for ctx.Err() == nil {
		start := time.Now()
		err := w.Watch(ctx, watchEvents{r: r, name: w.Name()})
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = 500 * time.Millisecond
		}
		msg := "disconnected"
		if err != nil {
			msg = err.Error()
		}
		r.setStatus(w.Name(), false, msg+"; retrying in "+backoff.String())
		r.log.Warn("container runtime unavailable; retrying", "runtime", w.Name(), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

type watchEvents struct {
	r    *Resolver
	name string
}

func (e watchEvents) Listed(c *sysevent.Container)  { e.r.announce(e.r.complete(c, false)) }
func (e watchEvents) Started(c *sysevent.Container) { e.r.announce(e.r.complete(c, true)) }
func (e watchEvents) Connected(detail string)       { e.r.setStatus(e.name, true, detail) }
func (e watchEvents) Gone(fullID string) {
	e.r.mu.Lock()
	if c := e.r.byID[fullID]; c != nil && c.Resolved() {
		delete(e.r.byID, fullID)
		delete(e.r.announced, fullID)
	}
	e.r.mu.Unlock()
}

func (r *Resolver) setStatus(name string, up bool, detail string) {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	old, ok := r.status[name]
	since := time.Now()
	if ok && old.Connected == up {
		since = old.Since
	}
	r.status[name] = RuntimeStatus{Name: name, Connected: up, Detail: detail, Since: since}
}

// Status returns the state of each runtime connection.
func (r *Resolver) Status() []RuntimeStatus {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	out := make([]RuntimeStatus, 0, len(r.status))
	for _, w := range r.watchers {
		if s, ok := r.status[w.Name()]; ok {
			out = append(out, s)
		}
	}
	return out
}

// Wait lets an event of a pending container wait up to d for its
// metadata; it reports whether the metadata is known. A wait that runs
// out is counted as a miss ("timeout").
func (r *Resolver) Wait(c *sysevent.Container, d time.Duration) bool {
	if !c.Pending() {
		return c.Resolved()
	}
	if d <= 0 {
		r.missTimeout.Add(1)
		return false
	}
	if c.Wait(d) {
		return true
	}
	r.missTimeout.Add(1)
	return false
}

// MissAlert counts an alert built before its container's metadata was
// known.
func (r *Resolver) MissAlert() { r.missAlert.Add(1) }

// Collector exports the misses as harrier_enrichment_misses_total{kind}.
func (r *Resolver) Collector() prometheus.Collector { return missCollector{r} }

type missCollector struct{ r *Resolver }

var missDesc = prometheus.NewDesc("harrier_enrichment_misses_total",
	"Container metadata that was not there when needed, by kind: timeout (an event stopped waiting for it), lookup_failed (the runtime did not describe a container), queue_full (lookups backed up), alert (an alert went out without it).",
	[]string{"kind"}, nil)

func (c missCollector) Describe(ch chan<- *prometheus.Desc) { ch <- missDesc }
func (c missCollector) Collect(ch chan<- prometheus.Metric) {
	for k, n := range c.r.Misses() {
		ch <- prometheus.MustNewConstMetric(missDesc, prometheus.CounterValue, float64(n), k)
	}
}

// Misses returns the counts of enrichment misses by kind: timeout (an
// event went on without waiting long enough), lookup_failed (the runtime
// did not describe a container), queue_full (lookups backed up), alert
// (an alert went out without it).
func (r *Resolver) Misses() map[string]uint64 {
	return map[string]uint64{
		"timeout":       r.missTimeout.Load(),
		"lookup_failed": r.missLookup.Load(),
		"queue_full":    r.missQueue.Load(),
		"alert":         r.missAlert.Load(),
	}
}
