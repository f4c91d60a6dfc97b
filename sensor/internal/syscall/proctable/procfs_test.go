package proctable

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// TestBootstrapFromProc loads the real /proc and checks this test process:
// its executable, arguments, working directory, parent chain, and the
// sockets it holds (a listener and both ends of a loopback connection).
func TestBootstrapFromProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		require.Missing(t, "no procfs")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	f, err := os.Open("/etc/hostname")
	if err != nil {
		f, err = os.Open("/etc/passwd")
		if err != nil {
			t.Fatal(err)
		}
	}
	defer f.Close()

	tb := New(Config{ProcRoot: "/proc"})
	if err := tb.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tb.Len() < 2 {
		t.Fatalf("bootstrap found %d processes", tb.Len())
	}
	me := tb.Get(int64(os.Getpid()))
	if me == nil {
		t.Fatal("this process is not in the table")
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	wd, _ := os.Getwd()
	im := me.Image()
	if im.ExePath != exe {
		t.Errorf("exepath = %q, want %q", im.ExePath, exe)
	}
	if im.Exe != os.Args[0] || len(im.Args) != len(os.Args)-1 {
		t.Errorf("exe/args = %q %q, want %q", im.Exe, im.Args, os.Args)
	}
	if me.Cwd != wd+"/" {
		t.Errorf("cwd = %q, want %q", me.Cwd, wd+"/")
	}
	if me.Creds.EUID != uint32(os.Geteuid()) {
		t.Errorf("euid = %d", me.Creds.EUID)
	}
	if me.PPid() != int64(os.Getppid()) || me.Parent() == nil {
		t.Errorf("ppid = %d (parent %v), want %d", me.PPid(), me.Parent() != nil, os.Getppid())
	}
	// the chain reaches pid 1
	top := me
	for top.Parent() != nil {
		top = top.Parent()
	}
	if top.Pid != 1 && top.PPid() != 0 {
		t.Errorf("ancestry ends at pid %d (ppid %d)", top.Pid, top.PPid())
	}
	if me.StartTime <= 0 || me.StartTime > time.Now().UnixNano() {
		t.Errorf("start time %d", me.StartTime)
	}
	if me.Image().ExeIno == 0 {
		t.Error("no exe inode")
	}

	// Find our sockets by tuple.
	lport := uint16(ln.Addr().(*net.TCPAddr).Port)
	cport := uint16(client.LocalAddr().(*net.TCPAddr).Port)
	var sawListener, sawClient, sawServer, sawFile bool
	me.FDs.Range(func(fd *sysevent.FD) bool {
		switch {
		case fd.Type == sysevent.FDIPv4 && fd.Listening && fd.ServerPort == lport:
			sawListener = true
		case fd.Type == sysevent.FDIPv4 && !fd.IsServer && fd.ClientPort == cport && fd.ServerPort == lport:
			sawClient = fd.Name == "127.0.0.1:"+itoa(cport)+"->127.0.0.1:"+itoa(lport) && fd.L4Proto == sysevent.L4TCP
		case fd.Type == sysevent.FDIPv4 && fd.IsServer && fd.ClientPort == cport:
			sawServer = fd.ServerIP == netip.MustParseAddr("127.0.0.1")
		case fd.Type == sysevent.FDFile && fd.Name == f.Name():
			sawFile = fd.Ino != 0 && fd.Dir == "/etc"
		}
		return true
	})
	if !sawListener || !sawClient || !sawServer || !sawFile {
		t.Errorf("fds: listener %v client %v server %v file %v", sawListener, sawClient, sawServer, sawFile)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// TestHealMissedExit: a process that exits without an exit event is found
// gone from /proc by Sweep and removed after the grace period.
func TestHealMissedExit(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		require.Missing(t, "no procfs")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		require.Missing(t, fmt.Sprint("cannot start sleep:", err))
	}
	pid := int64(cmd.Process.Pid)
	// Start returns once the child is forked, not once it runs sleep
	for deadline := time.Now().Add(10 * time.Second); ; {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "sleep\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never became sleep")
		}
		time.Sleep(time.Millisecond)
	}
	clk := &clock{now: time.Now()}
	tb := New(Config{ProcRoot: "/proc", Now: clk.Now, SweepEvery: time.Second, ExitGrace: 5 * time.Second})
	ev := &sysevent.Event{Type: sysevent.SysRead, PID: uint32(pid), TID: uint32(pid), Time: clk.Now().UnixNano()}
	tb.Apply(ev)
	if ev.Thread == nil || ev.Thread.Image().Comm != "sleep" || ev.Thread.Image().ArgsLine != "30" {
		t.Fatalf("unknown process not loaded from /proc: %+v", ev.Thread)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	clk.Add(2 * time.Second) // the process has been quiet for a sweep period
	tb.Sweep()
	if tb.Get(pid) == nil || tb.Get(pid).ExitTime() == 0 {
		t.Fatal("vanished process not marked exited")
	}
	if tb.Stats().Healed != 1 {
		t.Errorf("healed = %d", tb.Stats().Healed)
	}
	clk.Add(6 * time.Second)
	tb.Sweep()
	if tb.Get(pid) != nil {
		t.Fatal("healed process not removed after the grace period")
	}
}

func TestParseHexAddr(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0100007F:0016", "127.0.0.1:22"},
		{"00000000:1F90", "0.0.0.0:8080"},
		{"00000000000000000000000001000000:0050", "[::1]:80"},
		{"0000000000000000FFFF00000100007F:01BB", "[::ffff:127.0.0.1]:443"},
	} {
		got, ok := parseHexAddr(tt.in)
		if !ok || got.String() != tt.want {
			t.Errorf("parseHexAddr(%q) = %v, %v; want %s", tt.in, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "zz:00", "0100007F", "0100007F:xyz", "01:0016"} {
		if _, ok := parseHexAddr(bad); ok {
			t.Errorf("parseHexAddr(%q) accepted", bad)
		}
	}
}

func TestFDFromLink(t *testing.T) {
	for _, tt := range []struct {
		link string
		typ  sysevent.FDType
		name string
	}{
		{"/etc/passwd", sysevent.FDFile, "/etc/passwd"},
		{"/tmp/x (deleted)", sysevent.FDFile, "/tmp/x"},
		{"pipe:[1234]", sysevent.FDPipe, "pipe:[1234]"},
		{"anon_inode:[eventfd]", sysevent.FDEvent, "anon_inode:[eventfd]"},
		{"anon_inode:[eventpoll]", sysevent.FDEventPoll, "anon_inode:[eventpoll]"},
		{"anon_inode:inotify", sysevent.FDInotify, "anon_inode:inotify"},
		{"anon_inode:bpf-map", sysevent.FDBPF, "anon_inode:bpf-map"},
		{"/memfd:payload (deleted)", sysevent.FDMemfd, "memfd:payload"},
		{"socket:[99]", sysevent.FDUnknown, "socket:[99]"},
	} {
		f := fdFromLink(5, tt.link, func() (*sysevent.FD, bool) { return nil, false })
		if f.Type != tt.typ || f.Name != tt.name || f.Num != 5 {
			t.Errorf("fdFromLink(%q) = %v %q", tt.link, f.Type, f.Name)
		}
	}
}

func TestExeWritable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "prog")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 1000, 1000); err != nil {
		require.Missing(t, fmt.Sprint("cannot chown (not root):", err))
	}
	for _, tt := range []struct {
		name string
		mode os.FileMode
		c    sysevent.Creds
		want bool
	}{
		{"owner with write bit", 0o755, sysevent.Creds{EUID: 1000, FSUID: 1000, EGID: 5, FSGID: 5}, true},
		{"owner without write bit", 0o555, sysevent.Creds{EUID: 1000, FSUID: 1000}, false},
		{"other user", 0o755, sysevent.Creds{EUID: 2000, FSUID: 2000, EGID: 7, FSGID: 7}, false},
		{"group write", 0o775, sysevent.Creds{EUID: 2000, FSUID: 2000, EGID: 1000, FSGID: 1000}, true},
		{"world write", 0o757, sysevent.Creds{EUID: 2000, FSUID: 2000, EGID: 7, FSGID: 7}, true},
		{"root with CAP_DAC_OVERRIDE", 0o555, sysevent.Creds{CapEffective: 1 << 1}, true},
		{"root without capabilities", 0o555, sysevent.Creds{}, false},
	} {
		if err := os.Chmod(p, tt.mode); err != nil {
			t.Fatal(err)
		}
		if got, ok := exeWritable(p, tt.c); got != tt.want || !ok {
			t.Errorf("%s: exeWritable = %v, want %v", tt.name, got, tt.want)
		}
	}
	if w, ok := exeWritable(filepath.Join(dir, "missing"), sysevent.Creds{CapEffective: 2}); w || ok {
		t.Error("a missing file is writable")
	}
}

func TestParseStat(t *testing.T) {
	var pr procInfo
	// a comm with spaces and parentheses, as a process may name itself
	parseStat(&pr, []byte("1234 (my (odd) name) S 1 1200 1100 34816 1234 4194560 100 0 0 0 5 3 0 0 20 0 1 0 250 1000 100"), 1_700_000_000)
	if pr.pgid != 1200 || pr.sid != 1100 || pr.tty != 34816 || pr.startTime != 1_700_000_000*1e9+250*1e7 {
		t.Fatalf("parseStat = %+v", pr)
	}
	var ps procInfo
	parseStatus(&ps, []byte("Name:\tbash\nUmask:\t0022\nTgid:\t42\nNSpid:\t42\t7\nPPid:\t1\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\nThreads:\t3\nCapEff:\t0000000000200000\n"))
	if ps.comm != "bash" || ps.ppid != 1 || ps.vpid != 7 || ps.creds.UID != 1000 || ps.creds.EUID != 0 ||
		ps.creds.EGID != 100 || ps.threads != 3 || ps.creds.CapEffective != 1<<21 {
		t.Fatalf("parseStatus = %+v", ps)
	}
}

func FuzzProcParsers(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 10 0 0"), "0100007F:0016")
	f.Add([]byte("Name:\tx\nUid:\t1\nNSpid:\t\n"), "::")
	f.Fuzz(func(t *testing.T, b []byte, addr string) {
		var pr procInfo
		parseStat(&pr, b, 1)
		parseStatus(&pr, b)
		_, _ = parseHexAddr(addr)
		_ = fdFromLink(1, addr, func() (*sysevent.FD, bool) { return nil, false })
		_ = splitNul(b, 8)
	})
}

func TestProcExistsNoticesPidReuse(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		require.Missing(t, "no procfs")
	}
	tb := New(Config{ProcRoot: "/proc"})
	me := tb.lookupOrLoad(int64(os.Getpid()), 0)
	if me == nil {
		t.Fatal("cannot load self")
	}
	if !procExists("/proc", me.Pid, me.StartTime) {
		t.Fatal("this process does not exist")
	}
	if procExists("/proc", me.Pid, me.StartTime-3600e9) {
		t.Fatal("a process started an hour earlier with this pid counts as this one")
	}
	if procExists("/proc", 1<<22+12345, 0) {
		t.Fatal("a pid beyond pid_max exists")
	}
}
