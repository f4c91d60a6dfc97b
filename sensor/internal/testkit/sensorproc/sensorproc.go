// Package sensorproc runs the built harrier-sensor as a separate process
// for the sensor's end-to-end and fault tests: it builds the binary once per
// test package, starts it with JSON logs captured, waits for its "running"
// line (which names the addresses it bound) and stops or SIGKILLs it.
package sensorproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/testkit/syncbuf"
)

// Main builds the sensor package pkg (relative to the test package) into a
// fresh temporary directory, sets *binary to its path, runs the tests and
// removes the directory. It never returns; call it from TestMain. The
// directory is world-readable: tests may run the binary as another user.
func Main(m *testing.M, prefix, pkg string, binary *string) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = os.Chmod(dir, 0o755)
	*binary = filepath.Join(dir, "harrier-sensor")
	build := exec.Command("go", "build", "-o", *binary, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building harrier-sensor:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Proc is one running harrier-sensor.
type Proc struct {
	cmd    *exec.Cmd
	stdout syncbuf.Buffer
	mu     sync.Mutex
	logs   []string
	done   chan struct{} // closed once the process has exited
	err    error         // its exit status, once done is closed
}

// Start runs binary with args (which should ask for JSON logs, as "-o
// log.format=json" does) and HARRIER_HOSTNAME=hostname, and waits up to 30s
// for the "running" line, which it returns. The process is SIGKILLed when
// the test ends if it still runs.
func Start(t testing.TB, binary, hostname string, args ...string) (*Proc, map[string]any) {
	t.Helper()
	p := &Proc{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "HARRIER_HOSTNAME="+hostname)
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	running := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs = append(p.logs, sc.Text())
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "harrier-sensor running" {
				select {
				case running <- m:
				default:
				}
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case m := <-running:
		return p, m
	case <-p.done:
		t.Fatalf("harrier-sensor exited at start (%v):\n%s", p.err, p.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("harrier-sensor did not start:\n%s", p.Logs())
	}
	return nil, nil
}

// Logs is what the process wrote to stderr so far (its log), a line an
// entry.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// Stdout is what the process wrote to stdout so far (its stdout output).
func (p *Proc) Stdout() string { return p.stdout.String() }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig without waiting.
func (p *Proc) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and fails the test unless the process exits cleanly
// within 20s.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("harrier-sensor exited with %v after SIGTERM:\n%s", p.err, p.Logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("harrier-sensor did not stop on SIGTERM:\n%s", p.Logs())
	}
}

// Kill sends SIGKILL and waits up to 10s for the exit.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("harrier-sensor did not die on SIGKILL")
	}
}
