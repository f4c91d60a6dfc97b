package falcolive

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/testkit/livetest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// containerCgroup is a cgroup (v2) laid out as Docker lays out its
// containers' (/docker/<64 hex>): a process moved into it is, to the
// sensor as to Falco, in container <first 12 hex> (the sensor reads the
// cgroup path in the kernel; no container runtime is involved, so image
// and name are <NA>).
type containerCgroup struct {
	dir, id string
}

func newContainerCgroup(t *testing.T) *containerCgroup {
	t.Helper()
	root := ""
	for _, r := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(r, "cgroup.procs")); err == nil {
			if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), " "+r+" ") && strings.Contains(string(b), "cgroup2") {
				root = r
				break
			}
		}
	}
	if root == "" {
		require.Missing(t, "no cgroup v2 hierarchy to make a container-like cgroup in")
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	parent := filepath.Join(root, "docker")
	created := false
	if _, err := os.Stat(parent); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(parent, 0o755); err != nil {
			require.Missing(t, fmt.Sprintf("cannot create %s: %v", parent, err))
		}
		created = true
	}
	dir := filepath.Join(parent, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		require.Missing(t, fmt.Sprintf("cannot create %s: %v", dir, err))
	}
	t.Cleanup(func() {
		// The processes have exited; the kernel frees an empty cgroup.
		for i := 0; i < 50 && os.Remove(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if created {
			_ = os.Remove(parent)
		}
	})
	return &containerCgroup{dir: dir, id: id[:12]}
}

// run runs name args inside the container cgroup (a shell moves itself
// in, then execs the command: the pid is the command's).
func (c *containerCgroup) run(t *testing.T, e *env, extraEnv []string, name string, args ...string) int {
	t.Helper()
	script := fmt.Sprintf(`echo $$ > %s/cgroup.procs && exec "$@"`, c.dir)
	return e.run(t, extraEnv, "sh", append([]string{"-c", script, "sh", name}, args...)...)
}

func containerHelpers(action string, args []string) (int, bool) {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, action+":", err); return 1 }
	switch action {
	case "finit-module": // ask for a module load with no file: EBADF
		_ = unix.FinitModule(-1, "", 0)
		return 0, true
	case "packet-socket":
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fail(err), true
		}
		unix.Close(fd)
		return 0, true
	case "redirect": // connect to args[0] and put the socket on stdout, as a reverse shell does
		c, err := net.Dial("tcp4", args[0])
		if err != nil {
			return fail(err), true
		}
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			return fail(err), true
		}
		if err := unix.Dup2(int(f.Fd()), 1); err != nil {
			return fail(err), true
		}
		return 0, true
	case "write": // write args[0]
		if err := os.WriteFile(args[0], []byte("/bin/true\n"), 0o644); err != nil {
			return fail(err), true
		}
		return 0, true
	case "noop":
		return 0, true
	}
	return 0, false
}

// containerCases are the rules TestFalcoContainerRulesFireLive fires.
var containerCases = []string{
	"Linux Kernel Module Injection Detected",
	"Packet socket created in container",
	"Redirect STDOUT/STDIN to Network Connection in Container",
	"Detect release_agent File Container Escapes",
	"Netcat Remote Code Execution in Container",
	"Terminal shell in container",
	"Drop and execute new binary in container",
}

// TestFalcoContainerRulesFireLive fires the stable rules that need a
// container, with real actions from a process in a Docker-shaped cgroup;
// the same actions on the host are the look-alikes that must not fire.
func TestFalcoContainerRulesFireLive(t *testing.T) {
	require.Root(t, "needs root: loads BPF programs into the kernel")
	falcoRules, err := livetest.SharedFalcoRules("falco_rules.yaml")
	if err != nil {
		require.Missing(t, fmt.Sprintf("Falco's rules are not available: %v", err))
	}
	ctr := newContainerCgroup(t)
	s, err := livetest.Start(livetest.Options{RuleFiles: []string{falcoRules}, KeepAlerts: true, TrackExits: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	exe, _ := os.Executable()
	e := &env{s: s, tmp: t.TempDir(), exe: exe}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	nc := filepath.Join(e.tmp, "bin", "nc")
	_ = os.MkdirAll(filepath.Dir(nc), 0o755)
	if err := os.Symlink(exe, nc); err != nil {
		t.Fatal(err)
	}
	helper := func(action string) []string { return []string{helperEnv + "=" + action} }
	for _, c := range []struct {
		rule string
		act  func(in bool) int // the action, in the container or on the host
	}{
		{"Linux Kernel Module Injection Detected", func(in bool) int {
			if in {
				return ctr.run(t, e, helper("finit-module"), exe)
			}
			return e.run(t, helper("finit-module"), exe)
		}},
		{"Packet socket created in container", func(in bool) int {
			if in {
				return ctr.run(t, e, helper("packet-socket"), exe)
			}
			return e.run(t, helper("packet-socket"), exe)
		}},
		{"Redirect STDOUT/STDIN to Network Connection in Container", func(in bool) int {
			if in {
				return ctr.run(t, e, helper("redirect"), exe, l.Addr().String())
			}
			return e.run(t, helper("redirect"), exe, l.Addr().String())
		}},
		{"Detect release_agent File Container Escapes", func(in bool) int {
			dir := filepath.Join(e.tmp, fmt.Sprintf("cgroup-in-container-%v", in))
			_ = os.MkdirAll(dir, 0o755)
			if in {
				return ctr.run(t, e, helper("write"), exe, filepath.Join(dir, "release_agent"))
			}
			return e.run(t, helper("write"), exe, filepath.Join(dir, "release_agent"))
		}},
		{"Netcat Remote Code Execution in Container", func(in bool) int {
			// a program named nc started with -e (what the rule looks for)
			if in {
				return ctr.run(t, e, helper("noop"), nc, "-e", "/bin/sh", "127.0.0.1", "4444")
			}
			return e.run(t, helper("noop"), nc, "-e", "/bin/sh", "127.0.0.1", "4444")
		}},
		{"Terminal shell in container", func(in bool) int {
			// script gives a terminal; a program named runc (a container
			// entrypoint to the rule) starts a shell on it.
			runc := filepath.Join(e.tmp, "bin", "runc")
			if _, err := os.Lstat(runc); err != nil {
				if err := os.Symlink(exe, runc); err != nil {
					t.Fatal(err)
				}
			}
			cmd := fmt.Sprintf("%s=spawn %s 0 sh -c true", helperEnv, runc)
			if in {
				return ctr.run(t, e, nil, "script", "-qec", cmd, "/dev/null")
			}
			return e.run(t, nil, "script", "-qec", cmd, "/dev/null")
		}},
		{"Drop and execute new binary in container", func(in bool) int {
			// An overlay mount (as container images are) in a private
			// mount namespace: a binary copied in lands in the upper
			// layer; the look-alike runs one from the lower layer.
			root := filepath.Join(e.tmp, fmt.Sprintf("overlay-%v", in))
			for _, d := range []string{"lower", "upper", "work", "merged"} {
				_ = os.MkdirAll(filepath.Join(root, d), 0o755)
			}
			bin, err := os.ReadFile("/usr/bin/true")
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(root, "lower", "base-true"), string(bin), 0o755)
			script := fmt.Sprintf(`mount -t overlay overlay -o lowerdir=%[1]s/lower,upperdir=%[1]s/upper,workdir=%[1]s/work %[1]s/merged && cp /usr/bin/true %[1]s/merged/dropped && exec %[1]s/merged/dropped`, root)
			if !in { // in the container too, but the image's own binary
				script = fmt.Sprintf(`mount -t overlay overlay -o lowerdir=%[1]s/lower,upperdir=%[1]s/upper,workdir=%[1]s/work %[1]s/merged && exec %[1]s/merged/base-true`, root)
			}
			return ctr.run(t, e, nil, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
		}},
	} {
		t.Run(strings.ReplaceAll(c.rule, "/", "_"), func(t *testing.T) {
			if !slices.Contains(containerCases, c.rule) {
				t.Fatalf("%q is missing from containerCases", c.rule)
			}
			host := c.act(false)
			pid := c.act(true)
			a, ok := s.Wait(c.rule, livetest.ByAncestor(pid), waitFor)
			if !ok {
				if lost := s.Counters().Lost(); lost > 0 {
					t.Skipf("the capture lost %d events under load", lost)
				}
				t.Fatalf("%q did not fire in the container; alerts:\n%s", c.rule, dump(s))
			}
			t.Logf("fired: %s", a.Output())
			if !s.WaitExited(int64(host), waitFor) {
				t.Fatalf("exit of host process %d not seen", host)
			}
			if got := s.Find(c.rule, livetest.ByAncestor(host)); len(got) > 0 {
				t.Errorf("%q fired on the host: %s", c.rule, got[0].Output())
			}
		})
	}
}
