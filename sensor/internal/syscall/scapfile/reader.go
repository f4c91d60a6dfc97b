package scapfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"path"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Reader reads the events of a scap capture.
type Reader struct {
	br    blockReader
	table *proctable.Table
	// enter holds each thread's last enter event, for the parameters some
	// exit events leave to it (execve's filename, close's fd).
	enter map[uint64]*rawEvent
	cwd   map[uint32]string // per process, for relative paths
	pidOf map[uint64]uint32 // thread → process, for threads that are not leaders
	num   uint64
	// Skipped counts events of kinds Harrier does not decode.
	Skipped int
	// Procs counts the processes of the process list blocks.
	Procs int
	queue []*sysevent.Event
}

// NewReader reads the section header of r (plain or gzip-compressed) and
// prepares to read its events.
func NewReader(r io.Reader) (*Reader, error) {
	bufr := bufio.NewReaderSize(r, 64<<10)
	if head, _ := bufr.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(bufr)
		if err != nil {
			return nil, fmt.Errorf("scap file: gzip: %w", err)
		}
		bufr = bufio.NewReaderSize(zr, 64<<10)
	}
	rd := &Reader{
		br:    blockReader{r: bufr},
		table: proctable.New(proctable.Config{}), // no /proc: this is another time, maybe another host
		enter: map[uint64]*rawEvent{},
		cwd:   map[uint32]string{},
		pidOf: map[uint64]uint32{},
	}
	if head, _ := bufr.Peek(12); !isSHB(head) {
		return nil, errNotScap
	}
	b, err := rd.br.next()
	if err != nil {
		return nil, err
	}
	if b.typ != blockSHB {
		return nil, errNotScap
	}
	c := cursor{b: b.body}
	magic, major, minor := c.u32(), c.u16(), c.u16()
	if c.bad || magic != shbMagic {
		return nil, &Error{Offset: b.off, Block: b.typ, Msg: "not little-endian libscap (byte-order magic)"}
	}
	if major != 1 {
		return nil, &Error{Offset: b.off, Block: b.typ, Msg: fmt.Sprintf("format version %d.%d (this reader knows 1.x)", major, minor)}
	}
	return rd, nil
}

// Next returns the next decoded event, io.EOF at the end. Its Thread and
// FDInfo are set, as the process table sets them for live events.
func (rd *Reader) Next() (*sysevent.Event, error) {
	for len(rd.queue) == 0 {
		b, err := rd.br.next()
		if err != nil {
			return nil, err
		}
		if err := rd.block(b); err != nil {
			return nil, err
		}
	}
	ev := rd.queue[0]
	rd.queue = rd.queue[1:]
	return ev, nil
}

func (rd *Reader) block(b *block) error {
	switch b.typ {
	case blockSHB:
		// A new section (merged captures): its own process list follows.
		return nil
	case blockPLv1, blockPLv1Int, blockPLv2, blockPLv2Int, blockPLv3, blockPLv3Int,
		blockPLv4, blockPLv5, blockPLv6, blockPLv7, blockPLv8, blockPLv9:
		return rd.procList(b)
	case blockEVv2, blockEVv2Large, blockEVFv2, blockEVFv2Lg:
		raw, err := parseEvent(b)
		if err != nil {
			return err
		}
		rd.event(raw)
		return nil
	case blockEV, blockEVInt, blockEVF:
		// Version-1 event blocks lack the parameter count; libscap derives
		// it from its event table. Such captures predate the event
		// versions Harrier decodes.
		rd.Skipped++
		return nil
	}
	// Machine info, fd, interface and user lists, unknown blocks: skipped,
	// as libscap skips blocks it does not know.
	return nil
}

// procList reads a process list block and seeds the table with its
// processes, as if each had just been exec'd (not emitted as events).
func (rd *Reader) procList(b *block) error {
	c := cursor{b: b.body}
	v9 := b.typ == blockPLv9
	ver := plVersion(b.typ)
	for len(c.b) >= 4 && !c.bad {
		start := len(c.b)
		var subLen uint32
		if v9 {
			subLen = c.u32()
		}
		tid, pid, ptid := c.u64(), c.u64(), c.u64()
		var sid, vpgid uint64
		if ver >= 6 {
			sid = c.u64()
		}
		if ver >= 8 {
			vpgid = c.u64()
		}
		comm, exe := c.str16(), c.str16()
		exepath := ""
		if ver >= 7 {
			exepath = c.str16()
		}
		args, cwd := c.str16(), c.str16()
		_ = c.u64() // fdlimit
		_ = c.u32() // flags
		uid, gid := c.u32(), c.u32()
		var env, cgroups string
		var vtid, vpid uint64
		if ver >= 2 {
			c.take(3*4 + 2*8) // vm sizes, page faults
		}
		if ver >= 3 {
			env = c.str16()
		}
		if ver >= 4 {
			vtid, vpid = c.u64(), c.u64()
			cgroups = c.str16()
			if ver >= 5 {
				_ = c.str16() // root
			}
		}
		p := sysevent.ProcInfo{
			PPID: uint32(ptid), VPID: uint32(vpid), VTID: uint32(vtid), Sid: uint32(sid), Pgid: uint32(vpgid),
			Comm: comm, Cwd: cwd, ExePath: exepath, UID: uid, GID: gid, EUID: uid, EGID: gid, FSUID: uid, FSGID: gid,
			SUID: uid, SGID: gid, LoginUID: sysevent.NoLoginUID, Cgroup: cgroupPath(cgroups), Env: splitNul(env),
		}
		has := sysevent.HasProc | sysevent.HasExe | sysevent.HasCwd | sysevent.HasCreds
		if v9 && subLen > 0 {
			read := func() int { return start - len(c.b) }
			fits := func(n int) bool { return read()+n <= int(subLen) }
			// Captures from libs 0.10 and later put two fields here.
			if int(subLen)-read() > 29 {
				if fits(8) {
					_ = c.u64() // pidns_init_start_ts
				}
				if fits(4) {
					p.TTY = c.u32()
				}
			}
			if fits(4) {
				p.LoginUID = c.u32()
			}
			if fits(1) {
				_ = c.u8() // exe_writable
			}
			if fits(24) {
				p.CapInheritable, p.CapPermitted, p.CapEffective = c.u64(), c.u64(), c.u64()
			}
			if fits(1) {
				p.ExeUpperLayer = c.u8() != 0
			}
			if fits(24) {
				p.ExeIno, p.ExeCtime, p.ExeMtime = c.u64(), int64(c.u64()), int64(c.u64())
			}
			if fits(1) {
				p.ExeFromMemfd = c.u8() != 0
			}
			if r := read(); r < int(subLen) {
				c.take(int(subLen) - r)
			} else if r > int(subLen) {
				return &Error{Offset: b.off, Block: b.typ, Msg: fmt.Sprintf("process entry longer (%d) than its length (%d)", r, subLen)}
			}
		}
		if c.bad {
			return &Error{Offset: b.off, Block: b.typ, Msg: "truncated process entry"}
		}
		rd.Procs++
		if p.ExePath == "" {
			p.ExePath = exe
		}
		rd.cwd[uint32(pid)] = cwd
		rd.pidOf[tid] = uint32(pid)
		if tid != pid {
			continue // a thread of a process listed by its leader
		}
		argv := append([]string{exe}, splitNul(args)...)
		rd.table.Apply(&sysevent.Event{Type: sysevent.SysExecve, TID: uint32(tid), PID: uint32(pid), Argv: argv, Has: has, Proc: p, Path: p.ExePath})
	}
	return nil
}

func plVersion(t uint32) int {
	switch t {
	case blockPLv1, blockPLv1Int:
		return 1
	case blockPLv2, blockPLv2Int:
		return 2
	case blockPLv3, blockPLv3Int:
		return 3
	}
	return int(t-blockPLv4) + 4
}

// rawEvent is an event as stored: header and parameters.
type rawEvent struct {
	ts, tid uint64
	cpu     uint16
	typ     uint16
	params  [][]byte
}

func parseEvent(b *block) (*rawEvent, error) {
	c := cursor{b: b.body}
	ev := &rawEvent{cpu: c.u16()}
	if b.typ == blockEVFv2 || b.typ == blockEVFv2Lg {
		_ = c.u32() // flags
	}
	ev.ts, ev.tid = c.u64(), c.u64()
	evLen := c.u32()
	ev.typ = c.u16()
	n := c.u32()
	if c.bad {
		return nil, &Error{Offset: b.off, Block: b.typ, Msg: "truncated event header"}
	}
	large := b.typ == blockEVv2Large || b.typ == blockEVFv2Lg
	lenSize := 2
	if large {
		lenSize = 4
	}
	if int64(n)*int64(lenSize) > int64(len(c.b)) {
		return nil, &Error{Offset: b.off, Block: b.typ, Msg: fmt.Sprintf("%d parameters do not fit the block", n)}
	}
	const hdrLen = 26
	lens := make([]int, n)
	total := hdrLen + int(n)*lenSize
	for i := range lens {
		if large {
			lens[i] = int(c.u32())
		} else {
			lens[i] = int(c.u16())
		}
		total += lens[i]
	}
	if uint32(total) != evLen {
		return nil, &Error{Offset: b.off, Block: b.typ, Msg: fmt.Sprintf("event length %d, parameters add up to %d", evLen, total)}
	}
	ev.params = make([][]byte, n)
	for i, l := range lens {
		ev.params[i] = c.take(l)
	}
	if c.bad {
		return nil, &Error{Offset: b.off, Block: b.typ, Msg: "parameters run past the block"}
	}
	return ev, nil
}

func (e *rawEvent) has(i int) bool { return i < len(e.params) }

func (e *rawEvent) i64(i int) int64 {
	if !e.has(i) {
		return 0
	}
	p := e.params[i]
	switch len(p) {
	case 8:
		return int64(binary.LittleEndian.Uint64(p))
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(p)))
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(p)))
	case 1:
		return int64(int8(p[0]))
	}
	return 0
}

func (e *rawEvent) u64(i int) uint64 {
	if !e.has(i) {
		return 0
	}
	p := e.params[i]
	switch len(p) {
	case 8:
		return binary.LittleEndian.Uint64(p)
	case 4:
		return uint64(binary.LittleEndian.Uint32(p))
	case 2:
		return uint64(binary.LittleEndian.Uint16(p))
	case 1:
		return uint64(p[0])
	}
	return 0
}

// str is a CHARBUF/FSPATH parameter: NUL-terminated on file.
func (e *rawEvent) str(i int) string {
	if !e.has(i) {
		return ""
	}
	s, _, _ := strings.Cut(string(e.params[i]), "\x00")
	return s
}

func (e *rawEvent) bytes(i int) []byte {
	if !e.has(i) {
		return nil
	}
	return e.params[i]
}

// libsinsp event codes (driver/ppm_events_public.h) of the events decoded.
const (
	evOpenE        = 2
	evOpenX        = 3
	evCloseE       = 4
	evCloseX       = 5
	evConnectE     = 22
	evConnectX     = 23
	evCreatE       = 58
	evCreatX       = 59
	evOpenatE      = 102
	evOpenatX      = 103
	evProcExit1E   = 186
	evSetuidE      = 198
	evSetuidX      = 199
	evClone20X     = 223
	evFork20X      = 225
	evVfork20X     = 227
	evExecve19E    = 292
	evExecve19X    = 293
	evUnlink2X     = 301
	evUnlinkat2X   = 303
	evOpenat2E     = 306
	evOpenat2X     = 307
	evFchmodatX    = 313
	evChmodX       = 315
	evFchmodX      = 317
	atFDCWD        = -100
	ppmAFUnix      = 1
	ppmAFInet      = 2
	ppmAFInet6     = 10
	enterEventMask = 1 // enter events have even codes
)

// event decodes one stored event, keeping enter events for their exits.
func (rd *Reader) event(e *rawEvent) {
	if e.typ&enterEventMask == 0 && e.typ != evProcExit1E {
		rd.enter[e.tid] = e
		return
	}
	enter := rd.enter[e.tid]
	delete(rd.enter, e.tid)
	if enter != nil && enter.typ != e.typ-1 {
		enter = nil
	}
	ev := &sysevent.Event{Time: int64(e.ts), CPU: e.cpu, TID: uint32(e.tid)}
	ev.PID = uint32(e.tid)
	if pid, ok := rd.pidOf[e.tid]; ok {
		ev.PID = pid
	}
	switch e.typ {
	case evOpenX, evCreatX:
		ev.Type = sysevent.SysOpen
		if e.typ == evCreatX {
			ev.Type = sysevent.SysCreat
		}
		ev.Ret = e.i64(0)
		ev.Target = e.str(1)
		ev.Flags = linuxOpenFlags(uint32(e.u64(2)))
		ev.Mode = uint32(e.u64(3))
		ev.FD = atFDCWD
	case evOpenat2X, evOpenatX:
		ev.Type = sysevent.SysOpenat
		ev.Ret = e.i64(0)
		src := e
		if e.typ == evOpenatX { // the old exit carries only the fd
			if enter == nil {
				rd.Skipped++
				return
			}
			src = &rawEvent{params: append([][]byte{nil}, enter.params...)}
		}
		ev.FD = src.i64(1)
		ev.Target = src.str(2)
		ev.Flags = linuxOpenFlags(uint32(src.u64(3)))
		ev.Mode = uint32(src.u64(4))
	case evCloseX:
		ev.Type = sysevent.SysClose
		ev.Ret = e.i64(0)
		if enter == nil {
			rd.Skipped++
			return
		}
		ev.FD = enter.i64(0)
	case evConnectX:
		ev.Type = sysevent.SysConnect
		ev.Ret = e.i64(0)
		ev.Local, ev.Sock = tuple(e.bytes(1))
		switch {
		case e.has(2):
			ev.FD = e.i64(2)
		case enter != nil:
			ev.FD = enter.i64(0)
		}
	case evExecve19X:
		ev.Type = sysevent.SysExecve
		ev.Ret = e.i64(0)
		if enter != nil {
			ev.Target = enter.str(0)
		}
		if ev.Ret == 0 {
			ev.PID = uint32(e.u64(4))
			rd.procFields(ev, e, true)
		}
	case evClone20X, evFork20X, evVfork20X:
		ev.Type = map[uint16]sysevent.Type{evClone20X: sysevent.SysClone, evFork20X: sysevent.SysFork, evVfork20X: sysevent.SysVfork}[e.typ]
		ev.Ret = e.i64(0)
		ev.PID = uint32(e.u64(4))
		if ev.Ret == 0 {
			rd.procFields(ev, e, false)
		}
	case evProcExit1E:
		ev.Type = sysevent.TypeProcExit
		ev.Ret = e.i64(0)
	case evChmodX:
		ev.Type = sysevent.SysChmod
		ev.Ret = e.i64(0)
		ev.Target = e.str(1)
		ev.Mode = uint32(e.u64(2))
		ev.FD = atFDCWD
	case evFchmodatX:
		ev.Type = sysevent.SysFchmodat
		ev.Ret = e.i64(0)
		ev.FD = e.i64(1)
		ev.Target = e.str(2)
		ev.Mode = uint32(e.u64(3))
	case evFchmodX:
		ev.Type = sysevent.SysFchmod
		ev.Ret = e.i64(0)
		ev.FD = e.i64(1)
		ev.Mode = uint32(e.u64(2))
	case evUnlink2X:
		ev.Type = sysevent.SysUnlink
		ev.Ret = e.i64(0)
		ev.Target = e.str(1)
		ev.FD = atFDCWD
	case evUnlinkat2X:
		ev.Type = sysevent.SysUnlinkat
		ev.Ret = e.i64(0)
		ev.FD = e.i64(1)
		ev.Target = e.str(2)
		ev.Flags = e.u64(3)
	case evSetuidX:
		ev.Type = sysevent.SysSetuid
		ev.Ret = e.i64(0)
		if enter != nil {
			ev.UID = uint32(enter.u64(0))
		}
	default:
		rd.Skipped++
		return
	}
	if ev.Target != "" && ev.Path == "" {
		ev.Path = rd.absolute(ev.PID, ev.FD, ev.Target)
	}
	rd.num++
	ev.Num = rd.num
	rd.table.Apply(ev)
	if ev.Type == sysevent.SysExecve && ev.Ret == 0 || ev.IsForkChild() {
		rd.cwd[ev.PID] = ev.Proc.Cwd
		rd.pidOf[e.tid] = ev.PID
	}
	if ev.Type == sysevent.TypeProcExit {
		delete(rd.pidOf, e.tid)
	}
	rd.queue = append(rd.queue, ev)
}

// procFields fills Proc from the process parameters execve and clone exits
// share: exe, args, tid, pid, ptid, cwd, ..., comm, cgroups, and then, for
// execve, env, tty, pgid, loginuid, flags, capabilities, exe inode and times,
// uid, trusted exepath; for clone, flags, uid, gid, vtid, vpid.
func (rd *Reader) procFields(ev *sysevent.Event, e *rawEvent, exec bool) {
	p := &ev.Proc
	ev.Argv = append([]string{e.str(1)}, splitNul(string(e.bytes(2)))...)
	p.PPID = uint32(e.u64(5))
	p.Cwd = e.str(6)
	p.Comm = e.str(13)
	p.Cgroup = cgroupPath(string(e.bytes(14)))
	ev.Has = sysevent.HasProc | sysevent.HasCwd
	if !exec {
		p.PTID = uint32(e.u64(5))
		if e.has(17) {
			uid, gid := uint32(e.u64(16)), uint32(e.u64(17))
			p.UID, p.EUID, p.SUID, p.FSUID, p.GID, p.EGID, p.SGID, p.FSGID = uid, uid, uid, uid, gid, gid, gid, gid
			p.LoginUID = sysevent.NoLoginUID
			ev.Has |= sysevent.HasCreds
		}
		if e.has(19) {
			p.VTID, p.VPID = uint32(e.u64(18)), uint32(e.u64(19))
		}
		return
	}
	ev.Has |= sysevent.HasExe
	p.Env = splitNul(string(e.bytes(15)))
	p.TTY = uint32(e.u64(16))
	p.Pgid = uint32(e.u64(17))
	p.LoginUID = uint32(e.u64(18))
	if !e.has(18) {
		p.LoginUID = sysevent.NoLoginUID
	}
	if e.has(22) {
		p.CapInheritable, p.CapPermitted, p.CapEffective = e.u64(20), e.u64(21), e.u64(22)
	}
	if e.has(25) {
		p.ExeIno, p.ExeCtime, p.ExeMtime = e.u64(23), int64(e.u64(24)), int64(e.u64(25))
	}
	if e.has(26) {
		uid := uint32(e.u64(26))
		p.UID, p.EUID, p.SUID, p.FSUID = uid, uid, uid, uid
		gid := uint32(e.u64(29))
		p.GID, p.EGID, p.SGID, p.FSGID = gid, gid, gid, gid
		ev.Has |= sysevent.HasCreds
	}
	p.ExePath = e.str(27)
	if p.ExePath == "" {
		p.ExePath = rd.absolute(ev.PID, atFDCWD, ev.Target)
	}
	ev.Path = p.ExePath
}

// absolute resolves p as the kernel did for the process (relative to its
// working directory when dirfd is AT_FDCWD).
func (rd *Reader) absolute(pid uint32, dirfd int64, p string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	if dirfd != atFDCWD {
		return "" // relative to an fd the capture may not describe
	}
	cwd := rd.cwd[pid]
	if cwd == "" {
		return ""
	}
	return path.Join(cwd, p)
}

// linuxOpenFlags converts libsinsp's PPM_O_* flags to open(2)'s.
func linuxOpenFlags(f uint32) uint64 {
	var out uint64
	switch f & 3 {
	case 2: // PPM_O_WRONLY
		out |= 1
	case 3: // PPM_O_RDWR
		out |= 2
	}
	for _, m := range [...]struct {
		ppm   uint32
		linux uint64
	}{
		{1 << 2, 0o100}, {1 << 3, 0o2000}, {1 << 4, 0o10000}, {1 << 5, 0o200}, {1 << 6, 0o4000},
		{1 << 7, 0o4010000}, {1 << 8, 0o1000}, {1 << 9, 0o40000}, {1 << 10, 0o200000},
		{1 << 11, 0o100000}, {1 << 12, 0o2000000}, {1 << 13, 0o20200000},
	} {
		if f&m.ppm != 0 {
			out |= m.linux
		}
	}
	return out
}

// tuple decodes a SOCKTUPLE parameter: u8 family, then for AF_INET u32
// source address, u16 source port, u32 destination address, u16 destination
// port (AF_INET6: 16-byte addresses); AF_UNIX: two u64 kernel pointers and
// the path.
func tuple(b []byte) (local, remote sysevent.SockAddr) {
	c := cursor{b: b}
	fam := c.u8()
	switch fam {
	case ppmAFInet:
		sa, sp, da, dp := c.take(4), c.u16(), c.take(4), c.u16()
		if c.bad {
			return
		}
		local = sysevent.SockAddr{Family: 2, IP: netip.AddrFrom4([4]byte(sa)), Port: sp}
		remote = sysevent.SockAddr{Family: 2, IP: netip.AddrFrom4([4]byte(da)), Port: dp}
	case ppmAFInet6:
		sa, sp, da, dp := c.take(16), c.u16(), c.take(16), c.u16()
		if c.bad {
			return
		}
		local = sysevent.SockAddr{Family: 10, IP: netip.AddrFrom16([16]byte(sa)).Unmap(), Port: sp}
		remote = sysevent.SockAddr{Family: 10, IP: netip.AddrFrom16([16]byte(da)).Unmap(), Port: dp}
	case ppmAFUnix:
		c.take(16)
		p, _, _ := bytes.Cut(c.b, []byte{0})
		local = sysevent.SockAddr{Family: 1}
		remote = sysevent.SockAddr{Family: 1, Path: string(p)}
	}
	return
}

// cgroupPath picks the process's cgroup path from libscap's list of
// "controller=path" entries (NUL-separated): the unified hierarchy's when
// present, else the first.
func cgroupPath(s string) string {
	first := ""
	for _, kv := range splitNul(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if k == "" || k == "0:" || strings.HasPrefix(k, "0:") {
			return v
		}
		if first == "" {
			first = v
		}
	}
	return first
}

func splitNul(s string) []string {
	s = strings.TrimRight(s, "\x00")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}
