// Package proctable keeps the state of every process on the host: its exec
// image, credentials, working directory, container, parent chain and open
// file descriptors. It is bootstrapped from /proc, then kept current by the
// syscall events themselves (exec, fork, exit, open, socket, connect, ...).
// Apply attaches that state to each event (Event.Thread, Event.FDInfo) so
// that field extraction needs no lookups.
//
// # Concurrency
//
// Events are sharded by thread-group id across evaluation workers and each
// process's events arrive in order on one worker: that worker is the
// owner of the process's Thread and the only goroutine that writes it.
// Other goroutines only read it as an ancestor of their own processes, or
// copy it into a forked child. sysevent.Thread documents which parts they
// may read (immutable images, atomic links and ids, the rest under
// Thread.Mu, which the owner takes whenever it writes those fields). The
// table itself is a sharded map with one RWMutex per shard; the hot path is
// one read-locked map lookup per event plus an fd table index.
//
// Exited processes stay in the table for Config.ExitGrace (so that alerts
// on late events and children's ancestry still see them) and are then
// removed by Sweep, which also notices processes that exited without an
// exit event (lost events) by checking /proc, and enforces MaxProcs.
//
// # What is kept
//
// Per process: the image (exe, args, bounded environment), credentials
// with their names, cwd, tty, session, container and parent link, and the
// open fds. Per fd, only what a field or the table itself reads: number,
// type, name (with its raw spelling when it differs, and its directory and
// base as slices of it), the socket tuple and its text, inode and device,
// the open flags (close-on-exec decides what an exec closes), the creation
// mode (4 bytes beside the flags; only capture recordings keep it) and the
// event that last renamed it (fd.name_changed). Failed opens are not
// kept.
//
// With the kernel prefilter loaded (engine/prefilter), the table sees
// only the opens some rule needs: the fds of the others have no entry,
// and their closes stay in the kernel too. A copy of such an fd (dup,
// F_DUPFD) onto a known number forgets that number's old file. An alert
// on an event of such an fd reads it from /proc once (ResolveFD), into a
// small per-process cache kept beside the fd table rather than in it.
package proctable

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Config tunes a Table. The zero value works: no /proc, defaults below.
type Config struct {
	// ProcRoot is where procfs is mounted ("/proc"). Empty disables every
	// read of /proc: unknown processes then get minimal entries (tests,
	// replays of recorded events).
	ProcRoot string
	// MaxProcs bounds the number of processes kept (default 65536).
	MaxProcs int
	// ExitGrace is how long an exited process is kept (default 30s).
	ExitGrace time.Duration
	// SweepEvery is the period of Run's sweeps (default 10s).
	SweepEvery time.Duration
	// MaxEnv bounds the environment entries kept per process read from
	// /proc (default 128); events carry a bounded environment already.
	MaxEnv int
	// Containers maps the contents of a cgroup file (or a single cgroup
	// path) to the container; nil means every process is on the host.
	Containers func(cgroup string) *sysevent.Container
	// Users names users and groups when credentials are set; nil means
	// NewUserResolver(ProcRoot) when ProcRoot is set, else no names.
	Users UserResolver
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

const numShards = 64

// Table is the process table. Create it with New.
type Table struct {
	cfg    Config
	shards [numShards]shard
	count  atomic.Int64

	// counters for Stats
	created, fromProc, exited, healed, evicted, removed atomic.Uint64
	// ResolveFD's outcomes
	fdResolved, fdCached, fdUnresolved atomic.Uint64
}

type shard struct {
	mu sync.RWMutex
	m  map[int64]*entry
	_  [40]byte // keep shards on separate cache lines
}

// entry is the table's bookkeeping around a Thread.
type entry struct {
	t        *sysevent.Thread
	lastSeen atomic.Int64 // event time of the last event, ns
	exitAt   atomic.Int64 // wall clock when marked exited, ns; 0 alive
	// failed is a scratch fd for failed opens (fd.num = -1 with the path
	// as fd.name, as libsinsp reports them); owner only, valid until the
	// process's next event.
	failed sysevent.FD
	cgroup string // last cgroup seen, to notice moves cheaply (owner only)
	// lazy caches the fds ResolveFD read from /proc (owner only).
	lazy map[int64]lazyFD
}

// Stats are the table's counters.
type Stats struct {
	Live, Created, FromProc, Exited, Healed, Evicted, Removed uint64
	// FDResolved, FDCached and FDUnresolved count ResolveFD's lookups:
	// read from /proc, reused from its cache, not found (or remembered as
	// not found).
	FDResolved, FDCached, FDUnresolved uint64
}

// New returns an empty table; call Bootstrap to load the running processes.
func New(cfg Config) *Table {
	if cfg.MaxProcs <= 0 {
		cfg.MaxProcs = 65536
	}
	if cfg.ExitGrace <= 0 {
		cfg.ExitGrace = 30 * time.Second
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 10 * time.Second
	}
	if cfg.MaxEnv <= 0 {
		cfg.MaxEnv = 128
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Users == nil && cfg.ProcRoot != "" {
		cfg.Users = NewUserResolver(cfg.ProcRoot)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Table{cfg: cfg}
	for i := range t.shards {
		t.shards[i].m = make(map[int64]*entry)
	}
	return t
}

func (tb *Table) shard(pid int64) *shard { return &tb.shards[uint64(pid)%numShards] }

func (tb *Table) get(pid int64) *entry {
	s := tb.shard(pid)
	s.mu.RLock()
	e := s.m[pid]
	s.mu.RUnlock()
	return e
}

// Get returns the process with the given host pid, or nil.
func (tb *Table) Get(pid int64) *sysevent.Thread {
	if e := tb.get(pid); e != nil {
		return e.t
	}
	return nil
}

// Len is the number of processes in the table (live and recently exited).
func (tb *Table) Len() int { return int(tb.count.Load()) }

// Stats returns the table's counters.
func (tb *Table) Stats() Stats {
	return Stats{
		Live: uint64(tb.count.Load()), Created: tb.created.Load(), FromProc: tb.fromProc.Load(),
		Exited: tb.exited.Load(), Healed: tb.healed.Load(), Evicted: tb.evicted.Load(), Removed: tb.removed.Load(),
		FDResolved: tb.fdResolved.Load(), FDCached: tb.fdCached.Load(), FDUnresolved: tb.fdUnresolved.Load(),
	}
}

// insert adds e unless the pid is present; it returns the entry that is
// in the table afterwards. replace forces e in (a process seen born
// replaces a placeholder).
func (tb *Table) insert(e *entry, replace bool) *entry {
	pid := e.t.Pid
	s := tb.shard(pid)
	s.mu.Lock()
	if old := s.m[pid]; old != nil && !replace {
		s.mu.Unlock()
		return old
	} else if old == nil {
		tb.count.Add(1)
	}
	s.m[pid] = e
	s.mu.Unlock()
	tb.created.Add(1)
	if tb.count.Load() > int64(tb.cfg.MaxProcs) {
		tb.evict()
	}
	return e
}

// evict makes room when the table is over MaxProcs: exited processes go
// first, then the ones that have been quiet longest among a shard's worth.
func (tb *Table) evict() {
	over := tb.count.Load() - int64(tb.cfg.MaxProcs)
	for i := 0; over > 0 && i < numShards; i++ {
		s := &tb.shards[i]
		s.mu.Lock()
		for pid, e := range s.m {
			if over <= 0 {
				break
			}
			if e.exitAt.Load() != 0 {
				delete(s.m, pid)
				tb.count.Add(-1)
				tb.evicted.Add(1)
				over--
			}
		}
		s.mu.Unlock()
	}
	for over > 0 {
		// Oldest by last event among all shards (rare: table full of live
		// processes).
		var oldest *entry
		var oldestShard *shard
		for i := range tb.shards {
			s := &tb.shards[i]
			s.mu.RLock()
			for _, e := range s.m {
				if oldest == nil || e.lastSeen.Load() < oldest.lastSeen.Load() {
					oldest, oldestShard = e, s
				}
			}
			s.mu.RUnlock()
		}
		if oldest == nil {
			return
		}
		oldestShard.mu.Lock()
		if oldestShard.m[oldest.t.Pid] == oldest {
			delete(oldestShard.m, oldest.t.Pid)
			tb.count.Add(-1)
			tb.evicted.Add(1)
		}
		oldestShard.mu.Unlock()
		over--
	}
}

// Run sweeps the table every SweepEvery until ctx ends.
func (tb *Table) Run(ctx context.Context) {
	tick := time.NewTicker(tb.cfg.SweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			tb.Sweep()
		}
	}
}

// Sweep removes processes that exited more than ExitGrace ago and marks
// as exited those that vanished from /proc without an exit event (only
// processes quiet for a whole sweep period are checked, so the cost is a
// stat per idle process per period).
func (tb *Table) Sweep() {
	now := tb.cfg.Now().UnixNano()
	grace := int64(tb.cfg.ExitGrace)
	quiet := now - int64(tb.cfg.SweepEvery)
	var check []*entry
	for i := range tb.shards {
		s := &tb.shards[i]
		s.mu.Lock()
		for pid, e := range s.m {
			if x := e.exitAt.Load(); x != 0 {
				if now-x >= grace {
					delete(s.m, pid)
					tb.count.Add(-1)
					tb.removed.Add(1)
				}
				continue
			}
			if tb.cfg.ProcRoot != "" && e.lastSeen.Load() < quiet {
				check = append(check, e)
			}
		}
		s.mu.Unlock()
	}
	for _, e := range check {
		if !procExists(tb.cfg.ProcRoot, e.t.Pid, e.t.StartTime) {
			tb.markExited(e, now)
			tb.healed.Add(1)
		}
	}
}

// markExited records the exit of e's process at wall clock now (ns).
func (tb *Table) markExited(e *entry, now int64) {
	if !e.exitAt.CompareAndSwap(0, now) {
		return
	}
	if e.t.ExitTime() == 0 {
		e.t.SetExitTime(now)
	}
	if p := e.t.Parent(); p != nil {
		p.Children.Add(-1)
	}
	tb.exited.Add(1)
}
