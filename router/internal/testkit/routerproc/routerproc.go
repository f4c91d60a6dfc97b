// Package routerproc runs Harrier binaries as separate processes for the
// router's end-to-end test packages: it builds them once per package, starts
// them with their combined output captured, waits for the router's health
// endpoint and stops or SIGKILLs them. It is a plain package (not _test.go)
// so that several test packages share one copy.
package routerproc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Target is one binary to build: Pkg is the package path relative to the
// test package; Path receives the built binary's path (named after Pkg's
// last element).
type Target struct {
	Pkg  string
	Path *string
}

// Main builds every target into a fresh temporary directory with the given
// extra `go build` flags, runs the tests and removes the directory. It never
// returns; call it from TestMain.
func Main(m *testing.M, prefix string, flags []string, targets ...Target) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "routerproc:", err)
		os.Exit(1)
	}
	for _, tg := range targets {
		*tg.Path = filepath.Join(dir, filepath.Base(tg.Pkg))
		args := append(append([]string{"build"}, flags...), "-o", *tg.Path, tg.Pkg)
		build := exec.Command("go", args...)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", tg.Pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// FreePort returns a loopback address whose port was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Listeners are a router's addresses, each a free loopback port.
type Listeners struct {
	GRPC, HTTP string
	// Metrics serves /healthz and /metrics.
	Metrics string
}

// Config is a router configuration on the given data directory and
// listeners, followed by rest (more top-level YAML keys).
func Config(dataDir string, l Listeners, rest string) string {
	return fmt.Sprintf("data_dir: %s\ngrpc: {address: %q}\nhttp: {address: %q, metrics_address: %q}\nshutdown_timeout: 5s\nlog: {level: info, format: json}\n%s",
		dataDir, l.GRPC, l.HTTP, l.Metrics, rest)
}

// WriteConfig writes cfg to path atomically (as editors and ConfigMaps do),
// so a running router watching path never reads half a file.
func WriteConfig(t testing.TB, path, cfg string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Proc is one running process with its combined output captured.
type Proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	exited chan struct{}
}

// Start starts bin with args; the caller stops it (see Stop, Kill).
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.Write(sc.Bytes())
			p.out.WriteByte('\n')
			p.mu.Unlock()
		}
	}()
	go func() { _ = p.cmd.Wait(); pw.Close(); close(p.exited) }()
	return p
}

// Logs is everything the process wrote so far.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig without waiting.
func (p *Proc) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Stop interrupts the router (SIGINT) and SIGKILLs it after 10s.
func (p *Proc) Stop() { p.StopWith(os.Interrupt, 10*time.Second) }

// StopWith sends sig and SIGKILLs the process if it has not exited after
// grace; it does nothing once the process has exited.
func (p *Proc) StopWith(sig os.Signal, grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Kill()
	}
}

// Terminate is StopWith(SIGTERM, 15s), as a service manager stops a daemon.
func (p *Proc) Terminate() { p.StopWith(syscall.SIGTERM, 15*time.Second) }

// WaitHealthy polls http://metricsAddr/healthz until it answers, failing
// the test if the process exits first or d passes.
func (p *Proc) WaitHealthy(t testing.TB, metricsAddr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get("http://" + metricsAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("router exited at start:\n%s", p.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("router not ready after %s:\n%s", d, Tail(p.Logs(), 40))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
