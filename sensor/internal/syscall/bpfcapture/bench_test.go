package bpfcapture

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// generate makes n close(-1) syscalls (cheap, fails with EBADF, one event
// each) on each of threads OS threads.
func generate(threads, n int) {
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := 0; i < n; i++ {
				unix.RawSyscall(unix.SYS_CLOSE, ^uintptr(0), 0, 0)
			}
		}()
	}
	wg.Wait()
}

func benchCapture(b *testing.B, ring int) (*Capture, *atomic.Uint64, func()) {
	requireRoot(b)
	c, err := Open(Options{RingBytes: ring, IgnorePID: -1})

	if err != nil {
		b.Fatal(err)
	}
	if err := c.SetInterest([]sysevent.Type{sysevent.SysClose}); err != nil {
		b.Fatal(err)
	}
	return c, new(atomic.Uint64), func() { c.Close() }
}

func (c *Capture) runCounting(ctx context.Context, n *atomic.Uint64) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, func(ev *sysevent.Event) {
			if ev.Type == sysevent.SysClose && ev.Ret == -int64(unix.EBADF) {
				n.Add(1)
			}
		})
	}()
	return done
}

// BenchmarkCaptureRate is the sustained rate: one generator thread
// produces close events while Run reads and decodes them on the other
// core. events/s counts delivered events; drops must stay 0.
func BenchmarkCaptureRate(b *testing.B) { benchRate(b, 1) }

// BenchmarkCaptureRateProcs is the realistic shape: the workload is two
// other processes (one per core) making close(-1) calls while this
// process reads, so the reader competes with them for the two cores
// under the kernel's scheduler, as the sensor does on a busy node.
func BenchmarkCaptureRateProcs(b *testing.B) {
	c, delivered, closeFn := benchCapture(b, 64<<20)
	defer closeFn()
	ctx, cancel := context.WithCancel(context.Background())
	done := c.runCounting(ctx, delivered)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "HARRIER_HELPER=closeloop", "HARRIER_N="+strconv.Itoa((b.N+1)/2))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); cmd.Wait() }()
	}
	wg.Wait()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		// (Stats reads the drop table with a syscall per entry: too
		// costly to poll; the ring's fill level is a memory read)
		if delivered.Load() >= uint64(b.N) || (c.rd.AvailableBytes() == 0 && time.Since(start) > 10*time.Millisecond && quiet(c, delivered)) {
			break
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	st, _ := c.Stats()
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(st.Drops), "drops")
}

func benchRate(b *testing.B, threads int) {
	c, delivered, closeFn := benchCapture(b, 64<<20)
	defer closeFn()
	ctx, cancel := context.WithCancel(context.Background())
	done := c.runCounting(ctx, delivered)
	b.ResetTimer()
	start := time.Now()
	generate(threads, (b.N+threads-1)/threads)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		// (Stats reads the drop table with a syscall per entry: too
		// costly to poll; the ring's fill level is a memory read)
		if delivered.Load() >= uint64(b.N) || (c.rd.AvailableBytes() == 0 && time.Since(start) > 10*time.Millisecond && quiet(c, delivered)) {
			break
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	st, err := c.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(st.Drops), "drops")
}

// BenchmarkReaderDrain is the reader's capacity: records are queued while
// nobody reads (two generator threads, at most a ring's worth at a time),
// then Run drains them; events/s is the drain rate of read + decode +
// callback, with the generation time excluded.
func BenchmarkReaderDrain(b *testing.B) {
	const chunk = 1 << 20 // events per fill; 256 MiB holds them
	c, delivered, closeFn := benchCapture(b, 256<<20)
	defer closeFn()
	b.ResetTimer()
	var drainTime time.Duration
	for left := b.N; left > 0; left -= chunk {
		n := min(left, chunk)
		b.StopTimer()
		generate(2, (n+1)/2)
		b.StartTimer()
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		done := c.runCounting(ctx, delivered)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Microsecond) {
			if c.rd.AvailableBytes() == 0 {
				break
			}
		}
		drainTime += time.Since(start)
		cancel()
		<-done
	}
	b.StopTimer()
	st, _ := c.Stats()
	if got := delivered.Load(); got+st.Drops < uint64(b.N) {
		b.Errorf("%d events delivered + %d dropped < %d made", got, st.Drops, b.N)
	}
	b.ReportMetric(float64(delivered.Load())/drainTime.Seconds(), "events/s")
	b.ReportMetric(float64(st.Drops), "drops")
}

// quiet reports whether no event arrived for a millisecond.
func quiet(c *Capture, n *atomic.Uint64) bool {
	before := n.Load()
	time.Sleep(time.Millisecond)
	return n.Load() == before && c.rd.AvailableBytes() == 0
}
