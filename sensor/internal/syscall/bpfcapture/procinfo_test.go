package bpfcapture

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
}

// The process facts of an exec event must agree with what /proc says about
// the same process: parent, process group, session, controlling terminal,
// start time, login uid.
func TestExecProcInfoMatchesProc(t *testing.T) {
	h := startCapture(t, Options{}, "execve")
	// a controlling terminal: a new session on a pseudo-terminal
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		require.Missing(t, fmt.Sprintf("no pseudo-terminals: %v", err))
	}
	defer ptmx.Close()
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	cmd := exec.Command("/bin/sleep", "5")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	ev := h.findType("execve", pid, "/usr/bin/sleep")
	st := procStat(t, pid)
	// fields after the name: state ppid pgrp session tty_nr ... starttime is the 20th
	pi := ev.Proc
	want := map[string]string{
		"ppid": st[1], "pgrp": st[2], "session": st[3], "tty_nr": st[4],
	}
	got := map[string]string{
		"ppid": strconv.Itoa(int(pi.PPID)), "pgrp": strconv.Itoa(int(pi.Pgid)),
		"session": strconv.Itoa(int(pi.Sid)), "tty_nr": strconv.Itoa(int(pi.TTY)),
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s: event %s, /proc %s", k, got[k], want[k])
		}
	}
	if pi.TTY == 0 || int(pi.Sid) != pid || int(pi.VPID) != pid {
		t.Errorf("tty %d sid %d vpid %d for pid %d", pi.TTY, pi.Sid, pi.VPID, pid)
	}
	// start time: /proc has clock ticks since boot
	ticks, _ := strconv.ParseInt(st[19], 10, 64)
	var boot unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	procStart := time.Now().Add(-time.Duration(boot.Nano())).Add(time.Duration(ticks) * 10 * time.Millisecond)
	if d := time.Unix(0, pi.StartTime).Sub(procStart); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("start time %v, /proc says %v", time.Unix(0, pi.StartTime), procStart)
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/loginuid"); err == nil {
		if strings.TrimSpace(string(b)) != strconv.FormatUint(uint64(pi.LoginUID), 10) {
			t.Errorf("loginuid %d, /proc says %s", pi.LoginUID, b)
		}
	}
}

// proc.is_exe_upper_layer: an executable written into an overlay mount
// lives in the upper layer; one that only exists below does not.
func TestExeUpperLayer(t *testing.T) {
	h := startCapture(t, Options{}, "execve")
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := func(n string) string { return filepath.Join(dir, n) }
	for _, n := range []string{"lower", "upper", "work", "merged"} {
		os.Mkdir(d(n), 0o755)
	}
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d("lower/low-true"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + d("lower") + ",upperdir=" + d("upper") + ",workdir=" + d("work")
	if err := unix.Mount("overlay", d("merged"), "overlay", 0, opts); err != nil {
		require.Missing(t, fmt.Sprintf("cannot mount overlayfs here: %v", err))
	}
	defer unix.Unmount(d("merged"), unix.MNT_DETACH)
	if err := os.WriteFile(d("merged/up-true"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		upper bool
	}{{"low-true", false}, {"up-true", true}} {
		cmd := exec.Command(d("merged/" + tc.name))
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		ev := h.findType("execve", cmd.Process.Pid, "")
		if ev.Proc.ExeUpperLayer != tc.upper || ev.Path != d("merged/"+tc.name) {
			t.Errorf("%s: upper %v path %q, want upper %v", tc.name, ev.Proc.ExeUpperLayer, ev.Path, tc.upper)
		}
	}
}
