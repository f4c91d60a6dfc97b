// Package live triggers Harrier's syscall rules with real actions: the
// eBPF capture, the process table and the rules engine run as in the
// sensor, while child processes read /etc/shadow, run programs from
// /dev/shm and memfds, open reverse shells to a loopback listener, attach
// with ptrace and so on. Each action must raise its rule for its own
// process; benign near misses must not. Needs root (skipped otherwise).
// Actions that would change the host run in a private mount namespace
// over tmpfs, and network traffic goes to 127.0.0.1 only.
package live

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/prefilter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/syscall/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/syscall/source"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// The test binary doubles as the helper that performs actions needing
// syscalls no standard tool makes (HARRIER_LIVE_HELPER names the action).
func TestMain(m *testing.M) {
	if action := os.Getenv("HARRIER_LIVE_HELPER"); action != "" {
		os.Exit(helper(action, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(action string, args []string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, action+":", err); return 1 }
	switch action {
	case "memfd-exec": // run /usr/bin/true from an anonymous memory file
		fd, err := unix.MemfdCreate("payload", 0)
		if err != nil {
			return fail(err)
		}
		bin, err := os.ReadFile("/usr/bin/true")
		if err != nil {
			return fail(err)
		}
		if _, err := unix.Write(fd, bin); err != nil {
			return fail(err)
		}
		p := "/proc/self/fd/" + strconv.Itoa(fd)
		return fail(unix.Exec(p, []string{"payload"}, nil))
	case "ptrace-attach": // attach to and detach from the pid in args[0]
		pid, _ := strconv.Atoi(args[0])
		if err := unix.PtraceAttach(pid); err != nil {
			return fail(err)
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WALL, nil)
		_ = unix.PtraceDetach(pid)
		return 0
	case "finit-module": // ask for a module load with no file: fails with EBADF
		_ = unix.FinitModule(-1, "", 0)
		return 0
	case "packet-socket":
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fail(err)
		}
		unix.Close(fd)
		return 0
	case "bpf-load": // load a trivial socket filter program
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type:         ebpf.SocketFilter,
			Instructions: asm.Instructions{asm.LoadImm(asm.R0, 0, asm.DWord), asm.Return()},
			License:      "GPL",
		})
		if err != nil {
			return fail(err)
		}
		prog.Close()
		return 0
	case "connect": // connect to args[0] (host:port) and close
		c, err := net.Dial("tcp", args[0])
		if err != nil {
			return fail(err)
		}
		c.Close()
		return 0
	case "serve-like": // a "web server" (run under the name nginx) that misbehaves
		if _, err := os.ReadFile("/etc/shadow"); err != nil {
			return fail(err)
		}
		for _, argv := range [][]string{{"sh", "-c", "true"}, {"id"}} {
			if err := exec.Command(argv[0], argv[1:]...).Run(); err != nil {
				return fail(err)
			}
		}
		return 0
	}
	return fail(fmt.Errorf("unknown helper action"))
}

// alert is what the test keeps of one rule match.
type alert struct {
	rule      string
	pid, ppid int64
	output    string
}

type sensor struct {
	capt   *bpfcapture.Capture
	mu     sync.Mutex
	alerts []alert
	exited map[int64]bool // processes whose exit has been evaluated
}

// waitExited waits until the exit of every process in pids has been
// evaluated, or the timeout passes: events of one process are evaluated
// in order, so every alert they could raise has been raised by then.
func (s *sensor) waitExited(pids []int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		all := true
		for _, p := range pids {
			all = all && s.exited[p]
		}
		s.mu.Unlock()
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drops is the number of events the capture lost so far.
func (s *sensor) drops() uint64 {
	st, err := s.capt.Stats()
	if err != nil {
		return 0
	}
	return st.Drops
}

func (s *sensor) find(rule string, match func(a alert) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.alerts {
		if a.rule == rule && match(a) {
			return true
		}
	}
	return false
}

func (s *sensor) rulesOf(match func(a alert) bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.alerts {
		if match(a) {
			out = append(out, a.rule+": "+a.output)
		}
	}
	return out
}

// start runs capture -> process table -> rules over Harrier's syscall
// rules until the test ends.
func start(t *testing.T) *sensor {
	t.Helper()
	require.Root(t, "needs root: loads BPF programs into the kernel")
	rs, _, err := rules.LoadFiles([]string{filepath.Join("..", "..", "..", "..", "..", "rules", "syscall.yaml")},
		rules.Options{Registries: sources.Registries(), Matching: rules.MatchAll})
	if err != nil {
		t.Fatal(err)
	}
	// The sensor's own pipeline (syscall/source): dispatch workers sharded
	// by process, each applying events to the process table and
	// evaluating them.
	src, err := source.Open(source.Options{Interest: sources.SyscallInterest(rs)})
	if err != nil {
		t.Fatal(err)
	}
	// With the kernel prefilter the daemon loads: what it keeps in the
	// kernel must not cost a rule its alert.
	if err := src.SetPrefilter(prefilter.Derive(rs)); err != nil {
		t.Fatal(err)
	}
	capt := src.Capture
	ctx, cancel := context.WithCancel(context.Background())
	if err := src.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	s := &sensor{capt: capt, exited: map[int64]bool{}}
	done := make(chan error, 1)
	go func() {
		scratch := make([]filter.Scratch, src.Workers())
		done <- src.Run(ctx, func(w int, ev *sysevent.Event) {
			rs.EvaluateScratch(ev, &scratch[w], func(r *rules.Rule) {
				out, _ := r.Output.Render(nil, ev)
				a := alert{rule: r.Name, pid: int64(ev.PID), output: string(out)}
				if ev.Thread != nil {
					a.ppid = ev.Thread.PPid()
				}
				s.mu.Lock()
				s.alerts = append(s.alerts, a)
				s.mu.Unlock()
			})
			if ev.Type == sysevent.TypeProcExit && ev.Proc.GroupDead {
				s.mu.Lock()
				s.exited[int64(ev.PID)] = true
				s.mu.Unlock()
			}
		})
	}()
	t.Cleanup(func() {
		if st, err := capt.Stats(); err == nil && st.Drops > 0 {
			t.Logf("capture dropped %d events", st.Drops)
		}
		cancel() // Run returns on cancellation; close only after it has
		<-done
		src.Close()
	})
	return s
}

// run starts a command, waits for it and returns its pid.
func run(t *testing.T, env []string, name string, args ...string) int64 {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	_ = cmd.Wait() // some actions fail on purpose (a module load without a file)
	if stderr.Len() > 0 {
		t.Logf("%s %v: %s", name, args, stderr.String())
	}
	ranMu.Lock()
	ran = append(ran, int64(cmd.Process.Pid))
	ranMu.Unlock()
	return int64(cmd.Process.Pid)
}

// ran are the pids of the processes run started.
var (
	ranMu sync.Mutex
	ran   []int64
)

func self(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// listen accepts and closes connections on 127.0.0.1:port (0: any port).
func listen(t *testing.T, port int) (int, bool) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return 0, false
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-harrier-test\r\n"))
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 0))
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, true
}

func TestRulesFireOnRealActions(t *testing.T) {
	s := start(t)
	tmp := t.TempDir()
	marker := fmt.Sprintf("harrier-live-%d", os.Getpid())
	byPid := func(pid int64) func(alert) bool { return func(a alert) bool { return a.pid == pid } }
	byParent := func(pid int64) func(alert) bool { return func(a alert) bool { return a.ppid == pid } }
	has := func(s string) func(alert) bool { return func(a alert) bool { return strings.Contains(a.output, s) } }

	type want struct {
		rule  string
		match func(alert) bool
	}
	var wants []want
	var quiet []want // near misses: must not fire

	// Credential file read by an untrusted program; a harmless file next.
	wants = append(wants, want{"Sensitive File Read by Untrusted Program", byPid(run(t, nil, "cat", "/etc/shadow"))})
	quiet = append(quiet, want{"Sensitive File Read by Untrusted Program", byPid(run(t, nil, "cat", "/etc/hostname"))})

	// Execution from /dev/shm.
	shm := filepath.Join("/dev/shm", marker)
	bin, err := os.ReadFile("/usr/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shm, bin, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(shm)
	wants = append(wants, want{"Program Executed From Shared Memory", byPid(run(t, nil, shm))})

	// Fileless execution from a memfd.
	wants = append(wants, want{"Fileless Program Execution", byPid(run(t, []string{"HARRIER_LIVE_HELPER=memfd-exec"}, self(t)))})

	// Writes below /usr/local/bin, /var/log (truncating) and /etc, in a
	// private mount namespace over tmpfs so the host is untouched; unshare
	// itself changes namespaces.
	script := fmt.Sprintf(`set -e
mount -t tmpfs harrier /usr/local/bin && echo x > /usr/local/bin/%[1]s
mv /usr/local/bin/%[1]s /usr/local/bin/moved-%[1]s
mount -t tmpfs harrier /var/log && echo x > /var/log/%[1]s.log
mount -t tmpfs harrier /etc && echo x > /etc/%[1]s && mv /etc/%[1]s /etc/moved-%[1]s
mount -t tmpfs harrier /proc/sys/kernel && echo '|/tmp/%[1]s' > /proc/sys/kernel/core_pattern`, marker)
	unsharePid := run(t, nil, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	wants = append(wants,
		want{"Namespace Changed by Non-System Program", byPid(unsharePid)},
		want{"Write Below Binary Directory", has("/usr/local/bin/" + marker)},
		want{"Log File Cleared", has("/var/log/" + marker + ".log")},
		want{"Write Below Etc", has("/etc/" + marker)},
		want{"Write Below Binary Directory", has("moved_to=/usr/local/bin/moved-" + marker)},
		want{"Write Below Etc", has("moved_to=/etc/moved-" + marker)},
		want{"Kernel Execution Hook Written", func(a alert) bool {
			return strings.Contains(a.output, "file=/proc/sys/kernel/core_pattern") && strings.Contains(a.output, "pid="+strconv.FormatInt(unsharePid, 10))
		}})

	// Shell history emptied.
	run(t, nil, "sh", "-c", ": > "+filepath.Join(tmp, ".bash_history"))
	wants = append(wants, want{"Shell History Deleted or Truncated", has(filepath.Join(tmp, ".bash_history"))})

	// Symlink over /etc/shadow; a symlink to a harmless file.
	wants = append(wants, want{"Link Created to Sensitive File", byPid(run(t, nil, "ln", "-s", "/etc/shadow", filepath.Join(tmp, "s")))})
	quiet = append(quiet, want{"Link Created to Sensitive File", byPid(run(t, nil, "ln", "-s", "/etc/hostname", filepath.Join(tmp, "h")))})

	// Setuid bit; a plain chmod.
	f := filepath.Join(tmp, "f")
	if err := os.WriteFile(f, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	wants = append(wants, want{"Setuid or Setgid Bit Set", byPid(run(t, nil, "chmod", "u+s", f))})
	quiet = append(quiet, want{"Setuid or Setgid Bit Set", byPid(run(t, nil, "chmod", "0755", f))})

	// Key search; an ordinary search.
	wants = append(wants, want{"Search for Private Keys or Cloud Credentials", byPid(run(t, nil, "find", tmp, "-name", "id_rsa"))})
	quiet = append(quiet, want{"Search for Private Keys or Cloud Credentials", byPid(run(t, nil, "find", tmp, "-name", "*.log"))})

	// A miner's command line.
	wants = append(wants, want{"Crypto Miner Started", byPid(run(t, nil, "/usr/bin/true", "-o", "stratum+tcp://pool.invalid:3333"))})

	// Reverse shell: bash puts a TCP socket on cat's stdin.
	port, _ := listen(t, 0)
	run(t, nil, "bash", "-c", fmt.Sprintf("cat < /dev/tcp/127.0.0.1/%d", port))
	wants = append(wants, want{"Reverse Shell Redirected to Socket", has(fmt.Sprintf("127.0.0.1:%d", port))})

	// SSH client to a non-standard port (the listener speaks just enough
	// to be closed on).
	sshPid := run(t, nil, "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-p", strconv.Itoa(port), "127.0.0.1", "true")
	wants = append(wants, want{"SSH Connection to Non-Standard Port", byPid(sshPid)})

	// A connection to a mining pool port, when it is free here.
	if minerPort, ok := listen(t, 14444); ok {
		wants = append(wants, want{"Crypto-Mining Pool Connection",
			byPid(run(t, []string{"HARRIER_LIVE_HELPER=connect"}, self(t), "127.0.0.1:"+strconv.Itoa(minerPort)))})
	} else {
		t.Log("port 14444 busy: mining pool connection not exercised")
	}

	// ptrace attach to a sleeping child.
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	wants = append(wants, want{"Process Attached With Ptrace",
		byPid(run(t, []string{"HARRIER_LIVE_HELPER=ptrace-attach"}, self(t), strconv.Itoa(sleeper.Process.Pid)))})

	// An eBPF program load.
	wants = append(wants, want{"BPF Program Loaded", byPid(run(t, []string{"HARRIER_LIVE_HELPER=bpf-load"}, self(t)))})

	// Kernel module load attempt and packet socket.
	wants = append(wants, want{"Kernel Module Loaded", byPid(run(t, []string{"HARRIER_LIVE_HELPER=finit-module"}, self(t)))})
	wants = append(wants, want{"Packet Socket Created", byPid(run(t, []string{"HARRIER_LIVE_HELPER=packet-socket"}, self(t)))})

	// A "web server": the test binary under the name nginx reads
	// /etc/shadow and starts sh and id.
	nginx := filepath.Join(tmp, "nginx")
	exe, err := os.ReadFile(self(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nginx, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	web := run(t, []string{"HARRIER_LIVE_HELPER=serve-like"}, nginx)
	wants = append(wants,
		want{"Sensitive File Read by Web Server or Runtime", byPid(web)},
		want{"Shell Spawned by Web Server or Runtime", byParent(web)},
		want{"Program Spawned by Web Server or Runtime", byParent(web)})
	quiet = append(quiet, want{"Sensitive File Read by Untrusted Program", byPid(web)})

	deadline := time.Now().Add(15 * time.Second)
	for _, w := range wants {
		for !s.find(w.rule, w.match) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	var missing []string
	for _, w := range wants {
		if !s.find(w.rule, w.match) {
			missing = append(missing, w.rule)
		}
	}
	if len(missing) > 0 && s.drops() > 0 {
		// A lost event is the capture's accounting, not a rule's fault.
		t.Skipf("capture lost %d events under load; cannot judge %v", s.drops(), missing)
	}
	for _, rule := range missing {
		t.Errorf("%s: did not fire for its action", rule)
	}
	// Judge the near misses once every action's exit has been evaluated
	// (instead of a fixed sleep).
	ranMu.Lock()
	pids := slices.Clone(ran)
	ranMu.Unlock()
	if !s.waitExited(pids, 15*time.Second) {
		t.Logf("not every action's exit was evaluated within 15s; judging the near misses anyway")
	}
	for _, w := range quiet {
		if s.find(w.rule, w.match) {
			t.Errorf("%s: fired on a near miss: %v", w.rule, s.rulesOf(w.match))
		}
	}
	distinct := map[string]bool{}
	for _, w := range wants {
		distinct[w.rule] = true
	}
	t.Logf("%d actions raised their alerts (%d distinct rules), %d near misses stayed quiet", len(wants), len(distinct), len(quiet))
	if t.Failed() || testing.Verbose() {
		for _, w := range wants {
			t.Logf("%s", strings.Join(s.rulesOf(func(a alert) bool { return a.rule == w.rule && w.match(a) }), "\n"))
		}
	}
}
