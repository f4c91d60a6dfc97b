// Package falcolive fires Falco's stable rules, loaded unchanged from the
// shared test data, with real actions: the sensor's pipeline (eBPF
// capture → process table → rules → alert formatting, see livetest) runs in
// the test process while child processes read /etc/shadow, search for keys,
// run programs from /dev/shm and memfds, attach with ptrace, make ssh
// connections and so on. Each stable rule that can fire on a host without
// containers has one test: its action must raise it for the test's own
// process, and a benign look-alike must not. The rules that need a
// container fire from a process in a Docker-shaped cgroup
// (container_test.go); coverage_test.go lists the two that cannot fire
// here. Root only (skipped otherwise); network traffic stays on loopback
// (the ssh test runs in a private network namespace whose only interface
// is lo).
package falcolive

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/testkit/livetest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

const helperEnv = "HARRIER_FALCOLIVE_HELPER"

// The test binary doubles as the helper that performs actions needing
// syscalls or process names no standard tool gives (helperEnv names it).
func TestMain(m *testing.M) {
	if action := os.Getenv(helperEnv); action != "" {
		os.Exit(helper(action, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(action string, args []string) int {
	if code, ok := containerHelpers(action, args); ok {
		return code
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, action+":", err); return 1 }
	switch action {
	case "mptcp-pair":
		return mptcpPair()
	case "sockio":
		return sockIO()
	case "openloop":
		return openloop(args)
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
		return fail(unix.Exec("/proc/self/fd/"+strconv.Itoa(fd), []string{"payload"}, nil))
	case "ptrace-attach": // attach to and detach from args[0]
		pid, _ := strconv.Atoi(args[0])
		if err := unix.PtraceAttach(pid); err != nil {
			return fail(err)
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WALL, nil)
		_ = unix.PtraceDetach(pid)
		return 0
	case "ptrace-peek": // a read-only request on a process not traced: ESRCH
		pid, _ := strconv.Atoi(args[0])
		_, _, _ = unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, uintptr(pid), 0, 0, 0, 0)
		return 0
	case "traceme":
		_, _, _ = unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
		return 0
	case "read-after": // wait args[0], then read args[1]
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
		if _, err := os.ReadFile(args[1]); err != nil {
			return fail(err)
		}
		return 0
	case "spawn": // run args[1:] as uid args[0]; print the child's pid
		uid, _ := strconv.Atoi(args[0])
		cmd := exec.Command(args[1], args[2:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		if err := cmd.Start(); err != nil {
			return fail(err)
		}
		fmt.Println(cmd.Process.Pid)
		_ = cmd.Wait()
		return 0
	case "listen": // accept on each of args for a while, greeting as an ssh server
		for _, addr := range args {
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				return fail(err)
			}
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					_, _ = c.Write([]byte("SSH-2.0-harrier-test\r\n"))
					time.Sleep(100 * time.Millisecond)
					c.Close()
				}
			}()
		}
		fmt.Println("ready")
		time.Sleep(20 * time.Second)
		return 0
	}
	return fail(fmt.Errorf("unknown helper action"))
}

// env is what every case gets: the running sensor and a scratch directory.
type env struct {
	s   *livetest.Sensor
	tmp string
	exe string // this test binary
}

// run starts a command, waits for it and returns its pid. Failures are
// logged, not fatal: some actions fail on purpose (a cross-device hard
// link) and rules fire on the attempt.
func (e *env) run(t *testing.T, extraEnv []string, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	if cmd.Process == nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err != nil {
		t.Logf("%s %q: %v: %s", name, args, err, out)
	}
	return cmd.Process.Pid
}

// helper runs this test binary as a helper action, under another name
// (a symlink, so the kernel's comm is that name) when as is not "".
func (e *env) helper(t *testing.T, as, action string, args ...string) int {
	t.Helper()
	exe := e.exe
	if as != "" {
		exe = filepath.Join(e.tmp, "bin", as)
		if _, err := os.Lstat(exe); err != nil {
			_ = os.MkdirAll(filepath.Dir(exe), 0o755)
			if err := os.Symlink(e.exe, exe); err != nil {
				t.Fatal(err)
			}
		}
	}
	return e.run(t, []string{helperEnv + "=" + action}, exe, args...)
}

// spawned runs a helper that starts a child and prints its pid; it
// returns the helper's and the child's pids.
func (e *env) spawned(t *testing.T, as string, args ...string) (int, int) {
	t.Helper()
	exe := filepath.Join(e.tmp, "bin", as)
	_ = os.MkdirAll(filepath.Dir(exe), 0o755)
	if _, err := os.Lstat(exe); err != nil {
		if err := os.Symlink(e.exe, exe); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"=spawn")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v", as, args, err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("%s: no child pid in %q", as, out)
	}
	return cmd.Process.Pid, child
}

// quiet is a benign look-alike: process pid (and what it started) must
// not raise the case's rule.
type quiet struct {
	pid   int
	match func(livetest.Alert) bool // nil: livetest.ByAncestor(pid)
}

type liveCase struct {
	rule string
	// act performs the attack and its look-alikes; it returns the match
	// for the attack's alert and the look-alikes.
	act func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet)
}

const waitFor = 30 * time.Second // a loaded 2-core machine can lag seconds behind

func TestFalcoStableRulesFireLive(t *testing.T) {
	require.Root(t, "needs root: loads BPF programs into the kernel")
	falcoRules, err := livetest.SharedFalcoRules("falco_rules.yaml")
	if err != nil {
		require.Missing(t, fmt.Sprintf("Falco's rules are not available: %v", err))
	}
	s, err := livetest.Start(livetest.Options{RuleFiles: []string{falcoRules}, KeepAlerts: true, TrackExits: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the pipeline: %v", err)
		}
	})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, tmp: t.TempDir(), exe: exe}
	fired := map[string]bool{}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.rule, "/", "_"), func(t *testing.T) {
			hit, quiets := c.act(t, e)
			a, ok := s.Wait(c.rule, hit, waitFor)
			if !ok {
				if lost := s.Counters().Lost(); lost > 0 {
					t.Skipf("the capture lost %d events under load; cannot judge %q", lost, c.rule)
				}
				t.Fatalf("%q did not fire for its action; alerts of this test's processes:\n%s", c.rule, dump(s))
			}
			fired[c.rule] = true
			t.Logf("fired: %s", a.Output())
			for _, q := range quiets {
				if !s.WaitExited(int64(q.pid), waitFor) {
					t.Fatalf("the exit of benign process %d was not seen", q.pid)
				}
				m := q.match
				if m == nil {
					m = livetest.ByAncestor(q.pid)
				}
				if got := s.Find(c.rule, m); len(got) > 0 {
					t.Errorf("%q fired on a benign look-alike: %s", c.rule, got[0].Output())
				}
			}
		})
	}
	var names []string
	for r := range fired {
		names = append(names, r)
	}
	t.Logf("%d of Falco's stable rules fired live: %s", len(fired), strings.Join(names, "; "))
}

func dump(s *livetest.Sensor) string {
	var b strings.Builder
	for _, a := range s.Find("", livetest.ByAncestor(os.Getpid())) {
		fmt.Fprintf(&b, "  pid=%d ppid=%d %s: %s\n", a.PID, a.PPID, a.Rule, a.Output())
	}
	return b.String()
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

var cases = []liveCase{
	{"Read sensitive file untrusted", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		benign := e.run(t, nil, "cat", "/etc/hostname")
		return livetest.ByPID(e.run(t, nil, "cat", "/etc/shadow")), []quiet{{pid: benign}}
	}},
	{"Read sensitive file trusted after startup", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		// A "web server" reading /etc/shadow as it starts is the startup
		// exception; the same read 6 s later is not.
		benign := e.helper(t, "nginx", "read-after", "0s", "/etc/shadow")
		return livetest.ByPID(e.helper(t, "nginx", "read-after", "6s", "/etc/shadow")), []quiet{{pid: benign}}
	}},
	{"Directory traversal monitored file read", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		benign := e.run(t, nil, "cat", "/etc/hostname")
		return livetest.ByPID(e.run(t, nil, "cat", "/etc/../etc/../etc/hostname")), []quiet{{pid: benign}}
	}},
	{"Run shell untrusted", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		// A shell started by a web server; the same shell started by this
		// test (not a protected server) is ordinary.
		benign := e.run(t, nil, "sh", "-c", "true")
		server, shell := e.spawned(t, "nginx", "0", "sh", "-c", "true")
		return func(a livetest.Alert) bool { return a.PID == int64(shell) && a.PPID == int64(server) }, []quiet{{pid: benign}}
	}},
	{"System user interactive", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		// A command run as the system user nobody below an "sshd"; the
		// same command as root is an ordinary login.
		_, benign := e.spawned(t, "sshd", "0", "id")
		_, child := e.spawned(t, "sshd", "65534", "id")
		return livetest.ByPID(child), []quiet{{pid: benign}}
	}},
	{"Search Private Keys or Passwords", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		dir := filepath.Join(e.tmp, "keys")
		write(t, filepath.Join(dir, "notes.log"), "hello\n", 0o600)
		b1 := e.run(t, nil, "find", dir, "-name", "*.log")
		b2 := e.run(t, nil, "grep", "-r", "hello", dir)
		find := e.run(t, nil, "find", dir, "-name", "id_rsa")
		grep := e.run(t, nil, "grep", "-r", "BEGIN RSA PRIVATE", dir)
		if _, ok := e.s.Wait("Search Private Keys or Passwords", livetest.ByPID(grep), waitFor); !ok {
			t.Errorf("grep for a private key header did not fire")
		}
		return livetest.ByPID(find), []quiet{{pid: b1}, {pid: b2}}
	}},
	{"Find AWS Credentials", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		dir := filepath.Join(e.tmp, "aws")
		write(t, filepath.Join(dir, ".aws", "config"), "[default]\nregion = eu-west-1\n", 0o600)
		benign := e.run(t, nil, "grep", "-r", "region", dir)
		grep := e.run(t, nil, "grep", "-r", "aws_secret_access_key", dir)
		find := e.run(t, nil, "find", dir, "-path", "*/.aws/credentials")
		if _, ok := e.s.Wait("Find AWS Credentials", livetest.ByPID(find), waitFor); !ok {
			t.Errorf("find for .aws/credentials did not fire")
		}
		return livetest.ByPID(grep), []quiet{{pid: benign}}
	}},
	{"Execution from /dev/shm", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		bin, err := os.ReadFile("/usr/bin/true")
		if err != nil {
			t.Fatal(err)
		}
		shm := fmt.Sprintf("/dev/shm/harrier-falcolive-%d", os.Getpid())
		write(t, shm, string(bin), 0o700)
		t.Cleanup(func() { os.Remove(shm) })
		local := filepath.Join(e.tmp, "true-copy")
		write(t, local, string(bin), 0o700)
		benign := e.run(t, nil, local)
		return livetest.ByPID(e.run(t, nil, shm)), []quiet{{pid: benign}}
	}},
	{"Fileless execution via memfd_create", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		benign := e.run(t, nil, "/usr/bin/true")
		return livetest.ByPID(e.helper(t, "", "memfd-exec")), []quiet{{pid: benign}}
	}},
	{"Create Symlink Over Sensitive Files", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		dir := filepath.Join(e.tmp, "links")
		_ = os.MkdirAll(dir, 0o755)
		benign := e.run(t, nil, "ln", "-s", "/etc/hostname", filepath.Join(dir, "hostname"))
		root := e.run(t, nil, "ln", "-s", "/root", filepath.Join(dir, "root"))
		if _, ok := e.s.Wait("Create Symlink Over Sensitive Files", livetest.ByPID(root), waitFor); !ok {
			t.Errorf("a symlink to /root (a sensitive directory) did not fire")
		}
		return livetest.ByPID(e.run(t, nil, "ln", "-s", "/etc/shadow", filepath.Join(dir, "shadow"))), []quiet{{pid: benign}}
	}},
	{"Create Hardlink Over Sensitive Files", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		// The attempt is what the rule sees: a link from /etc to /dev/shm
		// (tmpfs) fails with EXDEV, so the host gains no link to
		// /etc/shadow. The look-alike links an ordinary file.
		dir := filepath.Join(e.tmp, "hard")
		write(t, filepath.Join(dir, "a"), "a", 0o600)
		benign := e.run(t, nil, "ln", filepath.Join(dir, "a"), filepath.Join(dir, "b"))
		target := fmt.Sprintf("/dev/shm/harrier-falcolive-shadow-%d", os.Getpid())
		t.Cleanup(func() { os.Remove(target) })
		return livetest.ByPID(e.run(t, nil, "ln", "/etc/shadow", target)), []quiet{{pid: benign}}
	}},
	{"Clear Log Activities", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		dir := filepath.Join(e.tmp, "logs")
		write(t, filepath.Join(dir, "auth.log"), "Nov 24 sshd[1]: Accepted publickey\n", 0o600)
		write(t, filepath.Join(dir, "notes.txt"), "notes\n", 0o600)
		benign := e.run(t, nil, "cp", "/dev/null", filepath.Join(dir, "notes.txt"))
		return livetest.ByPID(e.run(t, nil, "cp", "/dev/null", filepath.Join(dir, "auth.log"))), []quiet{{pid: benign}}
	}},
	{"Remove Bulk Data from Disk", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		dir := filepath.Join(e.tmp, "data")
		write(t, filepath.Join(dir, "a"), strings.Repeat("x", 4096), 0o600)
		write(t, filepath.Join(dir, "b"), strings.Repeat("x", 4096), 0o600)
		benign := e.run(t, nil, "rm", filepath.Join(dir, "b"))
		return livetest.ByPID(e.run(t, nil, "shred", "-u", filepath.Join(dir, "a"))), []quiet{{pid: benign}}
	}},
	{"PTRACE attached to process", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		sleeper := exec.Command("sleep", "30")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
		target := strconv.Itoa(sleeper.Process.Pid)
		benign := e.helper(t, "", "ptrace-peek", target)
		return livetest.ByPID(e.helper(t, "", "ptrace-attach", target)), []quiet{{pid: benign}}
	}},
	{"PTRACE anti-debug attempt", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		benign := e.helper(t, "", "ptrace-peek", "1")
		return livetest.ByPID(e.helper(t, "", "traceme")), []quiet{{pid: benign}}
	}},
	{"Disallowed SSH Connection Non Standard Port", func(t *testing.T, e *env) (func(livetest.Alert) bool, []quiet) {
		// The rule wants an outbound connection: not to 127.0.0.0/8 or a
		// private network. A private network namespace whose loopback
		// also carries 198.51.100.7 (TEST-NET-2) gives one that never
		// leaves this host. ssh to port 22 there is the look-alike.
		if _, err := exec.LookPath("ssh"); err != nil {
			require.Missing(t, "no ssh client")
		}
		const addr = "198.51.100.7"
		ssh := "ssh -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
		script := fmt.Sprintf(`set -e
ip link set lo up
ip addr add %[1]s/32 dev lo
%[2]s=listen %[3]s %[1]s:22 %[1]s:443 > %[4]s/ready 2>&1 &
listener=$!
for i in $(seq 100); do [ -s %[4]s/ready ] && break; sleep 0.05; done
%[5]s -p 22 %[1]s true || true
%[5]s -p 443 %[1]s true || true
kill $listener`, addr, helperEnv, e.exe, e.tmp, ssh)
		ns := e.run(t, nil, "unshare", "--net", "sh", "-c", script)
		to := func(port string) func(livetest.Alert) bool {
			return func(a livetest.Alert) bool {
				return livetest.ByAncestor(ns)(a) && strings.Contains(a.Output(), addr+":"+port+" ")
			}
		}
		return to("443"), []quiet{{pid: ns, match: to("22")}}
	}},
}
