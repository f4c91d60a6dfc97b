package bpfcapture

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/dispatch"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Real events through the sharding stage: every process's events reach
// one worker, in capture order.
func TestCaptureThroughDispatchKeepsProcessOrder(t *testing.T) {
	requireRoot(t)
	c, err := Open(Options{IgnorePID: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetInterest([]sysevent.Type{sysevent.SysOpenat, sysevent.SysClose, sysevent.SysExecve, sysevent.SysClone}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	last := map[uint32]uint64{}
	worker := map[uint32]int{}
	bad := 0
	sh := dispatch.New(dispatch.Options{Workers: 2, Batch: 8}, func(w int, ev *sysevent.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Num <= last[ev.PID] {
			bad++
		}
		if prev, ok := worker[ev.PID]; ok && prev != w {
			bad++
		}
		last[ev.PID], worker[ev.PID] = ev.Num, w
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.RunIdle(ctx, sh.Submit, sh.Flush) }()
	var pids []uint32
	for i := 0; i < 20; i++ {
		cmd := exec.Command("/bin/cat", "/etc/hostname", "/etc/passwd")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, uint32(cmd.Process.Pid))
	}
	// until every cat's events have reached a worker
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		missing := 0
		for _, p := range pids {
			if _, ok := last[p]; !ok {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events of %d of the 20 cat processes never reached a worker", missing)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sh.Close()
	if bad != 0 {
		t.Errorf("%d events out of order or on another worker", bad)
	}
	if len(last) < 20 {
		t.Errorf("events of only %d processes", len(last))
	}
}

// An argument vector beyond the 4 KiB the kernel copies is cut, flagged
// Truncated, and still decodes.
func TestLongArgvIsTruncated(t *testing.T) {
	h := startCapture(t, Options{}, "execve")
	args := make([]string, 1000)
	for i := range args {
		args[i] = "argument"
	}
	cmd := exec.Command("/bin/true", args...)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ev := h.findType("execve", cmd.Process.Pid, "")
	if !ev.Truncated || len(ev.Argv) < 100 || len(ev.Argv) > 1001 || ev.Argv[0] != "/bin/true" {
		t.Errorf("truncated %v, %d args", ev.Truncated, len(ev.Argv))
	}
	if n := len(strings.Join(ev.Argv, "\x00")); n > 4096 {
		t.Errorf("argv of %d bytes passed the 4 KiB limit", n)
	}
}
