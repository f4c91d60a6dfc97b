// Package peerproc runs a test peer's server process: its output goes to a
// log file, it dies with the test process (SIGKILL on the parent's death),
// and the test's end stops it with SIGTERM, then SIGKILL after a grace
// period.
package peerproc

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Start starts cmd with its output in logPath; name prefixes a failure to
// start. exited is closed once the process has exited.
func Start(tb testing.TB, name string, cmd *exec.Cmd, logPath string, grace time.Duration) (exited <-chan struct{}) {
	tb.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("%s: start: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return done
}
