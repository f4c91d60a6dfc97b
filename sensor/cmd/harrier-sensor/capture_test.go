package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/capturefile"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// TestCaptureRecordsLiveEvents runs `capture` for real (eBPF, root) while
// child processes read a file, then reads the capture back and checks the
// event and the process state recorded with it.
func TestCaptureRecordsLiveEvents(t *testing.T) {
	require.Root(t, "capture needs root (eBPF)")
	file := filepath.Join(t.TempDir(), "live.hcap")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"capture", "-w", file, "--duration", "4s"}, io.Discard, &stderr)
	}()
	// Keep reading until the capture ends, so that the reads overlap the
	// time it is attached whatever its start-up takes.
	var code int
loop:
	for {
		select {
		case code = <-done:
			break loop
		case <-time.After(200 * time.Millisecond):
			_ = exec.Command("cat", "/etc/hostname").Run()
		}
	}
	if code != 0 {
		t.Fatalf("capture exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "captured") {
		t.Errorf("no summary: %q", stderr.String())
	}
	r, err := capturefile.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n, found int
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the capture: %v", err)
		}
		n++
		if (ev.Type != sysevent.SysOpenat && ev.Type != sysevent.SysOpen) || ev.Path != "/etc/hostname" || ev.Thread == nil {
			continue
		}
		th := ev.Thread
		if th.Image().Comm != "cat" || th.PPid() != int64(os.Getpid()) {
			continue
		}
		found++
		if ev.Ret < 0 {
			continue
		}
		if ev.FDInfo == nil || ev.FDInfo.Name != "/etc/hostname" || ev.FDInfo.Num != ev.Ret || ev.FDInfo.Type != sysevent.FDFile {
			t.Errorf("fd of the open = %+v", ev.FDInfo)
		}
		if th.Image().Cmdline != "cat /etc/hostname" || th.Container().ID != "host" {
			t.Errorf("process = %q in %q", th.Image().Cmdline, th.Container().ID)
		}
		if p := th.Parent(); p == nil || p.Pid != int64(os.Getpid()) || p.Image().ExePath == "" {
			t.Errorf("parent = %+v", p)
		}
	}
	if found == 0 {
		t.Fatalf("no open of /etc/hostname by cat among %d events", n)
	}
}

func TestCaptureUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"capture"}, 2, "usage: harrier-sensor capture"},
		{[]string{"capture", "-w", "x", "extra"}, 2, "usage"},
		{[]string{"capture", "-w", "x", "-r", "/nonexistent/rules.yaml"}, 1, "nonexistent"},
	} {
		var stderr bytes.Buffer
		if code := dispatch(context.Background(), tt.args, io.Discard, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.msg) {
			t.Errorf("%v: code %d, stderr %q", tt.args, code, stderr.String())
		}
	}
}
