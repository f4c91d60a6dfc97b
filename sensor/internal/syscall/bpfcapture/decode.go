package bpfcapture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/netip"
	"path"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Record layout: see bpf/harrier.h. The offsets are checked against the
// object's BTF by TestLayoutMatchesBTF.
const (
	hdrSize   = 96
	itemSize  = 4
	procSize  = 152
	tupleSize = 44

	recSyscall = 1
	recExec    = 2
	recFork    = 3
	recExit    = 4

	closeFDReused = 1 // CLOSE_FD_REUSED in rec_hdr.aux of a close

	itPath    = 1
	itBase    = 2
	itPath2   = 3
	itBase2   = 4
	itTarget  = 5
	itName    = 6
	itDevName = 7
	itFSType  = 8
	itArgv    = 9
	itEnv     = 10
	itSockAdr = 11
	itTuple   = 12
	itProc    = 13
	itExe     = 14
	itCwd     = 15
	itCgroup  = 16
	numItems  = 17

	ifTrunc = 1 // the value was cut at a size limit
	// (flag 2, IF_FAULT: user memory could not be read; the item is empty)
)

const (
	cloneVM    = 0x100
	cloneVfork = 0x4000
	sigchld    = 17
	oCreat     = 0o100
	oWronly    = 0o1
	oTrunc     = 0o1000
)

var le = binary.LittleEndian

// decoder turns records into events. It keeps a scratch buffer for
// joining paths and an interning table, so that the paths a workload uses
// again and again are not allocated again.
type decoder struct {
	bootOffset int64
	items      [numItems][]byte
	buf        []byte
	strs       interner
}

func newDecoder(bootOffset int64) *decoder {
	d := &decoder{bootOffset: bootOffset, buf: make([]byte, 0, 8192)}
	d.strs.seed = maphash.MakeSeed()
	return d
}

// decode fills ev (already reset) from one record.
func (d *decoder) decode(rec []byte, ev *sysevent.Event) error {
	if len(rec) < hdrSize {
		return fmt.Errorf("bpfcapture: record of %d bytes is shorter than its %d-byte header", len(rec), hdrSize)
	}
	n := int(le.Uint32(rec[92:]))
	if hdrSize+n > len(rec) {
		return fmt.Errorf("bpfcapture: record announces %d bytes of items, has %d", n, len(rec)-hdrSize)
	}
	for i := range d.items {
		d.items[i] = nil
	}
	for p := rec[hdrSize : hdrSize+n]; len(p) > 0; {
		if len(p) < itemSize {
			return fmt.Errorf("bpfcapture: truncated item header at offset %d", hdrSize+n-len(p))
		}
		l, id, fl := int(le.Uint16(p)), p[2], p[3]
		if itemSize+l > len(p) || id == 0 || int(id) >= numItems {
			return fmt.Errorf("bpfcapture: bad item (id %d, %d bytes) at offset %d", id, l, hdrSize+n-len(p))
		}
		d.items[id] = p[itemSize : itemSize+l : itemSize+l]
		if fl&ifTrunc != 0 {
			ev.Truncated = true
		}
		p = p[itemSize+l:]
	}

	ev.Time = int64(le.Uint64(rec[0:])) + d.bootOffset
	for i := range ev.Args {
		ev.Args[i] = le.Uint64(rec[8+8*i:])
	}
	ev.Ret = int64(le.Uint64(rec[56:]))
	aux, aux2 := le.Uint64(rec[64:]), le.Uint32(rec[72:])
	ev.TID = le.Uint32(rec[76:])
	ev.PID = le.Uint32(rec[80:])
	ev.Type = sysevent.Type(le.Uint16(rec[84:]))
	ev.CPU = le.Uint16(rec[86:])
	kind := rec[88]

	if p := d.items[itProc]; p != nil {
		if len(p) != procSize {
			return fmt.Errorf("bpfcapture: %s: process item of %d bytes, want %d", ev.Type, len(p), procSize)
		}
		d.proc(p, ev)
	}
	if p := d.items[itCwd]; p != nil {
		ev.Proc.Cwd = d.components(p, "")
		ev.Has |= sysevent.HasCwd
	}
	if p := d.items[itCgroup]; p != nil {
		ev.Proc.Cgroup = d.components(p, "")
	}

	switch kind {
	case recExec:
		ev.Path = d.components(d.items[itExe], "")
		ev.Proc.ExePath = ev.Path
		ev.Target = d.str(d.items[itTarget])
		ev.Argv = splitNUL(d.items[itArgv], nil)
		ev.Proc.Env = splitNUL(d.items[itEnv], nil)
		ev.Proc.ExeFromMemfd = ev.Proc.ExeNlink == 0 && len(ev.Path) > 7 && ev.Path[:7] == "/memfd:"
		if ev.Type == sysevent.SysExecveat {
			ev.FD = int64(int32(ev.Args[0]))
			ev.Flags = ev.Args[4]
		}
		return nil
	case recExit:
		ev.Proc.GroupDead = ev.Args[0] != 0
		return nil
	case recFork:
		ev.Flags = cloneFlags(ev.Type, ev.Args[0], aux)
		return nil
	case recSyscall:
	default:
		return fmt.Errorf("bpfcapture: unknown record kind %d", kind)
	}

	a := &ev.Args
	fd0 := int64(int32(a[0]))
	switch ev.Type {
	case sysevent.SysOpen, sysevent.SysCreat:
		d.paths(ev)
		if ev.Type == sysevent.SysCreat {
			ev.Flags, ev.Mode = oCreat|oWronly|oTrunc, uint32(a[1])
		} else {
			ev.Flags, ev.Mode = a[1], uint32(a[2])
		}
	case sysevent.SysOpenat:
		d.paths(ev)
		ev.FD, ev.Flags, ev.Mode = fd0, a[2], uint32(a[3])
	case sysevent.SysOpenat2:
		d.paths(ev)
		ev.FD, ev.Flags, ev.Mode = fd0, aux, aux2
	case sysevent.SysExecve, sysevent.SysExecveat: // failed: a successful exec is a recExec
		d.paths(ev)
		ev.Argv = splitNUL(d.items[itArgv], nil)
		if ev.Type == sysevent.SysExecveat {
			ev.FD, ev.Flags = fd0, a[4]
		}
	case sysevent.SysClone, sysevent.SysClone3, sysevent.SysFork, sysevent.SysVfork:
		ev.Flags = cloneFlags(ev.Type, a[0], aux)
	case sysevent.SysExit, sysevent.SysExitGroup:
	case sysevent.SysClose:
		ev.FD = fd0
		if aux&closeFDReused != 0 {
			ev.Flags = sysevent.CloseFDReused
		}
	case sysevent.SysDup, sysevent.SysDup2, sysevent.SysListen,
		sysevent.SysFchmod, sysevent.SysFchown, sysevent.SysFchdir:
		ev.FD = fd0
		switch ev.Type {
		case sysevent.SysFchmod:
			ev.Mode = uint32(a[1])
		case sysevent.SysFchown:
			ev.UID, ev.GID = uint32(a[1]), uint32(a[2])
		case sysevent.SysFchdir:
			ev.Path = ev.Proc.Cwd
		case sysevent.SysListen:
			d.tuple(ev, false)
		}
	case sysevent.SysDup3:
		ev.FD, ev.Flags = fd0, a[2]
	case sysevent.SysRead, sysevent.SysWrite, sysevent.SysPread64, sysevent.SysPwrite64,
		sysevent.SysReadv, sysevent.SysWritev, sysevent.SysFstat, sysevent.SysShutdown,
		sysevent.SysSendfile:
		// The fd the call works on (sendfile: out_fd), so that fd.*
		// describes it as libsinsp's fd argument does.
		ev.FD = fd0
	case sysevent.SysIoctl:
		ev.FD, ev.Request = fd0, int64(uint32(a[1]))
	case sysevent.SysRecvfrom, sysevent.SysRecvmsg:
		ev.FD = fd0
		d.tuple(ev, true)
	case sysevent.SysFcntl:
		ev.FD, ev.Request, ev.Flags = fd0, int64(int32(a[1])), a[2]
	case sysevent.SysCloseRange:
		ev.FD, ev.Flags = int64(uint32(a[0])), a[2]
	case sysevent.SysSocket:
		ev.Sock.Family, ev.Sock.Type, ev.Sock.Proto = uint16(a[0]), uint16(a[1]&0xf), uint16(a[2])
		ev.Flags = a[1] &^ 0xf
	case sysevent.SysConnect, sysevent.SysBind:
		ev.FD = fd0
		d.tuple(ev, false)
		if sa := d.items[itSockAdr]; sa != nil {
			ev.Sock = d.sockaddr(sa, ev.Sock)
		}
	case sysevent.SysAccept, sysevent.SysAccept4:
		ev.FD = fd0
		if ev.Type == sysevent.SysAccept4 {
			ev.Flags = a[3]
		}
		d.tuple(ev, true)
	case sysevent.SysSendto, sysevent.SysSendmsg:
		ev.FD = fd0
		if sa := d.items[itSockAdr]; sa != nil {
			ev.Sock = d.sockaddr(sa, ev.Sock)
		} else {
			d.tuple(ev, true)
		}
	case sysevent.SysSymlink, sysevent.SysSymlinkat:
		d.paths(ev)
		ev.Target = d.str(d.items[itTarget])
		if ev.Type == sysevent.SysSymlinkat {
			ev.FD = int64(int32(a[1]))
		}
	case sysevent.SysLink, sysevent.SysRename:
		d.paths(ev)
	case sysevent.SysLinkat, sysevent.SysRenameat, sysevent.SysRenameat2:
		d.paths(ev)
		ev.FD = fd0
		if ev.Type != sysevent.SysRenameat {
			ev.Flags = a[4]
		}
	case sysevent.SysUnlink, sysevent.SysRmdir, sysevent.SysChroot:
		d.paths(ev)
	case sysevent.SysUnlinkat:
		d.paths(ev)
		ev.FD, ev.Flags = fd0, a[2]
	case sysevent.SysMkdir, sysevent.SysChmod:
		d.paths(ev)
		ev.Mode = uint32(a[1])
	case sysevent.SysMkdirat, sysevent.SysFchmodat, sysevent.SysFchmodat2:
		d.paths(ev)
		ev.FD, ev.Mode = fd0, uint32(a[2])
		if ev.Type == sysevent.SysFchmodat2 {
			ev.Flags = a[3]
		}
	case sysevent.SysChown, sysevent.SysLchown:
		d.paths(ev)
		ev.UID, ev.GID = uint32(a[1]), uint32(a[2])
	case sysevent.SysFchownat:
		d.paths(ev)
		ev.FD, ev.UID, ev.GID, ev.Flags = fd0, uint32(a[2]), uint32(a[3]), a[4]
	case sysevent.SysSetuid, sysevent.SysSetfsuid:
		ev.UID = uint32(a[0])
	case sysevent.SysSetgid, sysevent.SysSetfsgid:
		ev.GID = uint32(a[0])
	case sysevent.SysSetreuid, sysevent.SysSetresuid:
		ev.UID = uint32(a[0])
	case sysevent.SysSetregid, sysevent.SysSetresgid:
		ev.GID = uint32(a[0])
	case sysevent.SysCapset:
	case sysevent.SysPtrace:
		ev.Request, ev.TargetPID = int64(a[0]), int64(int32(a[1]))
	case sysevent.SysMemfdCreate:
		ev.Name = d.str(d.items[itName])
		ev.Flags = a[1]
	case sysevent.SysInitModule:
		ev.Name = d.str(d.items[itName])
	case sysevent.SysFinitModule:
		ev.FD, ev.Name, ev.Flags = fd0, d.str(d.items[itName]), a[2]
	case sysevent.SysMount:
		d.paths(ev)
		ev.DevName = d.str(d.items[itDevName])
		ev.FSType = d.str(d.items[itFSType])
		ev.Flags = a[3]
	case sysevent.SysUmount2:
		d.paths(ev)
		ev.Flags = a[1]
	case sysevent.SysUnshare:
		ev.Flags = a[0]
	case sysevent.SysSetns:
		ev.FD, ev.Flags = fd0, a[1]
	case sysevent.SysChdir:
		if ev.Ret == 0 {
			ev.Path = ev.Proc.Cwd
		} else {
			d.paths(ev)
		}
	case sysevent.SysPrctl:
		ev.Request = int64(int32(a[0]))
	case sysevent.SysKill, sysevent.SysTkill:
		ev.TargetPID, ev.Signal = int64(int32(a[0])), int32(a[1])
	case sysevent.SysTgkill:
		ev.TargetPID, ev.Signal = int64(int32(a[1])), int32(a[2])
	case sysevent.SysBpf:
		ev.Request = int64(int32(a[0]))
	}
	return nil
}

// Covered are the syscalls whose arguments the capture decodes by meaning
// (see sysevent.Event); other syscalls of interest carry Args and Ret only.
var Covered = []sysevent.Type{
	sysevent.SysExecve, sysevent.SysExecveat, sysevent.SysClone, sysevent.SysClone3, sysevent.SysFork,
	sysevent.SysVfork, sysevent.SysExit, sysevent.SysExitGroup, sysevent.SysOpen, sysevent.SysOpenat,
	sysevent.SysOpenat2, sysevent.SysCreat, sysevent.SysClose, sysevent.SysDup, sysevent.SysDup2,
	sysevent.SysDup3, sysevent.SysSocket, sysevent.SysConnect, sysevent.SysAccept, sysevent.SysAccept4,
	sysevent.SysBind, sysevent.SysListen, sysevent.SysSendto, sysevent.SysSendmsg, sysevent.SysSymlink,
	sysevent.SysSymlinkat, sysevent.SysLink, sysevent.SysLinkat, sysevent.SysUnlink, sysevent.SysUnlinkat,
	sysevent.SysRename, sysevent.SysRenameat, sysevent.SysRenameat2, sysevent.SysMkdir, sysevent.SysMkdirat,
	sysevent.SysRmdir, sysevent.SysChmod, sysevent.SysFchmod, sysevent.SysFchmodat, sysevent.SysFchmodat2,
	sysevent.SysChown, sysevent.SysFchown, sysevent.SysLchown, sysevent.SysFchownat, sysevent.SysSetuid,
	sysevent.SysSetgid, sysevent.SysSetreuid, sysevent.SysSetregid, sysevent.SysSetresuid,
	sysevent.SysSetresgid, sysevent.SysSetfsuid, sysevent.SysSetfsgid, sysevent.SysCapset,
	sysevent.SysPtrace, sysevent.SysMemfdCreate, sysevent.SysInitModule, sysevent.SysFinitModule,
	sysevent.SysMount, sysevent.SysUmount2, sysevent.SysUnshare, sysevent.SysSetns, sysevent.SysChdir,
	sysevent.SysFchdir, sysevent.SysChroot, sysevent.SysPrctl, sysevent.SysKill, sysevent.SysTkill,
	sysevent.SysTgkill, sysevent.SysBpf, sysevent.SysFcntl, sysevent.SysCloseRange,
}

func cloneFlags(t sysevent.Type, arg0, aux uint64) uint64 {
	switch t {
	case sysevent.SysClone3:
		return aux
	case sysevent.SysFork:
		return sigchld
	case sysevent.SysVfork:
		return cloneVM | cloneVfork | sigchld
	}
	return arg0
}

// paths sets Target (the first path as passed), Path and Path2 (absolute).
func (d *decoder) paths(ev *sysevent.Event) {
	if p := d.items[itPath]; p != nil {
		ev.Target = d.str(p)
		if len(p) > 0 && p[0] == '/' && !needsClean(p) {
			ev.Path = ev.Target // absolute and clean already: one string
		} else {
			ev.Path = d.abs(d.items[itBase], p)
		}
	}
	if p := d.items[itPath2]; p != nil {
		ev.Path2 = d.abs(d.items[itBase2], p)
	}
}

// abs joins rel with the directory given as components (leaf first) and
// cleans the result lexically. An absolute rel is only cleaned.
func (d *decoder) abs(base, rel []byte) string {
	if len(rel) > 0 && rel[0] == '/' && !needsClean(rel) {
		return d.strs.bytes(rel) // the common case: nothing to join or clean
	}
	b := d.buf[:0]
	if len(rel) == 0 || rel[0] != '/' {
		b = appendComponents(b, base)
		b = append(b, '/')
	}
	b = append(b, rel...)
	d.buf = b
	if needsClean(b) {
		return d.strs.str(path.Clean(string(b)))
	}
	return d.strs.bytes(b)
}

// needsClean reports whether p has "//", "/./", "/../" or a trailing "/"
// or "/." or "/..", i.e. whether path.Clean would change it.
func needsClean(p []byte) bool {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return true
	}
	// fast path (vectorised searches): most paths have neither
	if !bytes.Contains(p, slashSlash) && !bytes.Contains(p, slashDot) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		if len(rest) > 0 && rest[0] == '/' {
			return true
		}
		if len(rest) > 0 && rest[0] == '.' {
			if len(rest) == 1 || rest[1] == '/' {
				return true
			}
			if rest[1] == '.' && (len(rest) == 2 || rest[2] == '/') {
				return true
			}
		}
	}
	return false
}

var slashSlash, slashDot = []byte("//"), []byte("/.")

// components renders a leaf-first NUL-terminated name list as an absolute
// path, with suffix appended.
func (d *decoder) components(p []byte, suffix string) string {
	b := appendComponents(d.buf[:0], p)
	if len(b) == 0 {
		b = append(b, '/')
	}
	b = append(b, suffix...)
	d.buf = b
	return d.strs.bytes(b)
}

func appendComponents(b, p []byte) []byte {
	end := len(p)
	if end > 0 && p[end-1] == 0 {
		end--
	}
	// Walk backwards over "leaf\0parent\0...root-child" to emit root first.
	for end > 0 {
		start := bytes.LastIndexByte(p[:end], 0) + 1
		b = append(b, '/')
		b = append(b, p[start:end]...)
		end = start - 1
	}
	return b
}

func (d *decoder) str(p []byte) string {
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return d.strs.bytes(p)
}

// splitNUL splits NUL-terminated strings; these slices are new for every
// event because the process table keeps them.
func splitNUL(p []byte, dst []string) []string {
	if len(p) == 0 {
		return dst
	}
	if p[len(p)-1] == 0 {
		p = p[:len(p)-1]
	}
	n := bytes.Count(p, []byte{0}) + 1
	if dst == nil {
		dst = make([]string, 0, n)
	}
	for len(p) > 0 || n > 0 {
		i := bytes.IndexByte(p, 0)
		if i < 0 {
			dst = append(dst, string(p))
			break
		}
		dst = append(dst, string(p[:i]))
		p = p[i+1:]
		n--
	}
	return dst
}

func (d *decoder) proc(p []byte, ev *sysevent.Event) {
	pi := &ev.Proc
	has := p[132]
	if has&1 != 0 {
		ev.Has |= sysevent.HasProc
		if sb := int64(le.Uint64(p[0:])); sb != 0 {
			pi.StartTime = sb + d.bootOffset
		}
		pi.PPID, pi.PTID, pi.OldTID = le.Uint32(p[56:]), le.Uint32(p[60:]), le.Uint32(p[64:])
		pi.VPID, pi.VTID = le.Uint32(p[68:]), le.Uint32(p[72:])
		pi.Sid, pi.Pgid = le.Uint32(p[76:]), le.Uint32(p[80:])
		if major, minor := le.Uint32(p[84:]), le.Uint32(p[88:]); major != 0 || minor != 0 {
			// the encoding of /proc/PID/stat's tty_nr
			pi.TTY = minor&0xff | major<<8 | (minor&^0xff)<<12
		}
		pi.Comm = d.str(p[136:152])
	}
	if has&2 != 0 {
		ev.Has |= sysevent.HasCreds
		pi.CapEffective, pi.CapPermitted, pi.CapInheritable = le.Uint64(p[8:]), le.Uint64(p[16:]), le.Uint64(p[24:])
		pi.UID, pi.GID, pi.EUID, pi.EGID = le.Uint32(p[92:]), le.Uint32(p[96:]), le.Uint32(p[100:]), le.Uint32(p[104:])
		pi.SUID, pi.SGID, pi.FSUID, pi.FSGID = le.Uint32(p[108:]), le.Uint32(p[112:]), le.Uint32(p[116:]), le.Uint32(p[120:])
		pi.LoginUID = le.Uint32(p[124:])
	}
	if has&4 != 0 {
		ev.Has |= sysevent.HasExe
		pi.ExeIno = le.Uint64(p[32:])
		pi.ExeCtime, pi.ExeMtime = int64(le.Uint64(p[40:])), int64(le.Uint64(p[48:]))
		pi.ExeNlink = le.Uint32(p[128:])
		pi.ExeUpperLayer = p[133] != 0
	}
	pi.GroupDead = p[134] != 0
}

// tuple decodes the socket's own addresses; peer says whether the remote
// end also goes into Sock (accept, sendto on a connected socket).
func (d *decoder) tuple(ev *sysevent.Event, peer bool) {
	p := d.items[itTuple]
	if len(p) != tupleSize {
		return
	}
	fam, typ, proto := le.Uint16(p[0:]), le.Uint16(p[2:]), le.Uint16(p[4:])
	ev.Local = sysevent.SockAddr{Family: fam, Type: typ, Proto: proto, Port: le.Uint16(p[6:])}
	ev.Sock.Family, ev.Sock.Type, ev.Sock.Proto = fam, typ, proto
	switch fam {
	case sysevent.AFInet:
		ev.Local.IP = netip.AddrFrom4([4]byte(p[12:16]))
		if peer {
			ev.Sock.IP, ev.Sock.Port = netip.AddrFrom4([4]byte(p[28:32])), le.Uint16(p[8:])
		}
	case sysevent.AFInet6:
		ev.Local.IP = netip.AddrFrom16([16]byte(p[12:28]))
		if peer {
			ev.Sock.IP, ev.Sock.Port = netip.AddrFrom16([16]byte(p[28:44])), le.Uint16(p[8:])
		}
	}
}

// sockaddr decodes a struct sockaddr from user memory; type and protocol
// come from the socket when known.
func (d *decoder) sockaddr(p []byte, from sysevent.SockAddr) sysevent.SockAddr {
	out := sysevent.SockAddr{Type: from.Type, Proto: from.Proto}
	if len(p) < 2 {
		return out
	}
	out.Family = le.Uint16(p)
	switch out.Family {
	case sysevent.AFInet:
		if len(p) >= 8 {
			out.Port = binary.BigEndian.Uint16(p[2:])
			out.IP = netip.AddrFrom4([4]byte(p[4:8]))
		}
	case sysevent.AFInet6:
		if len(p) >= 24 {
			out.Port = binary.BigEndian.Uint16(p[2:])
			out.IP = netip.AddrFrom16([16]byte(p[8:24]))
		}
	case sysevent.AFUnix:
		name := p[2:]
		if len(name) > 0 && name[0] == 0 {
			// abstract: "@name", NULs included up to the given length
			b := append(d.buf[:0], '@')
			b = append(b, name[1:]...)
			d.buf = b
			out.Path = d.strs.bytes(b)
		} else {
			out.Path = d.str(name)
		}
	}
	return out
}

// interner returns the same string for the same bytes when they were seen
// recently: a direct-mapped cache, so that hot paths (the files a workload
// opens again and again) cost no allocation.
type interner struct {
	seed maphash.Seed
	tab  [4096]string
}

func (in *interner) bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	slot := &in.tab[maphash.Bytes(in.seed, b)&uint64(len(in.tab)-1)]
	if *slot == string(b) {
		return *slot
	}
	*slot = string(b)
	return *slot
}

func (in *interner) str(s string) string {
	return in.bytes([]byte(s))
}
