package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/syscall/capturefile"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
	"github.com/harrier-security/harrier/sensor/internal/testkit/sysprobe"
)

// sysprobeEnv makes the test binary, started by the test below, issue
// every syscall the capture decodes (harmlessly) instead of the tests.
const sysprobeEnv = "HARRIER_TEST_SYSPROBE"

func init() {
	if os.Getenv(sysprobeEnv) != "1" {
		return
	}
	if err := sysprobe.Issue(bpfcapture.Covered); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(3)
	}
	os.Exit(0)
}

// TestCaptureTypesWithoutRules: without rules, capture asks the kernel
// for every syscall the capture decodes.
func TestCaptureTypesWithoutRules(t *testing.T) {
	got, err := captureTypes(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ty := range bpfcapture.Covered {
		if !slices.Contains(got, ty) {
			t.Errorf("capture without rules leaves out %s", ty)
		}
	}
}

// TestCaptureRecordsEveryCoveredSyscall runs `capture` for real while a
// child issues every syscall in bpfcapture.Covered, and checks that the
// file holds each of them for that child (or the children it forks).
func TestCaptureRecordsEveryCoveredSyscall(t *testing.T) {
	require.Root(t, "capture loads BPF programs")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "covered.hcap")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"capture", "-w", file, "--duration", "4s"}, io.Discard, &stderr)
	}()
	// Run the probe until the capture ends, so that some runs overlap the
	// time it is attached whatever its start-up takes.
	var mu sync.Mutex
	probes := map[int64]bool{}
	var code int
loop:
	for {
		select {
		case code = <-done:
			break loop
		case <-time.After(200 * time.Millisecond):
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), sysprobeEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("probe: %v: %s", err, out)
			}
			mu.Lock()
			probes[int64(cmd.Process.Pid)] = true
			mu.Unlock()
		}
	}
	if code != 0 {
		t.Fatalf("capture exited %d: %s", code, stderr.String())
	}
	r, err := capturefile.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seen := map[sysevent.Type]bool{}
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the capture: %v", err)
		}
		if probes[int64(ev.PID)] || (ev.Thread != nil && probes[ev.Thread.PPid()]) {
			seen[ev.Type] = true
		}
	}
	for _, ty := range bpfcapture.Covered {
		if !seen[ty] {
			t.Errorf("no %s of the probe in the capture", ty)
		}
	}
}
