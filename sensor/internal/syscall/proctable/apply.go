package proctable

import (
	"net/netip"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// fdRole says where an event type names the fd its fd.* fields describe.
type fdRole uint8

const (
	fdNone fdRole = iota
	fdArg         // Event.FD
	fdRet         // the fd returned (Event.Ret)
)

var fdRoles = func() []fdRole {
	r := make([]fdRole, sysevent.NumTypes)
	for _, t := range []sysevent.Type{
		sysevent.SysClose, sysevent.SysConnect, sysevent.SysBind, sysevent.SysListen,
		sysevent.SysSendto, sysevent.SysSendmsg, sysevent.SysFchdir, sysevent.SysFchmod,
		sysevent.SysFchown, sysevent.SysSetns, sysevent.SysFinitModule, sysevent.SysRead,
		sysevent.SysWrite, sysevent.SysPread64, sysevent.SysPwrite64, sysevent.SysReadv,
		sysevent.SysWritev, sysevent.SysRecvfrom, sysevent.SysRecvmsg, sysevent.SysShutdown,
		sysevent.SysFstat, sysevent.SysIoctl, sysevent.SysFcntl, sysevent.SysSendfile,
	} {
		r[t] = fdArg
	}
	for _, t := range []sysevent.Type{
		sysevent.SysOpen, sysevent.SysOpenat, sysevent.SysOpenat2, sysevent.SysCreat,
		sysevent.SysSocket, sysevent.SysAccept, sysevent.SysAccept4, sysevent.SysMemfdCreate,
		sysevent.SysDup, sysevent.SysDup2, sysevent.SysDup3,
	} {
		r[t] = fdRet
	}
	return r
}()

// Apply updates the table with ev and attaches the calling process's
// state (ev.Thread) and the fd the event concerns (ev.FDInfo). Events of
// one process must be applied in order, by one goroutine at a time (see
// the package documentation). For events that change no state it does
// not allocate.
func (tb *Table) Apply(ev *sysevent.Event) {
	ev.Thread, ev.FDInfo = nil, nil
	pid := int64(ev.PID)
	switch ev.Type {
	case sysevent.SysClone, sysevent.SysClone3, sysevent.SysFork, sysevent.SysVfork:
		if ev.IsForkChild() {
			tb.forkChild(ev)
			return
		}
	case sysevent.SysExecve, sysevent.SysExecveat:
		if ev.IsExec() {
			tb.exec(ev)
			return
		}
	case sysevent.TypeProcExit:
		tb.procExit(ev)
		return
	}
	e := tb.get(pid)
	if e == nil {
		e = tb.materialize(ev)
	}
	if e.lastSeen.Load() != ev.Time {
		e.lastSeen.Store(ev.Time)
	}
	t := e.t
	tb.reparent(t, ev.Time)
	ev.Thread = t
	tb.applyState(e, ev)
}

// reparent moves t to its reaper once its parent has exited, as the kernel
// did (and as libsinsp reports proc.ppid and proc.pname afterwards): the
// nearest living ancestor that is a child subreaper, else the init of a
// pid namespace, else pid 1. Done lazily by t's owner on t's next event.
func (tb *Table) reparent(t *sysevent.Thread, now int64) {
	p := t.Parent()
	if p == nil {
		return
	}
	x := p.ExitTime()
	if x == 0 || x > now {
		return
	}
	var reaper *sysevent.Thread
	for cur, i := p.Parent(), 0; cur != nil && i < sysevent.MaxAncestors; cur, i = cur.Parent(), i+1 {
		if cur.ExitTime() == 0 && (cur.Subreaper.Load() || cur.VPid == 1 || cur.Pid == 1) {
			reaper = cur
			break
		}
	}
	if reaper == nil {
		if e := tb.get(1); e != nil && e.t != t {
			reaper = e.t
		}
	}
	if reaper == nil {
		return
	}
	t.SetParent(reaper, reaper.Pid)
	reaper.Children.Add(1)
}

// applyState handles the fd, cwd and credential changes of ev and sets
// ev.FDInfo.
func (tb *Table) applyState(e *entry, ev *sysevent.Event) {
	t := e.t
	ok := ev.Ret >= 0
	switch ev.Type {
	case sysevent.SysOpen, sysevent.SysOpenat, sysevent.SysOpenat2, sysevent.SysCreat:
		if !ok {
			e.failed = sysevent.FD{Num: -1, Type: sysevent.FDFile, Name: ev.Path, OpenFlags: uint32(ev.Flags), Mode: ev.Mode}
			if ev.Target != ev.Path {
				e.failed.NameRaw = ev.Target
			}
			e.failed.Dir, e.failed.Base = splitPath(ev.Path)
			ev.FDInfo = &e.failed
			return
		}
		f := &sysevent.FD{Num: ev.Ret, Type: sysevent.FDFile, Name: ev.Path, OpenFlags: uint32(ev.Flags), Mode: ev.Mode}
		if ev.Flags&oDirectory != 0 && ev.Flags&oTmpfileOnly == 0 {
			f.Type = sysevent.FDDirectory
		}
		if ev.Target != ev.Path {
			f.NameRaw = ev.Target
		}
		f.Dir, f.Base = splitPath(ev.Path)
		tb.setFD(t, f)
		ev.FDInfo = f
		return
	case sysevent.SysMemfdCreate:
		if ok {
			f := &sysevent.FD{Num: ev.Ret, Type: sysevent.FDMemfd, Name: "memfd:" + ev.Name, Base: "memfd:" + ev.Name}
			if ev.Flags&1 != 0 {
				f.OpenFlags = oCloexec
			}
			tb.setFD(t, f)
			ev.FDInfo = f
		}
		return
	case sysevent.SysSocket:
		if ok {
			f := socketFD(ev.Ret, ev.Sock.Family, ev.Sock.Type, ev.Sock.Proto)
			tb.setFD(t, f)
			ev.FDInfo = f
		}
		return
	case sysevent.SysDup, sysevent.SysDup2, sysevent.SysDup3:
		old := t.FDs.Get(ev.FD)
		if !ok || old == nil {
			if ok && ev.Ret != ev.FD {
				// A copy of an fd the table never saw (its open
				// stayed in the kernel): what the new number held
				// before is gone.
				tb.dropFD(t, ev.Ret)
			}
			ev.FDInfo = old
			return
		}
		if ev.Ret == ev.FD {
			ev.FDInfo = old
			return
		}
		f := *old
		f.Num = ev.Ret
		f.OpenFlags &^= oCloexec
		if ev.Type == sysevent.SysDup3 && ev.Flags&oCloexec != 0 {
			f.OpenFlags |= oCloexec
		}
		tb.setFD(t, &f)
		ev.FDInfo = &f
		return
	case sysevent.SysFcntl:
		tb.fcntl(t, ev)
		return
	case sysevent.SysCloseRange:
		if ok {
			tb.closeRange(t, ev.FD, int64(uint32(ev.Args[1])), ev.Flags)
		}
		return
	case sysevent.SysClose:
		if ev.Flags&sysevent.CloseFDReused != 0 {
			return // the number is another fd's already: the closed one's entry went with it
		}
		ev.FDInfo = t.FDs.Get(ev.FD)
		if ok && ev.FDInfo != nil {
			t.Mu.Lock()
			t.FDs.Delete(ev.FD)
			t.Mu.Unlock()
		}
		return
	case sysevent.SysConnect:
		tb.connect(t, ev)
		return
	case sysevent.SysAccept, sysevent.SysAccept4:
		tb.accept(t, ev)
		return
	case sysevent.SysBind:
		old := t.FDs.Get(ev.FD)
		if !ok || old == nil || ev.Sock.IsZero() {
			ev.FDInfo = old
			return
		}
		f := *old
		if ev.Sock.Family == sysevent.AFUnix {
			f.UnixPath = ev.Sock.Path
		} else {
			f.ServerIP, f.ServerPort, f.IsServer = ev.Sock.IP, ev.Sock.Port, true
		}
		f.ChangedBy = ev.Num
		f.FinishSocket()
		tb.setFD(t, &f)
		ev.FDInfo = &f
		return
	case sysevent.SysListen:
		old := t.FDs.Get(ev.FD)
		if ok && old != nil && !old.Listening {
			f := *old
			f.Listening, f.IsServer = true, true
			tb.setFD(t, &f)
			old = &f
		}
		ev.FDInfo = old
		return
	case sysevent.SysSendto, sysevent.SysSendmsg:
		old := t.FDs.Get(ev.FD)
		ev.FDInfo = old
		// An unconnected datagram socket gets its tuple from each send;
		// fd.name_changed tells rules when it moved.
		if old == nil || old.Connected || ev.Sock.IsZero() || ev.Sock.Family == sysevent.AFUnix {
			return
		}
		if old.ServerIP == ev.Sock.IP && old.ServerPort == ev.Sock.Port && !old.IsServer {
			return
		}
		f := *old
		f.IsServer = false
		f.ServerIP, f.ServerPort = ev.Sock.IP, ev.Sock.Port
		if !ev.Local.IsZero() {
			f.ClientIP, f.ClientPort = ev.Local.IP, ev.Local.Port
		} else if !f.ClientIP.IsValid() {
			f.ClientIP = zeroAddr(f.Type)
		}
		f.ChangedBy = ev.Num
		f.FinishSocket()
		tb.setFD(t, &f)
		ev.FDInfo = &f
		return
	case sysevent.SysPrctl:
		const prSetChildSubreaper = 36
		if ok && ev.Request == prSetChildSubreaper {
			t.Subreaper.Store(ev.Args[1] != 0)
		}
		return
	case sysevent.SysChdir, sysevent.SysFchdir:
		if ev.Type == sysevent.SysFchdir {
			ev.FDInfo = t.FDs.Get(ev.FD)
		}
		if ok && ev.Path != "" {
			cwd := withSlash(ev.Path)
			if cwd != t.Cwd {
				t.Mu.Lock()
				t.Cwd = cwd
				t.Mu.Unlock()
			}
		}
		return
	case sysevent.SysSetuid, sysevent.SysSetgid, sysevent.SysSetreuid, sysevent.SysSetregid,
		sysevent.SysSetresuid, sysevent.SysSetresgid, sysevent.SysSetfsuid, sysevent.SysSetfsgid,
		sysevent.SysCapset:
		if ev.Has&sysevent.HasCreds != 0 {
			c := tb.withNames(t, t.Creds, credsOf(&ev.Proc))
			if c != t.Creds {
				t.Mu.Lock()
				t.Creds = c
				t.Mu.Unlock()
			}
		}
		return
	}
	if int(ev.Type) < len(fdRoles) {
		switch fdRoles[ev.Type] {
		case fdArg:
			ev.FDInfo = t.FDs.Get(ev.FD)
		case fdRet:
			if ok {
				ev.FDInfo = t.FDs.Get(ev.Ret)
			}
		}
	}
}

// Linux open(2) flags the table needs.
const (
	oCloexec     = 0o2000000
	oDirectory   = 0o200000
	oTmpfileOnly = 0o20000000
)

// fcntl commands and close_range flags the table follows.
const (
	fDupfd            = 0
	fDupfdCloexec     = 1030
	closeRangeCloexec = 1 << 2
)

// fcntl follows F_DUPFD and F_DUPFD_CLOEXEC, which shells use to save
// and restore fds around redirections: the new fd is a copy of the old.
func (tb *Table) fcntl(t *sysevent.Thread, ev *sysevent.Event) {
	old := t.FDs.Get(ev.FD)
	ev.FDInfo = old
	if ev.Ret < 0 || (ev.Request != fDupfd && ev.Request != fDupfdCloexec) || ev.Ret == ev.FD {
		return
	}
	if old == nil {
		tb.dropFD(t, ev.Ret) // as for dup of an unknown fd
		return
	}
	f := *old
	f.Num = ev.Ret
	f.OpenFlags &^= oCloexec
	if ev.Request == fDupfdCloexec {
		f.OpenFlags |= oCloexec
	}
	tb.setFD(t, &f)
}

// closeRange applies a successful close_range(first, last, flags): the
// fds in [first, last] are closed or, with CLOSE_RANGE_CLOEXEC, marked
// close-on-exec. (CLOSE_RANGE_UNSHARE only changes which table the
// kernel closes them in; the process's view is the same.)
func (tb *Table) closeRange(t *sysevent.Thread, first, last int64, flags uint64) {
	var hit []*sysevent.FD
	t.FDs.Range(func(f *sysevent.FD) bool {
		if f.Num >= first && f.Num <= last {
			hit = append(hit, f)
		}
		return true
	})
	if len(hit) == 0 {
		return
	}
	t.Mu.Lock()
	defer t.Mu.Unlock()
	for _, f := range hit {
		if flags&closeRangeCloexec != 0 {
			if f.OpenFlags&oCloexec == 0 {
				c := *f
				c.OpenFlags |= oCloexec
				t.FDs.Set(&c)
			}
			continue
		}
		t.FDs.Delete(f.Num)
	}
}

// dropFD forgets fd num, if the table has it.
func (tb *Table) dropFD(t *sysevent.Thread, num int64) {
	if t.FDs.Get(num) == nil {
		return
	}
	t.Mu.Lock()
	t.FDs.Delete(num)
	t.Mu.Unlock()
}

func (tb *Table) setFD(t *sysevent.Thread, f *sysevent.FD) {
	t.Mu.Lock()
	t.FDs.Set(f)
	t.Mu.Unlock()
}

func socketFD(num int64, family, typ, proto uint16) *sysevent.FD {
	f := &sysevent.FD{Num: num}
	switch family {
	case sysevent.AFInet:
		f.Type = sysevent.FDIPv4
	case sysevent.AFInet6:
		f.Type = sysevent.FDIPv6
	case sysevent.AFUnix:
		f.Type = sysevent.FDUnix
	case afNetlink:
		f.Type = sysevent.FDNetlink
	default:
		f.Type = sysevent.FDUnknown
	}
	if f.Type == sysevent.FDIPv4 || f.Type == sysevent.FDIPv6 {
		f.L4Proto = l4Of(typ, proto)
	}
	return f
}

// l4Of is an ip socket's transport protocol (fd.l4proto) from its type
// and protocol. MPTCP sockets (Go's listeners and dialers use MPTCP by
// default where the kernel has it) are TCP to rules, as in libsinsp: they
// carry TCP subflows and are SOCK_STREAM.
func l4Of(typ, proto uint16) sysevent.L4Proto {
	switch {
	case typ == sysevent.SockStream, proto == ipprotoTCP, proto == ipprotoMPTCP:
		return sysevent.L4TCP
	case (typ == sysevent.SockDgram || typ == sysevent.SockRaw) && (proto == ipprotoICMP || proto == ipprotoICMPv6):
		return sysevent.L4ICMP
	case typ == sysevent.SockDgram, proto == ipprotoUDP:
		return sysevent.L4UDP
	case typ == sysevent.SockRaw:
		return sysevent.L4Raw
	}
	return sysevent.L4Unknown
}

const (
	afNetlink     = 16
	ipprotoICMP   = 1
	ipprotoTCP    = 6
	ipprotoUDP    = 17
	ipprotoICMPv6 = 58
	ipprotoMPTCP  = 262
)

func (tb *Table) connect(t *sysevent.Thread, ev *sysevent.Event) {
	old := t.FDs.Get(ev.FD)
	if ev.Sock.IsZero() {
		ev.FDInfo = old
		return
	}
	var f sysevent.FD
	if old != nil {
		f = *old
	} else {
		f = *socketFD(ev.FD, ev.Sock.Family, ev.Sock.Type, ev.Sock.Proto)
		if f.L4Proto == sysevent.L4Unknown && f.Type != sysevent.FDUnix {
			f.L4Proto = sysevent.L4TCP
		}
	}
	if ev.Sock.Family == sysevent.AFUnix {
		f.UnixPath = ev.Sock.Path
	} else {
		f.IsServer = false
		f.ServerIP, f.ServerPort = ev.Sock.IP, ev.Sock.Port
		switch {
		case !ev.Local.IsZero():
			f.ClientIP, f.ClientPort = ev.Local.IP, ev.Local.Port
		case !f.ClientIP.IsValid():
			f.ClientIP = zeroAddr(f.Type)
		}
	}
	const einprogress = 115
	if ev.Ret == 0 || ev.Ret == -einprogress {
		f.Connected = true
	}
	oldName := ""
	if old != nil {
		oldName = old.Name
	}
	f.FinishSocket()
	if f.Name != oldName {
		f.ChangedBy = ev.Num
	}
	tb.setFD(t, &f)
	ev.FDInfo = &f
}

func (tb *Table) accept(t *sysevent.Thread, ev *sysevent.Event) {
	if ev.Ret < 0 {
		ev.FDInfo = t.FDs.Get(ev.FD)
		return
	}
	listener := t.FDs.Get(ev.FD)
	var f *sysevent.FD
	if listener != nil {
		f = &sysevent.FD{Num: ev.Ret, Type: listener.Type, L4Proto: listener.L4Proto,
			ServerIP: listener.ServerIP, ServerPort: listener.ServerPort, UnixPath: listener.UnixPath}
	} else {
		fam := ev.Sock.Family
		if fam == 0 {
			fam = ev.Local.Family
		}
		f = socketFD(ev.Ret, fam, sysevent.SockStream, 0)
	}
	if !ev.Local.IsZero() && ev.Local.Family != sysevent.AFUnix {
		f.ServerIP, f.ServerPort = ev.Local.IP, ev.Local.Port
	}
	if !ev.Sock.IsZero() && ev.Sock.Family != sysevent.AFUnix {
		f.ClientIP, f.ClientPort = ev.Sock.IP, ev.Sock.Port
	}
	if ev.Type == sysevent.SysAccept4 && ev.Flags&oCloexec != 0 {
		f.OpenFlags = oCloexec
	}
	f.IsServer, f.Connected = true, true
	f.FinishSocket()
	tb.setFD(t, f)
	ev.FDInfo = f
}

// exec installs the new image of a successful execve/execveat.
func (tb *Table) exec(ev *sysevent.Event) {
	pid := int64(ev.PID)
	e := tb.get(pid)
	if e == nil {
		e = tb.materialize(ev)
	}
	e.lastSeen.Store(ev.Time)
	t := e.t
	tb.reparent(t, ev.Time)
	ev.Thread = t

	p := &ev.Proc
	im := &sysevent.Image{Comm: p.Comm}
	if len(ev.Argv) > 0 {
		im.Exe = ev.Argv[0]
		im.Args = append([]string(nil), ev.Argv[1:]...)
	} else {
		im.Exe = ev.Target
	}
	im.ExePath = p.ExePath
	if im.ExePath == "" {
		im.ExePath = ev.Path
	}
	if im.Comm == "" {
		im.Comm = commOf(im.ExePath)
	}
	if ev.Has&sysevent.HasExe != 0 {
		im.ExeIno, im.ExeCtime, im.ExeMtime = p.ExeIno, p.ExeCtime, p.ExeMtime
		im.ExeUpperLayer, im.ExeFromMemfd = p.ExeUpperLayer, p.ExeFromMemfd
		if len(p.Env) > 0 {
			im.Env = append([]string(nil), p.Env...)
		}
	}
	creds := t.Creds
	if ev.Has&sysevent.HasCreds != 0 {
		creds = tb.withNames(t, t.Creds, credsOf(p))
	}
	if tb.cfg.ProcRoot != "" {
		// Through /proc while the process lives (any mount namespace),
		// else by its path (a short-lived process may be gone already).
		w, ok := exeWritable(procPath(tb.cfg.ProcRoot, pid, "exe"), creds)
		if !ok && im.ExePath != "" {
			w, _ = exeWritable(im.ExePath, creds)
		}
		im.ExeWritable = w
	}
	im.Finish()
	t.SetImage(im)

	t.Mu.Lock()
	t.Creds = creds
	if ev.Has&sysevent.HasCwd != 0 && p.Cwd != "" {
		t.Cwd = withSlash(p.Cwd)
	}
	if ev.Has&sysevent.HasProc != 0 {
		t.TTY = p.TTY
	}
	// close-on-exec
	var closing []int64
	t.FDs.Range(func(f *sysevent.FD) bool {
		if f.OpenFlags&oCloexec != 0 {
			closing = append(closing, f.Num)
		}
		return true
	})
	for _, fd := range closing {
		t.FDs.Delete(fd)
	}
	t.Mu.Unlock()
	if ev.Has&sysevent.HasProc != 0 {
		t.SetSession(int64(p.Sid), int64(p.Pgid))
		tb.setContainer(e, p.Cgroup)
		tb.realParent(t, int64(p.PPID))
	}
}

// realParent corrects t's parent to the one the kernel reports at exec.
// Reparenting is guessed from the subreapers the table saw become one; a
// subreaper that did so before the sensor started (a container shim
// adopting an exec'd process) is only known from the kernel's answer.
func (tb *Table) realParent(t *sysevent.Thread, ppid int64) {
	if ppid <= 0 || ppid == t.PPid() {
		return
	}
	np := tb.lookupOrLoad(ppid, 0)
	if np == nil || np == t {
		return
	}
	if old := t.Parent(); old != nil && old.ExitTime() == 0 {
		old.Children.Add(-1)
	}
	t.SetParent(np, ppid)
	np.Children.Add(1)
}

// forkChild creates the process (or counts the thread) announced by the
// child side of a clone/fork.
func (tb *Table) forkChild(ev *sysevent.Event) {
	pid := int64(ev.PID)
	if ev.TID != ev.PID { // a new thread of an existing process
		e := tb.get(pid)
		if e == nil {
			// The process itself was never seen: the event describes the
			// thread, not the process's image, so read /proc (or build a
			// placeholder) rather than inherit from the parent.
			has := ev.Has
			ev.Has = 0
			e = tb.materialize(ev)
			ev.Has = has
		} else {
			e.t.Threads.Add(1)
		}
		e.lastSeen.Store(ev.Time)
		ev.Thread = e.t
		return
	}
	if e := tb.get(pid); e != nil && !e.t.FromProc && e.t.StartTime == ev.Proc.StartTime && e.exitAt.Load() == 0 {
		ev.Thread = e.t // already built (e.g. by an earlier event)
		return
	}
	e := tb.newFromEvent(ev)
	e = tb.insert(e, true)
	e.lastSeen.Store(ev.Time)
	ev.Thread = e.t
}

// newFromEvent builds a process from the kernel's facts in ev.Proc and
// what it inherits from its parent.
func (tb *Table) newFromEvent(ev *sysevent.Event) *entry {
	p := &ev.Proc
	t := &sysevent.Thread{Pid: int64(ev.PID), VPid: int64(p.VPID), StartTime: p.StartTime}
	t.Threads.Store(1)
	t.SetSession(int64(p.Sid), int64(p.Pgid))
	e := &entry{t: t}
	e.lastSeen.Store(ev.Time)
	var parent *sysevent.Thread
	if p.PPID != 0 {
		parent = tb.lookupOrLoad(int64(p.PPID), 0)
	}
	if parent != nil {
		t.SetImage(parent.Image())
		t.SetContainer(parent.Container())
		parent.Mu.Lock()
		t.Cwd, t.Creds, t.TTY = parent.Cwd, parent.Creds, parent.TTY
		t.FDs = parent.FDs.Clone()
		parent.Mu.Unlock()
		parent.Children.Add(1)
	}
	t.SetParent(parent, int64(p.PPID))
	if ev.Has&sysevent.HasProc != 0 {
		t.TTY = p.TTY
		if p.Comm != "" && p.Comm != t.Image().Comm {
			im := *t.Image()
			im.Comm = p.Comm
			im.Finish()
			t.SetImage(&im)
		}
		tb.setContainer(e, p.Cgroup)
	}
	if ev.Has&sysevent.HasCreds != 0 {
		t.Creds = tb.withNames(t, t.Creds, credsOf(p))
	}
	if ev.Has&sysevent.HasCwd != 0 && p.Cwd != "" {
		t.Cwd = withSlash(p.Cwd)
	}
	if ev.Has&sysevent.HasExe != 0 && ev.Type != sysevent.TypeProcExit {
		// An exec seen before the process: the image is the event's.
		im := &sysevent.Image{Comm: p.Comm, ExePath: p.ExePath, ExeIno: p.ExeIno,
			ExeCtime: p.ExeCtime, ExeMtime: p.ExeMtime, ExeUpperLayer: p.ExeUpperLayer, ExeFromMemfd: p.ExeFromMemfd}
		if len(ev.Argv) > 0 {
			im.Exe = ev.Argv[0]
			im.Args = append([]string(nil), ev.Argv[1:]...)
		}
		im.Finish()
		t.SetImage(im)
	}
	return e
}

func (tb *Table) setContainer(e *entry, cgroup string) {
	if cgroup == "" || cgroup == e.cgroup || tb.cfg.Containers == nil {
		return
	}
	e.cgroup = cgroup
	if c := tb.cfg.Containers(cgroup); c != nil {
		e.t.SetContainer(c)
	}
}

// zeroAddr is the unspecified address of an ip fd's family (an unbound
// local end).
func zeroAddr(t sysevent.FDType) netip.Addr {
	if t == sysevent.FDIPv6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// procExit handles the exit of a thread; the process is gone when its last
// thread is.
func (tb *Table) procExit(ev *sysevent.Event) {
	e := tb.get(int64(ev.PID))
	if e == nil {
		return
	}
	t := e.t
	ev.Thread = t
	e.lastSeen.Store(ev.Time)
	// The kernel says when the last thread of the group is gone; until
	// then (a thread, or a leader exiting before its threads) the process
	// lives on.
	if !ev.Proc.GroupDead {
		if t.Threads.Load() > 1 {
			t.Threads.Add(-1)
		}
		return
	}
	t.Threads.Store(0)
	t.SetExitTime(ev.Time)
	tb.markExited(e, tb.cfg.Now().UnixNano())
	t.Mu.Lock()
	t.FDs.Clear() // free the memory now; the entry lingers for ExitGrace
	t.Mu.Unlock()
}

// materialize creates the entry for a process first seen through one of
// its events: from /proc when allowed, else from the event alone.
func (tb *Table) materialize(ev *sysevent.Event) *entry {
	pid := int64(ev.PID)
	if ev.Has&sysevent.HasProc != 0 {
		return tb.insert(tb.newFromEvent(ev), false)
	}
	if t := tb.lookupOrLoad(pid, 0); t != nil {
		if e := tb.get(pid); e != nil {
			return e
		}
	}
	t := &sysevent.Thread{Pid: pid, VPid: pid}
	t.Threads.Store(1)
	t.Creds.LoginUID = sysevent.NoLoginUID
	e := &entry{t: t}
	e.lastSeen.Store(ev.Time)
	return tb.insert(e, false)
}

// lookupOrLoad returns the process pid, reading it (and, recursively, its
// missing ancestors) from /proc when it is not in the table.
func (tb *Table) lookupOrLoad(pid int64, depth int) *sysevent.Thread {
	if e := tb.get(pid); e != nil {
		return e.t
	}
	if tb.cfg.ProcRoot == "" || pid <= 0 || depth > sysevent.MaxAncestors {
		return nil
	}
	pr, err := readProc(tb.cfg.ProcRoot, pid, tb.cfg.MaxEnv)
	if err != nil {
		return nil
	}
	var parent *sysevent.Thread
	if pr.ppid > 0 && pr.ppid != pid {
		parent = tb.lookupOrLoad(pr.ppid, depth+1)
	}
	e := tb.entryFromProc(pr, parent, nil)
	tb.fromProc.Add(1)
	return tb.insert(e, false).t
}

// withNames returns c with its user and group names: old's when the ids
// are unchanged, else freshly resolved for t's process and container.
func (tb *Table) withNames(t *sysevent.Thread, old, c sysevent.Creds) sysevent.Creds {
	if tb.cfg.Users == nil {
		return c
	}
	if old.EUID == c.EUID && old.EGID == c.EGID && old.LoginUID == c.LoginUID && old.Names != (sysevent.UserNames{}) {
		c.Names = old.Names
		return c
	}
	c.Names = tb.cfg.Users.Names(t.Pid, t.Container(), &c)
	return c
}

func credsOf(p *sysevent.ProcInfo) sysevent.Creds {
	return sysevent.Creds{
		UID: p.UID, GID: p.GID, EUID: p.EUID, EGID: p.EGID, SUID: p.SUID, SGID: p.SGID,
		FSUID: p.FSUID, FSGID: p.FSGID, LoginUID: p.LoginUID,
		CapEffective: p.CapEffective, CapPermitted: p.CapPermitted, CapInheritable: p.CapInheritable,
	}
}

// splitPath returns the directory and base name of an absolute path as
// fd.directory and fd.filename report them ("/etc/passwd" → "/etc",
// "passwd"; "/etc" → "/", "etc").
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	switch {
	case i < 0:
		return "", p
	case i == 0:
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

func withSlash(p string) string {
	if strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

func commOf(path string) string {
	_, base := splitPath(path)
	if len(base) > 15 {
		base = base[:15]
	}
	return base
}

// StateTypes are the syscalls the table needs to see, whatever the rules
// ask for, to keep process and fd state right: a capture's in-kernel
// filter must let them through.
func StateTypes() []sysevent.Type {
	return []sysevent.Type{
		sysevent.SysExecve, sysevent.SysExecveat, sysevent.SysClone, sysevent.SysClone3,
		sysevent.SysFork, sysevent.SysVfork, sysevent.SysOpen, sysevent.SysOpenat,
		sysevent.SysOpenat2, sysevent.SysCreat, sysevent.SysClose, sysevent.SysDup,
		sysevent.SysDup2, sysevent.SysDup3, sysevent.SysSocket, sysevent.SysConnect,
		sysevent.SysAccept, sysevent.SysAccept4, sysevent.SysBind, sysevent.SysListen,
		sysevent.SysMemfdCreate, sysevent.SysChdir, sysevent.SysFchdir, sysevent.SysSetuid,
		sysevent.SysSetgid, sysevent.SysSetreuid, sysevent.SysSetregid, sysevent.SysSetresuid,
		sysevent.SysSetresgid, sysevent.SysSetfsuid, sysevent.SysSetfsgid, sysevent.SysCapset,
		sysevent.SysPrctl, sysevent.SysFcntl, sysevent.SysCloseRange,
	}
}
