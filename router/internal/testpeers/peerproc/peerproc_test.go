package peerproc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartLogsAndStops(t *testing.T) {
	for _, c := range []struct {
		name   string
		script string // ends on SIGTERM, or ignores it
		within time.Duration
	}{
		{"stops on SIGTERM", `trap 'echo bye; exit 0' TERM; echo hello; while :; do sleep 0.02; done`, 2 * time.Second},
		{"killed after the grace", `trap '' TERM; echo hello; while :; do sleep 0.02; done`, 2 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "peer.log")
			cmd := exec.Command("/bin/sh", "-c", c.script)
			var start time.Time
			t.Run("run", func(t *testing.T) {
				exited := Start(t, "peer", cmd, logPath, 200*time.Millisecond)
				select {
				case <-exited:
					t.Fatal("exited at once")
				default:
				}
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "hello") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("no output in the log")
					}
				}
				start = time.Now()
			})
			// The subtest's end ran the cleanup: the process has exited.
			if cmd.ProcessState == nil {
				t.Fatal("process still running after the test's end")
			}
			if d := time.Since(start); d > c.within {
				t.Fatalf("stopped after %s", d)
			}
		})
	}
}
