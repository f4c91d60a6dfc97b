package bpfcapture

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// runHelper runs this test binary as a helper doing action and returns
// its pid.
func runHelper(t *testing.T, action string, wantExit int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HARRIER_HELPER="+action)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("helper %s: %v", action, err)
		}
		code = ee.ExitCode()
	}
	if code != wantExit {
		t.Fatalf("helper %s exited %d, want %d", action, code, wantExit)
	}
	return cmd.Process.Pid
}

func TestExecForkExit(t *testing.T) {
	h := startCapture(t, Options{}, "execve", "execveat", "clone", "clone3", "fork", "vfork", "exit", "exit_group")
	self := os.Getpid()
	wd, _ := os.Getwd()

	cmd := exec.Command("/bin/true", "one", "two words")
	cmd.Env = []string{"HARRIER_TEST=1", "PATH=/usr/bin"}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid

	// the child side of the fork: Ret 0, the new identity, the parent
	child := h.find("fork child", func(e *sysevent.Event) bool { return e.IsForkChild() && int(e.PID) == pid })
	if int(child.TID) != pid || int(child.Proc.PPID) != self || child.Proc.Cwd != wd || child.Proc.StartTime == 0 {
		t.Errorf("fork child: %+v", child)
	}
	if d := time.Since(time.Unix(0, child.Time)); d < 0 || d > time.Minute {
		t.Errorf("fork child time %v is %v from now", time.Unix(0, child.Time), d)
	}
	// the parent side: Ret is the child
	h.find("clone in the parent", func(e *sysevent.Event) bool {
		return int(e.PID) == self && e.Ret == int64(pid) &&
			(e.Type == sysevent.SysClone || e.Type == sysevent.SysClone3 || e.Type == sysevent.SysVfork)
	})

	ex := h.findType("execve", pid, "")
	if ex.Ret != 0 || ex.Path != "/usr/bin/true" || ex.Target != "/bin/true" ||
		strings.Join(ex.Argv, "|") != "/bin/true|one|two words" {
		t.Errorf("execve: path %q target %q argv %q ret %d", ex.Path, ex.Target, ex.Argv, ex.Ret)
	}
	pi := ex.Proc
	if ex.Has&(sysevent.HasProc|sysevent.HasCreds|sysevent.HasExe|sysevent.HasCwd) != sysevent.HasProc|sysevent.HasCreds|sysevent.HasExe|sysevent.HasCwd {
		t.Errorf("execve: Has = %b", ex.Has)
	}
	if pi.Comm != "true" || int(pi.PPID) != self || pi.Cwd != wd || pi.ExePath != "/usr/bin/true" || pi.ExeIno == 0 ||
		pi.ExeNlink == 0 || pi.ExeFromMemfd || pi.Cgroup == "" || pi.UID != 0 || pi.CapEffective == 0 {
		t.Errorf("execve proc: %+v", pi)
	}
	var st unix.Stat_t
	if err := unix.Stat("/usr/bin/true", &st); err == nil {
		if pi.ExeIno != st.Ino || pi.ExeMtime != st.Mtim.Nano() || pi.ExeCtime != st.Ctim.Nano() {
			t.Errorf("exe inode %d mtime %d ctime %d, stat says %d %d %d", pi.ExeIno, pi.ExeMtime, pi.ExeCtime, st.Ino, st.Mtim.Nano(), st.Ctim.Nano())
		}
	}
	if strings.Join(pi.Env, " ") != "HARRIER_TEST=1 PATH=/usr/bin" {
		t.Errorf("execve env %q", pi.Env)
	}
	if cg, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		// the child ran in the test's unified cgroup: the "0::/path" line
		want := ""
		for _, l := range strings.Split(string(cg), "\n") {
			if strings.HasPrefix(l, "0::") {
				want = l[3:]
			}
		}
		if want != "" && pi.Cgroup != want {
			t.Errorf("cgroup %q, /proc/self/cgroup says %q", pi.Cgroup, want)
		}
	}

	exit := h.findType("exit_group", pid, "")
	if exit.Args[0] != 0 {
		t.Errorf("exit_group status %d", exit.Args[0])
	}
	pe := h.findType("procexit", pid, "")
	if !pe.Proc.GroupDead || pe.Ret != 0 {
		t.Errorf("procexit: %+v", pe)
	}

	// exit code through exit_group and procexit
	hp := runHelper(t, "exit", 7)
	if ev := h.findType("exit_group", hp, ""); ev.Args[0] != 7 {
		t.Errorf("exit_group(7): %+v", ev.Args)
	}
	if ev := h.findType("procexit", hp, ""); ev.Ret != 7<<8 {
		t.Errorf("procexit of exit(7): ret %d", ev.Ret)
	}

	// a failed execve keeps argv and the absolute path
	sh := exec.Command("/bin/sh", "-c", "cd /tmp && exec ./harrier-no-such-file a b; exit 3")
	sh.Run()
	fe := h.find("failed execve", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysExecve && int(e.PID) == sh.Process.Pid && e.Ret < 0
	})
	if fe.Ret != -int64(unix.ENOENT) || fe.Path != "/tmp/harrier-no-such-file" || fe.Target != "./harrier-no-such-file" ||
		strings.Join(fe.Argv, "|") != "./harrier-no-such-file|a|b" {
		t.Errorf("failed execve: %+v", fe)
	}

	// execveat relative to a directory fd
	hp = runHelper(t, "execveat", 0)
	ea := h.findType("execveat", hp, "/usr/bin/true")
	if ea.Ret != 0 || strings.Join(ea.Argv, "|") != "true|from-execveat" || ea.FD < 3 || ea.Flags != 0 {
		t.Errorf("execveat: %+v", ea)
	}
	// execveat with AT_EXECVE_CHECK returns 0 without an exec: it goes
	// out at its exit, flag and all, and the helper runs on
	hp = runHelper(t, "execveat-check", 0)
	ec := h.find("execveat with AT_EXECVE_CHECK", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysExecveat && int(e.PID) == hp && e.Flags&sysevent.AtExecveCheck != 0
	})
	if ec.Ret != 0 || ec.IsExec() || ec.Has&sysevent.HasExe != 0 || ec.Path != "/usr/bin/true" || strings.Join(ec.Argv, "|") != "true|from-execveat-check" {
		t.Errorf("execveat AT_EXECVE_CHECK: %+v", ec)
	}
	// execveat of an absolute path at AT_FDCWD, with a flag
	hp = runHelper(t, "execveat-abs", 0)
	eb := h.findType("execveat", hp, "/usr/bin/true")
	if eb.Ret != 0 || strings.Join(eb.Argv, "|") != "true|from-execveat-abs" || eb.FD != unix.AT_FDCWD ||
		eb.Flags != unix.AT_SYMLINK_NOFOLLOW {
		t.Errorf("execveat at AT_FDCWD: %+v", eb)
	}
}

func TestFilelessExecFromMemfd(t *testing.T) {
	h := startCapture(t, Options{}, "execve", "memfd_create")
	self := os.Getpid()
	fd, err := unix.MemfdCreate("harrier-fileless", 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev := h.findType("memfd_create", self, ""); ev.Name != "harrier-fileless" || ev.Ret != int64(fd) {
		t.Errorf("memfd_create: %+v", ev)
	}
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	defer f.Close()
	if _, err := f.Write(bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/fd/3")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ev := h.findType("execve", cmd.Process.Pid, "")
	if !ev.Proc.ExeFromMemfd || !strings.HasPrefix(ev.Path, "/memfd:harrier-fileless") || ev.Proc.ExeNlink != 0 {
		t.Errorf("exec from memfd: path %q nlink %d memfd %v", ev.Path, ev.Proc.ExeNlink, ev.Proc.ExeFromMemfd)
	}
}

func TestCredentialAndNamespaceSyscalls(t *testing.T) {
	h := startCapture(t, Options{}, "setuid", "setgid", "setresuid", "capset", "unshare", "setns", "ptrace", "prctl", "kill", "tgkill", "bpf", "init_module", "finit_module")
	self := os.Getpid()

	pid := runHelper(t, "setuid", 0)
	if ev := h.findType("setgid", pid, ""); ev.GID != 65534 || ev.Ret != 0 || ev.Proc.GID != 65534 || ev.Has&sysevent.HasCreds == 0 {
		t.Errorf("setgid: %+v", ev)
	}
	if ev := h.findType("setresuid", pid, ""); ev.UID != 65534 || ev.Proc.UID != 65534 || ev.Proc.EUID != 65534 || ev.Proc.SUID != 65534 {
		t.Errorf("setresuid: %+v", ev.Proc)
	}

	pid = runHelper(t, "capset", 0)
	if ev := h.findType("capset", pid, ""); ev.Ret != 0 || ev.Proc.CapEffective&(1<<unix.CAP_NET_RAW) != 0 || ev.Proc.CapEffective == 0 ||
		ev.Proc.CapPermitted&(1<<unix.CAP_NET_RAW) == 0 {
		t.Errorf("capset: eff %#x perm %#x", ev.Proc.CapEffective, ev.Proc.CapPermitted)
	}

	// unshare and setns may be refused by the sandbox the tests run in;
	// the events carry the result either way
	pid = runHelper(t, "unshare", 0)
	if ev := h.findType("unshare", pid, ""); ev.Flags != unix.CLONE_NEWUTS || (ev.Ret != 0 && ev.Ret != -int64(unix.EPERM)) {
		t.Errorf("unshare: %+v", ev)
	}
	if ev := h.findType("setns", pid, ""); ev.Flags != unix.CLONE_NEWUTS || ev.FD < 0 || (ev.Ret != 0 && ev.Ret != -int64(unix.EPERM)) {
		t.Errorf("setns: %+v", ev)
	}

	pid = runHelper(t, "traceme", 0)
	if ev := h.findType("ptrace", pid, ""); ev.Request != unix.PTRACE_TRACEME || ev.Ret != 0 {
		t.Errorf("ptrace traceme: %+v", ev)
	}

	// PTRACE_ATTACH to a sleeping child
	sleep := exec.Command("/bin/sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Process.Kill()
	attach := make(chan error, 1)
	go func() {
		// ptrace requests must come from the tracer's thread
		lockAndRun(func() {
			err := unix.PtraceAttach(sleep.Process.Pid)
			if err == nil {
				var ws unix.WaitStatus
				unix.Wait4(sleep.Process.Pid, &ws, unix.WALL, nil)
				err = unix.PtraceDetach(sleep.Process.Pid)
			}
			attach <- err
		})
	}()
	if err := <-attach; err != nil {
		t.Fatal(err)
	}
	if ev := h.find("ptrace attach", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysPtrace && int(e.PID) == self && e.Request == unix.PTRACE_ATTACH
	}); ev.TargetPID != int64(sleep.Process.Pid) || ev.Ret != 0 {
		t.Errorf("ptrace attach: %+v", ev)
	}

	// kill and tgkill with signal 0
	unix.Kill(sleep.Process.Pid, 0)
	if ev := h.findType("kill", self, ""); ev.TargetPID != int64(sleep.Process.Pid) || ev.Signal != 0 || ev.Ret != 0 {
		t.Errorf("kill: %+v", ev)
	}
	unix.Tgkill(sleep.Process.Pid, sleep.Process.Pid, syscall.Signal(0))
	// (the Go runtime tgkills its own threads too: match the target)
	if ev := h.find("tgkill", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysTgkill && int(e.PID) == self && e.TargetPID == int64(sleep.Process.Pid)
	}); ev.Signal != 0 || ev.Args[0] != uint64(sleep.Process.Pid) {
		t.Errorf("tgkill: %+v", ev)
	}

	// prctl
	raw(unix.SYS_PRCTL, unix.PR_GET_DUMPABLE)
	if ev := h.findType("prctl", self, ""); ev.Request != unix.PR_GET_DUMPABLE || ev.Ret != 1 {
		t.Errorf("prctl: %+v", ev)
	}

	// bpf: a command that fails harmlessly
	raw(unix.SYS_BPF, unix.BPF_PROG_GET_NEXT_ID, 0, 0)
	// (the capture's own map updates, which end after SetInterest, are
	// seen too: match the command)
	if ev := h.find("bpf", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysBpf && int(e.PID) == self && e.Request == unix.BPF_PROG_GET_NEXT_ID
	}); ev.Ret >= 0 {
		t.Errorf("bpf: %+v", ev)
	}

	// module loading attempts with garbage images fail, and are seen
	img := []byte("not an ELF module")
	raw(unix.SYS_INIT_MODULE, uintptr(unsafePointer(&img[0])), uintptr(len(img)), cstr("harrier=1"))
	if ev := h.findType("init_module", self, ""); ev.Name != "harrier=1" || ev.Ret >= 0 || ev.Args[1] != uint64(len(img)) {
		t.Errorf("init_module: %+v", ev)
	}
	mf, err := os.Open(filepath.Join("/etc", "hostname"))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	raw(unix.SYS_FINIT_MODULE, mf.Fd(), cstr("harrier=2"), 0)
	if ev := h.findType("finit_module", self, ""); ev.Name != "harrier=2" || ev.FD != int64(mf.Fd()) || ev.Ret >= 0 {
		t.Errorf("finit_module: %+v", ev)
	}
}

func TestForkVforkClone3AndThreadExit(t *testing.T) {
	h := startCapture(t, Options{}, "fork", "vfork", "clone3", "clone", "exit", "exit_group")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HARRIER_HELPER=forks")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper forks: %v", err)
	}
	kids := strings.Fields(string(out))
	if len(kids) != 3 {
		t.Fatalf("helper printed %q", out)
	}
	pid := cmd.Process.Pid
	for i, name := range []string{"fork", "vfork", "clone3"} {
		ty, _ := sysevent.TypeByName(name)
		want := map[string]uint64{"fork": uint64(unix.SIGCHLD), "vfork": unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD), "clone3": 0}[name]
		// (the vfork child runs on its parent's stack and clobbers the
		// pid the helper prints; the Go runtime makes threads with clone3)
		kid := strings.TrimSpace(kids[i])
		parent := h.find(name+" in the parent", func(e *sysevent.Event) bool {
			return e.Type == ty && int(e.PID) == pid && e.Ret > 0 && (name == "vfork" || itoa(e.Ret) == kid)
		})
		if parent.Flags != want {
			t.Errorf("%s: parent flags %#x, want %#x", name, parent.Flags, want)
		}
		child := h.find(name+" child", func(e *sysevent.Event) bool {
			return e.Type == ty && e.IsForkChild() && int64(e.PID) == parent.Ret
		})
		if int(child.Proc.PPID) != pid || int(child.Proc.PTID) != int(parent.TID) || child.Flags != want {
			t.Errorf("%s child: %+v", name, child)
		}
	}

	// a thread's own exit: the helper's main thread calls exit(3)
	te := exec.Command(os.Args[0], "-test.run=^$")
	te.Env = append(os.Environ(), "HARRIER_HELPER=threadexit")
	if err := te.Start(); err != nil {
		t.Fatal(err)
	}
	defer te.Wait()
	defer te.Process.Kill()
	tpid := te.Process.Pid
	ev := h.find("exit of the main thread", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysExit && int(e.TID) == tpid
	})
	if int(ev.PID) != tpid || ev.Args[0] != 3 {
		t.Errorf("thread exit: %+v", ev)
	}
	pe := h.find("procexit of the main thread", func(e *sysevent.Event) bool {
		return e.Type == sysevent.TypeProcExit && int(e.TID) == tpid
	})
	if pe.Proc.GroupDead {
		t.Error("a thread's exit is reported as the group's")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A non-leader thread's exec: the event carries the group leader's pid as
// TID and the calling thread as Proc.OldTID.
func TestExecFromNonLeaderThread(t *testing.T) {
	h := startCapture(t, Options{}, "execve")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HARRIER_HELPER=threadexec")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	pid := cmd.Process.Pid
	ev := h.find("exec by a thread", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysExecve && int(e.PID) == pid && e.Ret == 0 && strings.Join(e.Argv, " ") == "true from-a-thread"
	})
	if int(ev.TID) != pid || itoa(int64(ev.Proc.OldTID)) != strings.TrimSpace(string(out)) || int(ev.Proc.OldTID) == pid {
		t.Errorf("tid %d oldtid %d, helper thread %s, pid %d", ev.TID, ev.Proc.OldTID, out, pid)
	}
}
