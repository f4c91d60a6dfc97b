package proctable

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// clock is a settable clock for sweeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const t0 = int64(1_700_000_000_000_000_000)

// forkEv is the child side of a fork, as bpfcapture reports it.
func forkEv(pid, ppid uint32, comm string) *sysevent.Event {
	return &sysevent.Event{
		Type: sysevent.SysClone, Time: t0, TID: pid, PID: pid, Ret: 0,
		Has: sysevent.HasProc | sysevent.HasCreds | sysevent.HasCwd,
		Proc: sysevent.ProcInfo{PPID: ppid, VPID: pid, Sid: ppid, Pgid: pid, StartTime: t0 + int64(pid),
			Comm: comm, Cwd: "/home/u", UID: 1000, EUID: 1000, GID: 1000, EGID: 1000, LoginUID: 1000},
	}
}

func execEv(pid uint32, path string, argv ...string) *sysevent.Event {
	return &sysevent.Event{
		Type: sysevent.SysExecve, Time: t0 + 10, TID: pid, PID: pid, Ret: 0, Path: path, Target: path, Argv: argv,
		Has: sysevent.HasProc | sysevent.HasCreds | sysevent.HasExe | sysevent.HasCwd,
		Proc: sysevent.ProcInfo{Comm: commOf(path), ExePath: path, Cwd: "/tmp", Sid: 1, Pgid: pid,
			EUID: 0, UID: 1000, LoginUID: 1000, CapEffective: 1 << 21, ExeIno: 42, ExeCtime: 5, Env: []string{"HOME=/root"}},
	}
}

func newTestTable() (*Table, *clock) {
	c := &clock{now: time.Unix(0, t0)}
	return New(Config{Now: c.Now, ExitGrace: 5 * time.Second, SweepEvery: time.Second}), c
}

// seed installs a process tree init(1) → bash(100) without /proc.
func seed(t *testing.T, tb *Table) {
	t.Helper()
	for _, ev := range []*sysevent.Event{
		forkEv(1, 0, "init"), execEv(1, "/sbin/init", "/sbin/init"),
		forkEv(100, 1, "init"), execEv(100, "/bin/bash", "bash", "-l"),
	} {
		tb.Apply(ev)
	}
}

func TestForkExecAncestry(t *testing.T) {
	tb, _ := newTestTable()
	seed(t, tb)
	tb.Apply(forkEv(200, 100, "bash"))
	ev := execEv(200, "/usr/bin/cat", "cat", "/etc/shadow")
	tb.Apply(ev)
	th := ev.Thread
	if th == nil {
		t.Fatal("exec event has no thread")
	}
	im := th.Image()
	checks := []struct {
		name      string
		got, want any
	}{
		{"comm", im.Comm, "cat"},
		{"exe", im.Exe, "cat"},
		{"exepath", im.ExePath, "/usr/bin/cat"},
		{"args", im.ArgsLine, "/etc/shadow"},
		{"cmdline", im.Cmdline, "cat /etc/shadow"},
		{"cwd", th.Cwd, "/tmp/"},
		{"euid", th.Creds.EUID, uint32(0)},
		{"loginuid", th.Creds.LoginUID, uint32(1000)},
		{"ino", im.ExeIno, uint64(42)},
		{"ppid", th.PPid(), int64(100)},
		{"parent comm", th.Parent().Image().Comm, "bash"},
		{"grandparent", th.Ancestor(2).Image().ExePath, "/sbin/init"},
		{"no 3rd ancestor", th.Ancestor(3) == nil, true},
		{"parent children", tb.Get(100).Children.Load(), int32(1)},
		{"env", im.Env[0], "HOME=/root"},
		{"vpgid", th.VPgid(), int64(200)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The child's fork-time image was the parent's; exec replaced only the
	// child's.
	if got := tb.Get(100).Image().Comm; got != "bash" {
		t.Errorf("parent image changed to %q", got)
	}
}

func TestFDLifecycle(t *testing.T) {
	tb, _ := newTestTable()
	seed(t, tb)
	pid := uint32(100)
	apply := func(ev *sysevent.Event) *sysevent.Event {
		ev.PID, ev.TID = pid, pid
		if ev.Num == 0 {
			ev.Num = 7
		}
		tb.Apply(ev)
		return ev
	}
	// open
	ev := apply(&sysevent.Event{Type: sysevent.SysOpenat, Ret: 3, FD: sysevent.AtFDCWD, Path: "/etc/passwd", Target: "../etc/passwd", Flags: 0o2000000})
	if f := ev.FDInfo; f == nil || f.Num != 3 || f.Type != sysevent.FDFile || f.Name != "/etc/passwd" || f.NameRaw != "../etc/passwd" || f.Dir != "/etc" || f.Base != "passwd" {
		t.Fatalf("open fd = %+v", ev.FDInfo)
	}
	// failed open: fd.num -1 with the path
	ev = apply(&sysevent.Event{Type: sysevent.SysOpen, Ret: -2, Path: "/nope", Target: "/nope"})
	if f := ev.FDInfo; f == nil || f.Num != -1 || f.Name != "/nope" || f.Type != sysevent.FDFile {
		t.Fatalf("failed open fd = %+v", ev.FDInfo)
	}
	if tb.Get(100).FDs.Get(-1) != nil {
		t.Fatal("failed open entered the table")
	}
	// read on fd 3 attaches it
	ev = apply(&sysevent.Event{Type: sysevent.SysRead, FD: 3, Ret: 10})
	if ev.FDInfo == nil || ev.FDInfo.Name != "/etc/passwd" {
		t.Fatalf("read fd = %+v", ev.FDInfo)
	}
	// socket + connect
	apply(&sysevent.Event{Type: sysevent.SysSocket, Ret: 4, Sock: sysevent.SockAddr{Family: sysevent.AFInet, Type: sysevent.SockStream}})
	ev = apply(&sysevent.Event{Type: sysevent.SysConnect, FD: 4, Ret: 0, Num: 9,
		Sock:  sysevent.SockAddr{Family: sysevent.AFInet, IP: netip.MustParseAddr("127.0.0.1"), Port: 22},
		Local: sysevent.SockAddr{Family: sysevent.AFInet, IP: netip.MustParseAddr("127.0.0.1"), Port: 40000}})
	f := ev.FDInfo
	if f == nil || f.Name != "127.0.0.1:40000->127.0.0.1:22" || !f.Connected || f.L4Proto != sysevent.L4TCP ||
		f.RemotePort() != 22 || f.LocalPort() != 40000 || f.ChangedBy != 9 {
		t.Fatalf("connect fd = %+v", f)
	}
	// dup2 the socket onto stdout, as a reverse shell does
	ev = apply(&sysevent.Event{Type: sysevent.SysDup2, FD: 4, Ret: 1, Args: [6]uint64{4, 1}})
	if ev.FDInfo == nil || ev.FDInfo.Num != 1 || ev.FDInfo.Type != sysevent.FDIPv4 || ev.FDInfo.Name != f.Name {
		t.Fatalf("dup2 fd = %+v", ev.FDInfo)
	}
	// close
	ev = apply(&sysevent.Event{Type: sysevent.SysClose, FD: 4, Ret: 0})
	if ev.FDInfo == nil || ev.FDInfo.Num != 4 {
		t.Fatalf("close attaches the closed fd, got %+v", ev.FDInfo)
	}
	if tb.Get(100).FDs.Get(4) != nil {
		t.Fatal("closed fd still in table")
	}
	// a close whose number another thread's open took before it returned
	// (that open's event came first): the new fd stays
	apply(&sysevent.Event{Type: sysevent.SysOpenat, Ret: 4, FD: sysevent.AtFDCWD, Path: "/etc/hosts", Target: "/etc/hosts"})
	ev = apply(&sysevent.Event{Type: sysevent.SysClose, FD: 4, Ret: 0, Flags: sysevent.CloseFDReused})
	if f := tb.Get(100).FDs.Get(4); f == nil || f.Name != "/etc/hosts" || ev.FDInfo != nil {
		t.Fatalf("close of a reused number: table fd 4 = %+v, event fd %+v", f, ev.FDInfo)
	}
	apply(&sysevent.Event{Type: sysevent.SysClose, FD: 4, Ret: 0})
	// udp sendto on an unconnected socket changes the name
	apply(&sysevent.Event{Type: sysevent.SysSocket, Ret: 5, Sock: sysevent.SockAddr{Family: sysevent.AFInet, Type: sysevent.SockDgram}})
	ev = apply(&sysevent.Event{Type: sysevent.SysSendto, FD: 5, Ret: 3, Num: 11,
		Sock: sysevent.SockAddr{Family: sysevent.AFInet, IP: netip.MustParseAddr("10.0.0.1"), Port: 53}})
	if f := ev.FDInfo; f == nil || f.L4Proto != sysevent.L4UDP || f.Connected || f.ChangedBy != 11 || f.Name != "0.0.0.0:0->10.0.0.1:53" {
		t.Fatalf("sendto fd = %+v", ev.FDInfo)
	}
	// accept on a listener
	apply(&sysevent.Event{Type: sysevent.SysSocket, Ret: 6, Sock: sysevent.SockAddr{Family: sysevent.AFInet6, Type: sysevent.SockStream}})
	apply(&sysevent.Event{Type: sysevent.SysBind, FD: 6, Sock: sysevent.SockAddr{Family: sysevent.AFInet6, IP: netip.IPv6Loopback(), Port: 8080}})
	apply(&sysevent.Event{Type: sysevent.SysListen, FD: 6})
	ev = apply(&sysevent.Event{Type: sysevent.SysAccept4, FD: 6, Ret: 7,
		Sock: sysevent.SockAddr{Family: sysevent.AFInet6, IP: netip.IPv6Loopback(), Port: 50000}})
	if f := ev.FDInfo; f == nil || !f.IsServer || f.Type != sysevent.FDIPv6 || f.Name != "::1:50000->::1:8080" || f.LocalPort() != 8080 {
		t.Fatalf("accept fd = %+v", ev.FDInfo)
	}
	// chdir
	apply(&sysevent.Event{Type: sysevent.SysChdir, Path: "/var/log"})
	if got := tb.Get(100).Cwd; got != "/var/log/" {
		t.Fatalf("cwd = %q", got)
	}
	// exec closes close-on-exec fds (fd 3) and keeps the rest (fd 1)
	tb.Apply(execEv(100, "/bin/sh", "sh"))
	if tb.Get(100).FDs.Get(3) != nil || tb.Get(100).FDs.Get(1) == nil {
		t.Fatal("close-on-exec not applied on exec")
	}
	// fork copies the fd table
	tb.Apply(forkEv(300, 100, "sh"))
	if f := tb.Get(300).FDs.Get(1); f == nil || f.Type != sysevent.FDIPv4 {
		t.Fatalf("forked child fd 1 = %+v", f)
	}
	// copies of an fd the table never saw (its open stayed in the
	// kernel) onto a known number: the number's old file is gone
	ev = apply(&sysevent.Event{Type: sysevent.SysDup2, FD: 9, Ret: 1, Args: [6]uint64{9, 1}})
	if ev.FDInfo != nil || tb.Get(100).FDs.Get(1) != nil {
		t.Fatalf("dup2 of an unknown fd: event fd %+v, table keeps fd 1 = %+v", ev.FDInfo, tb.Get(100).FDs.Get(1))
	}
	apply(&sysevent.Event{Type: sysevent.SysSocket, Ret: 10, Sock: sysevent.SockAddr{Family: sysevent.AFUnix, Type: sysevent.SockStream}})
	apply(&sysevent.Event{Type: sysevent.SysFcntl, FD: 9, Ret: 10, Request: fDupfd})
	if f := tb.Get(100).FDs.Get(10); f != nil {
		t.Fatalf("F_DUPFD of an unknown fd: table keeps fd 10 = %+v", f)
	}
}

func TestExitGraceAndSweep(t *testing.T) {
	tb, clk := newTestTable()
	seed(t, tb)
	tb.Apply(forkEv(200, 100, "bash"))
	ev := &sysevent.Event{Type: sysevent.TypeProcExit, TID: 200, PID: 200, Time: t0 + 100, Proc: sysevent.ProcInfo{GroupDead: true}}
	tb.Apply(ev)
	if ev.Thread == nil || ev.Thread.ExitTime() != t0+100 {
		t.Fatalf("procexit thread = %+v", ev.Thread)
	}
	if tb.Get(100).Children.Load() != 0 {
		t.Error("parent still counts the exited child")
	}
	tb.Sweep()
	if tb.Get(200) == nil {
		t.Fatal("exited process removed before the grace period")
	}
	clk.Add(6 * time.Second)
	tb.Sweep()
	if tb.Get(200) != nil {
		t.Fatal("exited process kept after the grace period")
	}
	if s := tb.Stats(); s.Removed != 1 || s.Exited != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestThreadsShareTheProcess(t *testing.T) {
	tb, _ := newTestTable()
	seed(t, tb)
	thr := forkEv(101, 1, "bash")
	thr.PID = 100 // a new thread of bash
	tb.Apply(thr)
	if thr.Thread != tb.Get(100) || tb.Get(100).Threads.Load() != 2 {
		t.Fatalf("thread not counted: %d", tb.Get(100).Threads.Load())
	}
	tb.Apply(&sysevent.Event{Type: sysevent.TypeProcExit, TID: 101, PID: 100})
	if tb.Get(100).ExitTime() != 0 || tb.Get(100).Threads.Load() != 1 {
		t.Fatal("a thread's exit ended the process")
	}
}

func TestMaxProcsBound(t *testing.T) {
	tb := New(Config{MaxProcs: 50})
	for pid := uint32(1); pid <= 500; pid++ {
		ev := &sysevent.Event{Type: sysevent.SysRead, PID: pid, TID: pid, Time: t0 + int64(pid)}
		tb.Apply(ev)
	}
	if n := tb.Len(); n > 50 {
		t.Fatalf("table holds %d processes, bound is 50", n)
	}
	if tb.Get(500) == nil {
		t.Fatal("the most recent process was evicted")
	}
}

func TestApplyDoesNotAllocate(t *testing.T) {
	tb, _ := newTestTable()
	seed(t, tb)
	tb.Apply(&sysevent.Event{Type: sysevent.SysOpenat, PID: 100, TID: 100, Ret: 3, Path: "/etc/hosts", Target: "/etc/hosts"})
	ev := &sysevent.Event{Type: sysevent.SysRead, PID: 100, TID: 100, FD: 3, Ret: 1}
	failed := &sysevent.Event{Type: sysevent.SysOpenat, PID: 100, TID: 100, Ret: -2, Path: "/x", Target: "/x"}
	n := testing.AllocsPerRun(1000, func() {
		ev.Time++
		tb.Apply(ev)
		tb.Apply(failed)
	})
	if n != 0 {
		t.Fatalf("Apply allocates %.1f times per stateless event", n)
	}
	if ev.FDInfo == nil || ev.FDInfo.Name != "/etc/hosts" {
		t.Fatal("read lost its fd")
	}
}

// TestConcurrentWorkers runs the sharded evaluation's access pattern under
// the race detector: one goroutine per process group applies its events
// while the shared parent execs and forks.
func TestConcurrentWorkers(t *testing.T) {
	tb, _ := newTestTable()
	seed(t, tb)
	const workers = 4
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		pid := uint32(1000 + w)
		tb.Apply(forkEv(pid, 100, "bash"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				ev := &sysevent.Event{Type: sysevent.SysOpenat, PID: pid, TID: pid, Ret: 3, Path: "/etc/hosts", Target: "/etc/hosts"}
				tb.Apply(ev)
				_ = ev.Thread.Parent().Image().Comm
				_ = ev.Thread.Ancestor(2).VPgid()
				child := uint32(int(pid)*1000 + i)
				tb.Apply(forkEv(child, pid, "bash"))
				tb.Apply(&sysevent.Event{Type: sysevent.TypeProcExit, PID: child, TID: child, Proc: sysevent.ProcInfo{GroupDead: true}})
			}
		}()
	}
	// the shared parent keeps changing under them (its own worker)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 300; i++ {
			tb.Apply(execEv(100, "/bin/bash", "bash"))
			tb.Apply(&sysevent.Event{Type: sysevent.SysOpenat, PID: 100, TID: 100, Ret: int64(10 + i%50), Path: "/tmp/x", Target: "/tmp/x"})
			tb.Apply(forkEv(uint32(9000+i), 100, "bash"))
		}
	}()
	go tb.Sweep()
	wg.Wait()
}

// TestOrphansAreReparented: after its parent exits, a process belongs to
// the nearest subreaper (or init), as the kernel and libsinsp have it.
func TestOrphansAreReparented(t *testing.T) {
	tb, _ := newTestTable()
	seed(t, tb) // init(1) → bash(100)
	tb.Apply(forkEv(200, 100, "bash"))
	tb.Apply(execEv(200, "/usr/bin/launcher", "launcher"))
	tb.Apply(forkEv(300, 200, "launcher"))
	tb.Apply(execEv(300, "/usr/sbin/daemon", "daemon"))
	tb.Apply(&sysevent.Event{Type: sysevent.TypeProcExit, PID: 200, TID: 200, Time: t0 + 50, Proc: sysevent.ProcInfo{GroupDead: true}})
	ev := &sysevent.Event{Type: sysevent.SysRead, PID: 300, TID: 300, Time: t0 + 60}
	tb.Apply(ev)
	if p := ev.Thread.Parent(); p == nil || p.Pid != 1 || ev.Thread.PPid() != 1 {
		t.Fatalf("orphan's parent = %v (ppid %d), want init", p, ev.Thread.PPid())
	}
	// with bash a subreaper, the next orphan goes to bash
	tb.Apply(&sysevent.Event{Type: sysevent.SysPrctl, PID: 100, TID: 100, Request: 36, Args: [6]uint64{36, 1}})
	tb.Apply(forkEv(400, 100, "bash"))
	tb.Apply(forkEv(500, 400, "bash"))
	tb.Apply(&sysevent.Event{Type: sysevent.TypeProcExit, PID: 400, TID: 400, Time: t0 + 70, Proc: sysevent.ProcInfo{GroupDead: true}})
	// an event from before the exit (processed late, on another worker)
	// does not reparent yet
	early := &sysevent.Event{Type: sysevent.SysRead, PID: 500, TID: 500, Time: t0 + 65}
	tb.Apply(early)
	if early.Thread.PPid() != 400 {
		t.Fatalf("reparented before the parent's exit: ppid %d", early.Thread.PPid())
	}
	late := &sysevent.Event{Type: sysevent.SysRead, PID: 500, TID: 500, Time: t0 + 80}
	tb.Apply(late)
	if late.Thread.PPid() != 100 || late.Thread.Parent().Image().Comm != "bash" {
		t.Fatalf("orphan of a subreaper's child: ppid %d", late.Thread.PPid())
	}
}

func TestFcntlDupAndCloseRange(t *testing.T) {
	tb, _ := newTestTable()
	seed(t, tb)
	apply := func(ev *sysevent.Event) *sysevent.Event {
		ev.PID, ev.TID, ev.Num = 100, 100, 3
		tb.Apply(ev)
		return ev
	}
	fds := func() map[int64]string {
		out := map[int64]string{}
		tb.Get(100).FDs.Range(func(f *sysevent.FD) bool { out[f.Num] = f.Name; return true })
		return out
	}
	for i, p := range []string{"/a", "/b", "/c"} {
		apply(&sysevent.Event{Type: sysevent.SysOpenat, Ret: int64(3 + i), FD: sysevent.AtFDCWD, Path: p, Target: p})
	}
	tests := []struct {
		name    string
		ev      *sysevent.Event
		fdinfo  string // the event's fd.name
		want    map[int64]string
		cloexec map[int64]bool
	}{
		{"F_DUPFD copies without cloexec", &sysevent.Event{Type: sysevent.SysFcntl, FD: 3, Request: fDupfd, Flags: 10, Ret: 10},
			"/a", map[int64]string{3: "/a", 4: "/b", 5: "/c", 10: "/a"}, map[int64]bool{10: false}},
		{"F_DUPFD_CLOEXEC copies with cloexec", &sysevent.Event{Type: sysevent.SysFcntl, FD: 4, Request: fDupfdCloexec, Flags: 10, Ret: 11},
			"/b", map[int64]string{3: "/a", 4: "/b", 5: "/c", 10: "/a", 11: "/b"}, map[int64]bool{11: true}},
		{"failed F_DUPFD changes nothing", &sysevent.Event{Type: sysevent.SysFcntl, FD: 5, Request: fDupfd, Ret: -24},
			"/c", map[int64]string{3: "/a", 4: "/b", 5: "/c", 10: "/a", 11: "/b"}, nil},
		{"F_GETFL is stateless", &sysevent.Event{Type: sysevent.SysFcntl, FD: 5, Request: 3, Ret: 2},
			"/c", map[int64]string{3: "/a", 4: "/b", 5: "/c", 10: "/a", 11: "/b"}, nil},
		{"close_range CLOEXEC marks", &sysevent.Event{Type: sysevent.SysCloseRange, FD: 4, Args: [6]uint64{4, 5, closeRangeCloexec}, Flags: closeRangeCloexec},
			"", map[int64]string{3: "/a", 4: "/b", 5: "/c", 10: "/a", 11: "/b"}, map[int64]bool{3: false, 4: true, 5: true}},
		{"failed close_range changes nothing", &sysevent.Event{Type: sysevent.SysCloseRange, FD: 3, Args: [6]uint64{3, 3}, Ret: -22},
			"", map[int64]string{3: "/a", 4: "/b", 5: "/c", 10: "/a", 11: "/b"}, nil},
		{"close_range closes a range", &sysevent.Event{Type: sysevent.SysCloseRange, FD: 4, Args: [6]uint64{4, 10}},
			"", map[int64]string{3: "/a", 11: "/b"}, nil},
		{"close_range to ~0U closes the rest", &sysevent.Event{Type: sysevent.SysCloseRange, FD: 5, Args: [6]uint64{5, 0xffffffff}},
			"", map[int64]string{3: "/a"}, nil},
	}
	for _, tc := range tests {
		ev := apply(tc.ev)
		got := ""
		if ev.FDInfo != nil {
			got = ev.FDInfo.Name
		}
		if got != tc.fdinfo {
			t.Errorf("%s: event fd = %q, want %q", tc.name, got, tc.fdinfo)
		}
		if g := fds(); len(g) != len(tc.want) {
			t.Errorf("%s: fds = %v, want %v", tc.name, g, tc.want)
		} else {
			for n, name := range tc.want {
				if g[n] != name {
					t.Errorf("%s: fds = %v, want %v", tc.name, g, tc.want)
					break
				}
			}
		}
		for n, want := range tc.cloexec {
			f := tb.Get(100).FDs.Get(n)
			if f == nil || (f.OpenFlags&oCloexec != 0) != want {
				t.Errorf("%s: fd %d cloexec = %+v, want %v", tc.name, n, f, want)
			}
		}
	}
	// The state types include both, so a capture lets them through.
	have := map[sysevent.Type]bool{}
	for _, ty := range StateTypes() {
		have[ty] = true
	}
	if !have[sysevent.SysFcntl] || !have[sysevent.SysCloseRange] {
		t.Error("StateTypes lacks fcntl or close_range")
	}
}

func TestMPTCPSocketsAreTCP(t *testing.T) {
	tb, _ := newTestTable()
	seed(t, tb)
	const ipprotoMPTCP = 262
	ev := &sysevent.Event{Type: sysevent.SysSocket, PID: 100, TID: 100, Ret: 7,
		Sock: sysevent.SockAddr{Family: sysevent.AFInet6, Type: sysevent.SockStream, Proto: ipprotoMPTCP}}
	tb.Apply(ev)
	if ev.FDInfo == nil || ev.FDInfo.L4Proto != sysevent.L4TCP {
		t.Fatalf("socket(AF_INET6, SOCK_STREAM, IPPROTO_MPTCP) fd = %+v, want tcp", ev.FDInfo)
	}
	// A connect on a socket the table did not see (opened before the
	// capture) takes the protocol from the kernel's tuple.
	ev = &sysevent.Event{Type: sysevent.SysConnect, PID: 100, TID: 100, FD: 8, Ret: 0,
		Sock:  sysevent.SockAddr{Family: sysevent.AFInet, Type: sysevent.SockStream, Proto: ipprotoMPTCP, IP: netip.MustParseAddr("127.0.0.1"), Port: 443},
		Local: sysevent.SockAddr{Family: sysevent.AFInet, Type: sysevent.SockStream, Proto: ipprotoMPTCP, IP: netip.MustParseAddr("127.0.0.1"), Port: 50000}}
	tb.Apply(ev)
	if ev.FDInfo == nil || ev.FDInfo.L4Proto != sysevent.L4TCP {
		t.Fatalf("connect on an unseen MPTCP socket fd = %+v, want tcp", ev.FDInfo)
	}
	if got := l4Of(sysevent.SockStream, ipprotoMPTCP); got != sysevent.L4TCP {
		t.Errorf("l4Of(SOCK_STREAM, MPTCP) = %v", got)
	}
	if got := l4Of(0, ipprotoMPTCP); got != sysevent.L4TCP {
		t.Errorf("l4Of(unknown type, MPTCP) = %v", got)
	}
	if got := l4Of(0, 6); got != sysevent.L4TCP {
		t.Errorf("l4Of(unknown type, TCP) = %v", got)
	}
	if got := l4Of(0, 17); got != sysevent.L4UDP {
		t.Errorf("l4Of(unknown type, UDP) = %v", got)
	}
}
