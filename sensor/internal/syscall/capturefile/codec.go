package capturefile

import (
	"sort"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// threadRec is a thread snapshot as stored: the Thread's state plus the
// ids of the snapshots it refers to.
type threadRec struct {
	id, parentID, containerID, imageID uint64
	std                                [3]uint64 // fd snapshot ids of fds 0, 1, 2 (proc.stdin.*, ...)
}

func encodeImage(e *enc, id uint64, im *sysevent.Image) {
	e.uv(id)
	e.str(im.Comm)
	e.str(im.Exe)
	e.str(im.ExePath)
	e.strs(im.Args)
	e.strs(im.Env)
	e.uv(im.ExeIno)
	e.sv(im.ExeCtime)
	e.sv(im.ExeMtime)
	e.u8(b2u(im.ExeUpperLayer) | b2u(im.ExeFromMemfd)<<1 | b2u(im.ExeWritable)<<2)
}

func decodeImage(d *dec) (uint64, *sysevent.Image) {
	id := d.uv()
	im := &sysevent.Image{}
	im.Comm, im.Exe, im.ExePath = d.str(), d.str(), d.str()
	im.Args, im.Env = d.strs(), d.strs()
	im.ExeIno = d.uv()
	im.ExeCtime, im.ExeMtime = d.sv(), d.sv()
	fl := d.u8()
	im.ExeUpperLayer, im.ExeFromMemfd, im.ExeWritable = fl&1 != 0, fl&2 != 0, fl&4 != 0
	im.Finish()
	return id, im
}

func encodeThread(e *enc, r threadRec, t *sysevent.Thread, cwd string, creds sysevent.Creds, tty uint32) {
	e.uv(r.id)
	e.uv(r.parentID)
	e.uv(r.containerID)
	e.sv(t.Pid)
	e.sv(t.VPid)
	e.sv(t.PPid())
	e.sv(t.Sid())
	e.sv(t.VPgid())
	e.sv(t.StartTime)
	e.sv(t.ExitTime())
	e.uv(uint64(tty))
	e.sv(int64(t.Threads.Load()))
	e.sv(int64(t.Children.Load()))
	e.boolean(t.FromProc)
	e.str(cwd)
	for _, v := range [...]uint32{creds.UID, creds.GID, creds.EUID, creds.EGID, creds.SUID, creds.SGID, creds.FSUID, creds.FSGID, creds.LoginUID} {
		e.uv(uint64(v))
	}
	e.uv(creds.CapEffective)
	e.uv(creds.CapPermitted)
	e.uv(creds.CapInheritable)
	n := &creds.Names
	for _, s := range [...]string{n.User, n.Home, n.Shell, n.Group, n.Login} {
		e.str(s)
	}
	e.uv(r.imageID)
	for _, id := range r.std {
		e.uv(id)
	}
}

// decodeThread rebuilds a Thread; resolve maps snapshot ids to the
// objects already read.
func decodeThread(d *dec, parentOf func(uint64) (*sysevent.Thread, bool), containerOf func(uint64) (*sysevent.Container, bool),
	imageOf func(uint64) (*sysevent.Image, bool), fdOf func(uint64) (*sysevent.FD, bool)) (uint64, *sysevent.Thread) {
	id := d.uv()
	parentID := d.uv()
	containerID := d.uv()
	t := &sysevent.Thread{}
	t.Pid = d.sv()
	t.VPid = d.sv()
	ppid := d.sv()
	sid, pgid := d.sv(), d.sv()
	t.StartTime = d.sv()
	if x := d.sv(); x != 0 {
		t.SetExitTime(x)
	}
	t.TTY = d.u32()
	t.Threads.Store(int32(d.sv()))
	t.Children.Store(int32(d.sv()))
	t.FromProc = d.boolean()
	t.Cwd = d.str()
	c := &t.Creds
	for _, p := range [...]*uint32{&c.UID, &c.GID, &c.EUID, &c.EGID, &c.SUID, &c.SGID, &c.FSUID, &c.FSGID, &c.LoginUID} {
		*p = d.u32()
	}
	c.CapEffective, c.CapPermitted, c.CapInheritable = d.uv(), d.uv(), d.uv()
	n := &c.Names
	n.User, n.Home, n.Shell, n.Group, n.Login = d.str(), d.str(), d.str(), d.str(), d.str()
	if imageID := d.uv(); imageID != 0 {
		im, ok := imageOf(imageID)
		if !ok {
			d.fail(errUnknownRef("image", imageID))
		}
		t.SetImage(im)
	}
	for i := 0; i < 3; i++ {
		if fdID := d.uv(); fdID != 0 {
			f, ok := fdOf(fdID)
			if !ok || f.Num != int64(i) {
				d.fail(errUnknownRef("standard fd", fdID))
				continue
			}
			t.FDs.Set(f)
		}
	}
	t.SetSession(sid, pgid)
	var parent *sysevent.Thread
	if parentID != 0 {
		p, ok := parentOf(parentID)
		if !ok {
			d.fail(errUnknownRef("parent thread", parentID))
		}
		parent = p
	}
	t.SetParent(parent, ppid)
	if containerID != 0 {
		ctr, ok := containerOf(containerID)
		if !ok {
			d.fail(errUnknownRef("container", containerID))
		}
		t.SetContainer(ctr)
	}
	return id, t
}

func encodeContainer(e *enc, id uint64, c *sysevent.Container) {
	e.uv(id)
	for _, s := range [...]string{c.ID, c.FullID, c.Type, c.Name, c.Image, c.ImageRepo, c.ImageTag, c.ImageID} {
		e.str(s)
	}
	switch {
	case c.Privileged == nil:
		e.u8(0)
	case *c.Privileged:
		e.u8(2)
	default:
		e.u8(1)
	}
	e.sv(c.StartTS)
	e.str(c.PodName)
	e.str(c.PodNamespace)
	e.str(c.PodUID)
	encodeMap(e, c.PodLabels)
	encodeMap(e, c.Labels)
}

func decodeContainer(d *dec) (uint64, *sysevent.Container) {
	id := d.uv()
	c := &sysevent.Container{}
	for _, p := range [...]*string{&c.ID, &c.FullID, &c.Type, &c.Name, &c.Image, &c.ImageRepo, &c.ImageTag, &c.ImageID} {
		*p = d.str()
	}
	switch d.u8() {
	case 1:
		f := false
		c.Privileged = &f
	case 2:
		t := true
		c.Privileged = &t
	}
	c.StartTS = d.sv()
	c.PodName, c.PodNamespace, c.PodUID = d.str(), d.str(), d.str()
	c.PodLabels = decodeMap(d)
	c.Labels = decodeMap(d)
	return id, c
}

func encodeMap(e *enc, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.uv(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func decodeMap(d *dec) map[string]string {
	n := d.uv()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > maxList || n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	m := make(map[string]string, n)
	for i := uint64(0); i < n; i++ {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func encodeFD(e *enc, id uint64, f *sysevent.FD) {
	e.uv(id)
	e.sv(f.Num)
	e.u8(uint8(f.Type))
	e.str(f.Name)
	e.str(f.NameRaw)
	e.str(f.Dir)
	e.str(f.Base)
	e.uv(uint64(f.OpenFlags))
	e.uv(uint64(f.Mode))
	e.uv(uint64(f.Dev))
	e.uv(f.Ino)
	e.u8(uint8(f.L4Proto))
	e.addr(f.ClientIP)
	e.addr(f.ServerIP)
	e.uv(uint64(f.ClientPort))
	e.uv(uint64(f.ServerPort))
	e.u8(b2u(f.IsServer) | b2u(f.Connected)<<1 | b2u(f.Listening)<<2)
	e.str(f.UnixPath)
	e.uv(f.ChangedBy)
}

func decodeFD(d *dec) (uint64, *sysevent.FD) {
	id := d.uv()
	f := &sysevent.FD{}
	f.Num = d.sv()
	f.Type = sysevent.FDType(d.u8())
	f.Name, f.NameRaw, f.Dir, f.Base = d.str(), d.str(), d.str(), d.str()
	f.OpenFlags, f.Mode, f.Dev = d.u32(), d.u32(), d.u32()
	f.Ino = d.uv()
	f.L4Proto = sysevent.L4Proto(d.u8())
	f.ClientIP, f.ServerIP = d.addr(), d.addr()
	f.ClientPort, f.ServerPort = d.u16(), d.u16()
	fl := d.u8()
	f.IsServer, f.Connected, f.Listening = fl&1 != 0, fl&2 != 0, fl&4 != 0
	f.UnixPath = d.str()
	f.ChangedBy = d.uv()
	if f.ClientIP.IsValid() {
		f.ClientAddr = f.ClientIP.String()
	}
	if f.ServerIP.IsValid() {
		f.ServerAddr = f.ServerIP.String()
	}
	return id, f
}

func encodeSock(e *enc, s *sysevent.SockAddr) {
	e.uv(uint64(s.Family))
	if s.Family == 0 {
		return
	}
	e.uv(uint64(s.Type))
	e.uv(uint64(s.Proto))
	e.addr(s.IP)
	e.uv(uint64(s.Port))
	e.str(s.Path)
}

func decodeSock(d *dec, s *sysevent.SockAddr) {
	s.Family = d.u16()
	if s.Family == 0 {
		return
	}
	s.Type, s.Proto = d.u16(), d.u16()
	s.IP = d.addr()
	s.Port = d.u16()
	s.Path = d.str()
}

func encodeEvent(e *enc, threadID, fdID uint64, ev *sysevent.Event) {
	e.uv(threadID)
	e.uv(fdID)
	e.uv(uint64(ev.Type))
	e.sv(ev.Time)
	e.uv(ev.Num)
	e.uv(uint64(ev.CPU))
	e.uv(uint64(ev.TID))
	e.uv(uint64(ev.PID))
	e.sv(ev.Ret)
	e.str(ev.Path)
	e.str(ev.Path2)
	e.str(ev.Target)
	e.str(ev.Name)
	e.uv(ev.Flags)
	e.uv(uint64(ev.Mode))
	e.sv(ev.FD)
	e.uv(uint64(ev.UID))
	e.uv(uint64(ev.GID))
	e.sv(ev.Request)
	e.sv(ev.TargetPID)
	e.sv(int64(ev.Signal))
	encodeSock(e, &ev.Sock)
	encodeSock(e, &ev.Local)
	e.str(ev.DevName)
	e.str(ev.FSType)
	e.strs(ev.Argv)
	for _, a := range ev.Args {
		e.uv(a)
	}
	e.u8(uint8(ev.Has))
	// Proc is present when any part is valid, and on exits (GroupDead).
	if ev.Has == 0 && !ev.Proc.GroupDead {
		e.u8(0)
		return
	}
	e.u8(1)
	p := &ev.Proc
	for _, v := range [...]uint32{p.PPID, p.PTID, p.OldTID, p.VPID, p.VTID, p.Sid, p.Pgid, p.TTY,
		p.UID, p.GID, p.EUID, p.EGID, p.SUID, p.SGID, p.FSUID, p.FSGID, p.LoginUID, p.ExeNlink} {
		e.uv(uint64(v))
	}
	e.sv(p.StartTime)
	e.uv(p.CapEffective)
	e.uv(p.CapPermitted)
	e.uv(p.CapInheritable)
	e.str(p.Comm)
	e.str(p.Cgroup)
	e.str(p.Cwd)
	e.str(p.ExePath)
	e.uv(p.ExeIno)
	e.sv(p.ExeCtime)
	e.sv(p.ExeMtime)
	e.u8(b2u(p.ExeUpperLayer) | b2u(p.ExeFromMemfd)<<1 | b2u(p.GroupDead)<<2)
	e.strs(p.Env)
}

func decodeEvent(d *dec, ev *sysevent.Event) (threadID, fdID uint64) {
	threadID, fdID = d.uv(), d.uv()
	ev.Type = sysevent.Type(d.u16())
	if int(ev.Type) >= sysevent.NumTypes {
		d.fail(errUnknownRef("event type", uint64(ev.Type)))
	}
	ev.Time = d.sv()
	ev.Num = d.uv()
	ev.CPU = d.u16()
	ev.TID, ev.PID = d.u32(), d.u32()
	ev.Ret = d.sv()
	ev.Path, ev.Path2, ev.Target, ev.Name = d.str(), d.str(), d.str(), d.str()
	ev.Flags = d.uv()
	ev.Mode = d.u32()
	ev.FD = d.sv()
	ev.UID, ev.GID = d.u32(), d.u32()
	ev.Request, ev.TargetPID = d.sv(), d.sv()
	ev.Signal = int32(d.sv())
	decodeSock(d, &ev.Sock)
	decodeSock(d, &ev.Local)
	ev.DevName, ev.FSType = d.str(), d.str()
	ev.Argv = d.strs()
	for i := range ev.Args {
		ev.Args[i] = d.uv()
	}
	ev.Has = sysevent.Has(d.u8())
	if d.u8() == 0 {
		return
	}
	p := &ev.Proc
	for _, v := range [...]*uint32{&p.PPID, &p.PTID, &p.OldTID, &p.VPID, &p.VTID, &p.Sid, &p.Pgid, &p.TTY,
		&p.UID, &p.GID, &p.EUID, &p.EGID, &p.SUID, &p.SGID, &p.FSUID, &p.FSGID, &p.LoginUID, &p.ExeNlink} {
		*v = d.u32()
	}
	p.StartTime = d.sv()
	p.CapEffective, p.CapPermitted, p.CapInheritable = d.uv(), d.uv(), d.uv()
	p.Comm, p.Cgroup, p.Cwd, p.ExePath = d.str(), d.str(), d.str(), d.str()
	p.ExeIno = d.uv()
	p.ExeCtime, p.ExeMtime = d.sv(), d.sv()
	fl := d.u8()
	p.ExeUpperLayer, p.ExeFromMemfd, p.GroupDead = fl&1 != 0, fl&2 != 0, fl&4 != 0
	p.Env = d.strs()
	return
}

type refError struct {
	what string
	id   uint64
}

func (e *refError) Error() string {
	return "reference to unknown " + e.what + " " + itoaU(e.id)
}

func errUnknownRef(what string, id uint64) error { return &refError{what, id} }

func itoaU(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
