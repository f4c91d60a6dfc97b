package bpfcapture

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Stats after Close answers with the counters as they were at Close
// (events delivered, drops counted) instead of touching the closed
// reader and maps; Run and SetInterest after Close say it is closed.
func TestStatsAfterClose(t *testing.T) {
	requireRoot(t)
	c, err := Open(Options{RingBytes: os.Getpagesize(), IgnorePID: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetInterest([]sysevent.Type{sysevent.SysOpenat}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ { // overflow the one-page ring: drops
		if fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
		}
	}
	before, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := c.Stats()
	if err != nil {
		t.Fatalf("Stats after Close: %v", err)
	}
	if after.Drops < before.Drops || after.Drops == 0 || after.DropsByType[sysevent.SysOpenat] == 0 || after.RingBytes != before.RingBytes {
		t.Errorf("Stats after Close = %+v, before Close %+v", after, before)
	}
	after.DropsByType[sysevent.SysOpenat] = 0 // a copy: the next call is unchanged
	if again, _ := c.Stats(); again.DropsByType[sysevent.SysOpenat] == 0 {
		t.Error("Stats returned its own map to the caller")
	}
	if err := c.Run(context.Background(), func(*sysevent.Event) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if err := c.SetInterest([]sysevent.Type{sysevent.SysClose}); !errors.Is(err, ErrClosed) {
		t.Errorf("SetInterest after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Close while Run is reading (and events keep coming, and Stats is being
// read from a third goroutine) stops Run, which returns nil, before the
// reader is closed: no data race (run with -race), no panic, no error.
func TestCloseWhileRunning(t *testing.T) {
	requireRoot(t)
	for round := 0; round < 3; round++ {
		c, err := Open(Options{RingBytes: 1 << 20, IgnorePID: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetInterest([]sysevent.Type{sysevent.SysOpenat, sysevent.SysClose}); err != nil {
			t.Fatal(err)
		}
		var got sync.WaitGroup
		got.Add(1)
		var once sync.Once
		done := make(chan error, 1)
		go func() {
			done <- c.Run(context.Background(), func(*sysevent.Event) { once.Do(got.Done) })
		}()
		stop := make(chan struct{})
		var load sync.WaitGroup
		load.Add(2)
		go func() { // events keep coming
			defer load.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0); err == nil {
					unix.Close(fd)
				}
			}
		}()
		go func() { // and someone reads the counters
			defer load.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = c.Stats()
				time.Sleep(time.Millisecond)
			}
		}()
		got.Wait() // Run is delivering
		if err := c.Close(); err != nil {
			t.Fatalf("Close while running: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run after Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after Close") // Close waits for it, so this would be a bug
		}
		close(stop)
		load.Wait()
		if st, err := c.Stats(); err != nil || st.Events == 0 {
			t.Fatalf("final Stats = %+v, %v", st, err)
		}
	}
}

// The sensor's own syscalls are ignored: never delivered.
func TestOwnSyscallsAreNotDelivered(t *testing.T) {
	requireRoot(t)
	c, err := Open(Options{RingBytes: 1 << 20}) // IgnorePID 0: this process
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetInterest([]sysevent.Type{sysevent.SysOpenat, sysevent.SysClose}); err != nil {
		t.Fatal(err)
	}
	var own int
	var mu sync.Mutex
	pids := map[uint32]bool{} // processes whose events were read
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	self := uint32(os.Getpid())
	go func() {
		done <- c.Run(ctx, func(ev *sysevent.Event) {
			if ev.PID == self {
				own++
			}
			mu.Lock()
			pids[ev.PID] = true
			mu.Unlock()
		})
	}()
	for i := 0; i < 1000; i++ {
		if fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
		}
	}
	// The ring buffer is one queue in reservation order: once an event of
	// a child started after the loop is read, every event the loop could
	// have produced has been read too.
	cmd := exec.Command("/bin/cat", "/etc/hostname")
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	seen := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return pids[uint32(cmd.Process.Pid)]
	}
	for deadline := time.Now().Add(10 * time.Second); !seen(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the marker child's events never arrived")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if own != 0 {
		t.Errorf("own events delivered: %d, want 0", own)
	}
}
