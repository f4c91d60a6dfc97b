// Package bpfcapture loads Harrier's eBPF programs (bpf/harrier.bpf.c),
// attaches them to the syscall and scheduler tracepoints, owns their maps
// and turns the ring buffer's records into sysevent.Events. It is the only
// package of the sensor that talks to the kernel's BPF interface.
package bpfcapture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Options configure Open.
type Options struct {
	// RingBytes is the ring buffer size in bytes: a power of two and a
	// multiple of the page size. Zero means DefaultRingBytes.
	RingBytes int
	// IgnorePID is the process whose syscalls are never captured (the
	// sensor itself, so that its own work does not feed back into the
	// capture). Zero means the calling process; -1 captures everything.
	IgnorePID int
	// MaxLatency bounds how long a record may wait in the ring buffer
	// before Run delivers it. The kernel wakes the reader only when a
	// sixteenth of the ring has filled; below that, Run polls every
	// MaxLatency. Zero means DefaultMaxLatency; a negative value wakes the
	// reader for every record (lowest latency, a context switch per event).
	MaxLatency time.Duration
}

// DefaultMaxLatency is the delivery latency bound when Options.MaxLatency is 0.
const DefaultMaxLatency = 5 * time.Millisecond

// DefaultRingBytes is the ring buffer size when Options.RingBytes is 0.
const DefaultRingBytes = 16 << 20

// Capture is a loaded and attached set of capture programs.
type Capture struct {
	objs  harrierObjects
	links []link.Link
	rd    *ringbuf.Reader

	bootOffset int64         // wall clock minus CLOCK_BOOTTIME, ns
	latency    time.Duration // poll period while the ring is below the wakeup mark; <0: none

	mu       sync.Mutex // guards interest and the prefilter's entries
	interest [sysevent.MaxSyscall + 1]bool

	prefilter map[sysevent.Type]bool // types with a prefilter row
	pfPaths   []pfKey
	pfComms   []commKey

	// Run and Close: closed, stopRun and runDone are guarded by mu; Close
	// cancels a running Run and waits for runDone before it closes the
	// reader, and takes res (which Stats holds) to close the maps.
	closed  bool
	stopRun context.CancelFunc
	runDone chan struct{}
	res     sync.Mutex
	final   *Stats // the counters at Close, under res

	events       atomic.Uint64
	decodeErrors atomic.Uint64
	lastErr      atomic.Value // error: the last decode error, for diagnosis
}

// Open checks the host's requirements, loads the programs and attaches
// them. No syscall is of interest until SetInterest; the process lifecycle
// (exec, fork, exit) is always captured.
func Open(opts Options) (*Capture, error) {
	if err := requirements(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("bpfcapture: raising RLIMIT_MEMLOCK: %w", err)
	}
	spec, err := loadHarrier()
	if err != nil {
		return nil, fmt.Errorf("bpfcapture: reading the embedded BPF object: %w", err)
	}
	ring := opts.RingBytes
	if ring == 0 {
		ring = DefaultRingBytes
	}
	page := os.Getpagesize()
	if ring < page || ring&(ring-1) != 0 {
		return nil, fmt.Errorf("bpfcapture: ring buffer size %d: must be a power of two of at least %d bytes", ring, page)
	}
	spec.Maps[harrierMapEvents].MaxEntries = uint32(ring)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("bpfcapture: counting CPUs: %w", err)
	}
	spec.Maps[harrierMapScratchMap].MaxEntries = uint32(ncpu)
	self := opts.IgnorePID
	if self == 0 {
		self = os.Getpid()
	}
	if self < 0 {
		self = 0
	}
	if err := spec.Variables["self_tgid"].Set(uint32(self)); err != nil {
		return nil, fmt.Errorf("bpfcapture: setting self_tgid: %w", err)
	}
	c := &Capture{latency: opts.MaxLatency}
	if c.latency == 0 {
		c.latency = DefaultMaxLatency
	}
	if c.latency > 0 {
		if err := spec.Variables["wakeup_bytes"].Set(uint64(ring / 16)); err != nil {
			return nil, fmt.Errorf("bpfcapture: setting wakeup_bytes: %w", err)
		}
	}
	if err := spec.LoadAndAssign(&c.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("bpfcapture: the kernel's verifier rejected a program: %+v", ve)
		}
		return nil, fmt.Errorf("bpfcapture: loading the programs: %w", err)
	}
	if err := c.fillIA32(); err != nil {
		c.Close()
		return nil, err
	}
	for _, p := range []*ebpf.Program{c.objs.SchedPrepareExec, c.objs.SchedExec, c.objs.SchedFork, c.objs.SchedExit, c.objs.SysExit} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bpfcapture: attaching %s: %w", p, err)
		}
		c.links = append(c.links, l)
	}
	c.rd, err = ringbuf.NewReader(c.objs.Events)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bpfcapture: opening the ring buffer: %w", err)
	}
	c.bootOffset = bootOffset()
	return c, nil
}

// ia32Types maps ia32 syscall numbers to the x86_64 event types with the
// same meaning, by name: "chown32" is chown, while the 16-bit-uid "chown"
// of ia32 has no equivalent. Syscalls without one (socketcall, ipc, ...)
// are counted as compat and not decoded.
func ia32Types() map[uint16]sysevent.Type {
	names := map[string]bool{}
	for _, n := range ia32Names {
		names[n] = true
	}
	out := map[uint16]sysevent.Type{}
	for nr, n := range ia32Names {
		if names[n+"32"] {
			continue // the 16-bit variant
		}
		if len(n) > 2 && n[len(n)-2:] == "32" && names[n[:len(n)-2]] {
			n = n[:len(n)-2]
		}
		if t, ok := sysevent.TypeByName(n); ok && t.IsSyscall() && int(nr) <= sysevent.MaxSyscall {
			out[nr] = t
		}
	}
	return out
}

func (c *Capture) fillIA32() error {
	for nr, t := range ia32Types() {
		if err := c.objs.Ia32Map.Put(uint32(nr), uint16(t)+1); err != nil {
			return fmt.Errorf("bpfcapture: filling the ia32 syscall map: %w", err)
		}
	}
	return nil
}

// requirements explains what is missing before the kernel gives a terse
// EPERM or ENOENT.
func requirements() error {
	if _, err := btf.LoadKernelSpec(); err != nil {
		return fmt.Errorf("bpfcapture: kernel BTF is not available (/sys/kernel/btf/vmlinux; needs CONFIG_DEBUG_INFO_BTF): %w", err)
	}
	if os.Geteuid() == 0 {
		return nil
	}
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("bpfcapture: reading capabilities: %w", err)
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if !has(unix.CAP_BPF) && !has(unix.CAP_SYS_ADMIN) {
		return errors.New("bpfcapture: not root and no CAP_BPF: run as root or grant CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE")
	}
	if !has(unix.CAP_PERFMON) && !has(unix.CAP_SYS_ADMIN) {
		return errors.New("bpfcapture: no CAP_PERFMON (needed to attach tracepoints and read kernel memory)")
	}
	return nil
}

// bootOffset returns realtime minus boottime, to turn the kernel's
// bpf_ktime_get_boot_ns into wall clock time. The smallest gap of a few
// samples wins, which bounds the error by the sampling delay.
func bootOffset() int64 {
	best, bestGap := int64(0), int64(-1)
	for i := 0; i < 5; i++ {
		var a, b, r unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &a)
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r)
		_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &b)
		gap := b.Nano() - a.Nano()
		if bestGap < 0 || gap < bestGap {
			best, bestGap = r.Nano()-(a.Nano()+gap/2), gap
		}
	}
	return best
}

// SetInterest replaces the set of syscalls that leave the kernel. Types
// that are not syscalls are ignored (the lifecycle events are always on).
func (c *Capture) SetInterest(types []sysevent.Type) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	var want [sysevent.MaxSyscall + 1]bool
	for _, t := range types {
		if t.IsSyscall() {
			want[t] = true
		}
	}
	// Turn new ones on before old ones off, so that a type in both sets is
	// never briefly missing.
	for pass := 0; pass < 2; pass++ {
		for i := range want {
			if want[i] == c.interest[i] || want[i] != (pass == 0) {
				continue
			}
			v := uint8(0)
			if want[i] {
				v = 1
			}
			if err := c.objs.Interest.Put(uint32(i), v); err != nil {
				return fmt.Errorf("bpfcapture: setting interest in %s: %w", sysevent.Type(i), err)
			}
			c.interest[i] = want[i]
		}
	}
	return nil
}

// Interest returns the syscalls currently of interest.
func (c *Capture) Interest() []sysevent.Type {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []sysevent.Type
	for i, on := range c.interest {
		if on {
			out = append(out, sysevent.Type(i))
		}
	}
	return out
}

// Run reads records until ctx ends or the capture is closed, calling fn
// with each decoded event in capture order. The event and what it points to
// are reused after fn returns, except strings and the Argv/Env slices,
// which fn may keep. Run must not be called concurrently.
func (c *Capture) Run(ctx context.Context, fn func(*sysevent.Event)) error {
	return c.RunIdle(ctx, fn, nil)
}

// RunIdle is Run with idle, when not nil, called whenever the ring buffer
// has been drained, before waiting for more: a batching consumer (such as
// dispatch.Sharder.Flush) sends its partial batches then.
func (c *Capture) RunIdle(ctx context.Context, fn func(*sysevent.Event), idle func()) error {
	return c.run(ctx, nil, fn, idle)
}

// RunOwned is RunIdle for a consumer that takes each event over: get
// returns an empty (zero or Reset) event that the next record is decoded
// into, and fn owns it from then on, so nothing is copied on the way
// (dispatch.Sharder's Get and SubmitOwned).
func (c *Capture) RunOwned(ctx context.Context, get func() *sysevent.Event, fn func(*sysevent.Event), idle func()) error {
	return c.run(ctx, get, fn, idle)
}

func (c *Capture) run(ctx context.Context, get func() *sysevent.Event, fn func(*sysevent.Event), idle func()) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.runDone != nil {
		c.mu.Unlock()
		return errors.New("bpfcapture: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	c.stopRun, c.runDone = cancel, done
	c.mu.Unlock()
	defer func() {
		cancel()
		c.mu.Lock()
		c.stopRun, c.runDone = nil, nil
		c.mu.Unlock()
		close(done)
	}()
	// Flush wakes a waiting ReadInto without the reader's lock (which
	// SetDeadline would wait for).
	// The flag stops a reader that never runs out of records.
	var stopped atomic.Bool
	flushed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(flushed)
		stopped.Store(true)
		c.rd.Flush()
	})
	defer func() {
		// A Flush under way must end before Close may close the reader.
		if !stop() {
			<-flushed
		}
	}()
	first := true

	d := newDecoder(c.bootOffset)
	var rec ringbuf.Record
	var ev *sysevent.Event
	if get == nil {
		ev = &sysevent.Event{}
	}
	var num uint64
	for {
		if stopped.Load() {
			return nil
		}
		if empty := c.rd.AvailableBytes() == 0; empty || first {
			if empty && idle != nil {
				idle()
			}
			if ctx.Err() != nil {
				return nil
			}
			// Records below the kernel's wakeup mark are picked up by
			// this timer; without one, ReadInto waits for a wakeup.
			var deadline time.Time
			if c.latency > 0 {
				deadline = time.Now().Add(c.latency)
			}
			c.rd.SetDeadline(deadline)
			first = false
		}
		if err := c.rd.ReadInto(&rec); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ringbuf.ErrClosed) {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ringbuf.ErrFlushed) {
				continue
			}
			return fmt.Errorf("bpfcapture: reading the ring buffer: %w", err)
		}
		if get == nil {
			ev.Reset()
		} else if ev == nil {
			ev = get()
		}
		if err := d.decode(rec.RawSample, ev); err != nil {
			c.decodeErrors.Add(1)
			c.lastErr.Store(err)
			if get != nil {
				ev.Reset() // kept for the next record
			}
			continue
		}
		num++
		ev.Num = num
		c.events.Add(1)
		fn(ev)
		if get != nil {
			ev = nil // fn owns it
		}
	}
}

// Stats are the capture's counters.
type Stats struct {
	Events       uint64 // records decoded and delivered
	DecodeErrors uint64 // records that could not be decoded (a bug: reported, skipped)
	// Drops is the number of records the kernel could not put in the ring
	// buffer because it was full, in total, by event type and by CPU.
	Drops       uint64
	DropsByType map[sysevent.Type]uint64
	DropsByCPU  []uint64
	// Compat counts 32-bit (ia32) syscalls that have no x86_64
	// equivalent (socketcall, ipc, 16-bit-uid calls, ...) and are not
	// decoded; the others are translated and decoded like x86_64 ones.
	Compat uint64
	// Filtered counts the events the kernel prefilter (SetPrefilter) kept
	// in the kernel because no rule could match them, by event type.
	Filtered       uint64
	FilteredByType map[sysevent.Type]uint64
	// RingBytes is the ring buffer size; Pending the bytes not yet read.
	RingBytes int
	Pending   int
}

// ErrClosed is returned by Run, RunIdle and SetInterest after Close.
var ErrClosed = errors.New("bpfcapture: capture closed")

// Stats reads the counters, including the kernel's drop table. After
// Close it returns the counters as they were when Close detached the
// programs.
func (c *Capture) Stats() (Stats, error) {
	c.res.Lock()
	defer c.res.Unlock()
	if c.final != nil {
		f := *c.final
		f.DropsByType = make(map[sysevent.Type]uint64, len(c.final.DropsByType))
		for k, v := range c.final.DropsByType {
			f.DropsByType[k] = v
		}
		f.DropsByCPU = append([]uint64(nil), c.final.DropsByCPU...)
		f.FilteredByType = make(map[sysevent.Type]uint64, len(c.final.FilteredByType))
		for k, v := range c.final.FilteredByType {
			f.FilteredByType[k] = v
		}
		return f, nil
	}
	return c.stats()
}

func (c *Capture) stats() (Stats, error) {
	if c.rd == nil || c.objs.Drops == nil {
		return Stats{DropsByType: map[sysevent.Type]uint64{}, FilteredByType: map[sysevent.Type]uint64{}}, ErrClosed
	}
	s := Stats{
		Events:         c.events.Load(),
		DecodeErrors:   c.decodeErrors.Load(),
		DropsByType:    map[sysevent.Type]uint64{},
		FilteredByType: map[sysevent.Type]uint64{},
		RingBytes:      c.rd.BufferSize(),
		Pending:        c.rd.AvailableBytes(),
	}
	var (
		key     uint32
		percpu  []uint64
		entries = c.objs.Drops.Iterate()
	)
	for entries.Next(&key, &percpu) {
		if s.DropsByCPU == nil {
			s.DropsByCPU = make([]uint64, len(percpu))
		}
		for cpu, n := range percpu {
			if n == 0 {
				continue
			}
			s.Drops += n
			s.DropsByType[sysevent.Type(key)] += n
			if cpu < len(s.DropsByCPU) {
				s.DropsByCPU[cpu] += n
			}
		}
	}
	if err := entries.Err(); err != nil {
		return s, fmt.Errorf("bpfcapture: reading drop counters: %w", err)
	}
	var compat []uint64
	if err := c.objs.Compat.Lookup(uint32(0), &compat); err != nil {
		return s, fmt.Errorf("bpfcapture: reading the compat counter: %w", err)
	}
	for _, n := range compat {
		s.Compat += n
	}
	if err := c.filteredStats(&s); err != nil {
		return s, err
	}
	return s, nil
}

// LastDecodeError returns the most recent decode error, or nil.
func (c *Capture) LastDecodeError() error {
	err, _ := c.lastErr.Load().(error)
	return err
}

// Close detaches the programs and frees the maps. A running Run is told
// to stop and Close waits for it to return (it returns nil) before closing
// the ring buffer, so Close may be called from any goroutine but fn;
// afterwards Stats answers with the final counters. Calling Close again
// does nothing.
func (c *Capture) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	stop, done := c.stopRun, c.runDone
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	c.res.Lock()
	defer c.res.Unlock()
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.links = nil
	// The counters once no program runs are complete; keep them.
	if st, err := c.stats(); err == nil {
		c.final = &st
	} else {
		c.final = &Stats{DropsByType: map[sysevent.Type]uint64{}, FilteredByType: map[sysevent.Type]uint64{}, Events: c.events.Load(), DecodeErrors: c.decodeErrors.Load()}
	}
	errs = append(errs, c.closeResources())
	return errors.Join(errs...)
}

func (c *Capture) closeResources() error {
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.links = nil
	if c.rd != nil {
		errs = append(errs, c.rd.Close())
	}
	errs = append(errs, c.objs.Close())
	return errors.Join(errs...)
}
