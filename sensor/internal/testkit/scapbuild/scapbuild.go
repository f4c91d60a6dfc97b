// Package scapbuild writes scap capture files for tests, to libscap's
// published block format: no real .scap file can be fetched here.
package scapbuild

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
)

// Block types, magic and event codes (libscap's scap_savefile.h,
// driver/ppm_events_public.h).
const (
	BlockSHB        = 0x0A0D0D0A
	SHBMagic        = 0x1A2B3C4D
	BlockMI         = 0x201
	BlockPLv9       = 0x215
	BlockFDLv2      = 0x218
	BlockEVv2       = 0x216
	BlockEVFv2      = 0x217
	BlockEVv2Large  = 0x221
	BlockEVFv2Large = 0x222

	AFInet = 2

	EvOpenX      = 3
	EvCloseE     = 4
	EvCloseX     = 5
	EvConnectE   = 22
	EvConnectX   = 23
	EvProcExit1E = 186
	EvClone20E   = 222
	EvClone20X   = 223
	EvExecve19E  = 292
	EvExecve19X  = 293
	EvOpenat2E   = 306
	EvOpenat2X   = 307
)

// No real .scap file can be fetched here, so the tests build captures to
// libscap's published block format (falcosecurity/libs,
// userspace/libscap/scap_savefile.h for the block types and framing,
// engine/savefile/scap_savefile.c for the process list entry and the event
// block layouts, driver/ppm_events_public.h for the event codes and flag
// values, driver/event_table.c for each event's parameters): every block is
// u32 type, u32 total length, body padded to 4 bytes, u32 total length, in
// little-endian.

// Builder writes a scap capture.
type Builder struct{ bytes.Buffer }

func (b *Builder) Block(typ uint32, body []byte) *Builder {
	pad := (4 - len(body)%4) % 4
	total := uint32(8 + len(body) + pad + 4)
	b.Write(binary.LittleEndian.AppendUint32(nil, typ))
	b.Write(binary.LittleEndian.AppendUint32(nil, total))
	b.Write(body)
	b.Write(make([]byte, pad))
	b.Write(binary.LittleEndian.AppendUint32(nil, total))
	return b
}

// SHB is the section header: magic, version 1.2, section length -1.
func (b *Builder) SHB() *Builder {
	body := binary.LittleEndian.AppendUint32(nil, SHBMagic)
	body = binary.LittleEndian.AppendUint16(body, 1)
	body = binary.LittleEndian.AppendUint16(body, 2)
	body = binary.LittleEndian.AppendUint64(body, ^uint64(0))
	return b.Block(BlockSHB, body)
}

// MI is a machine info block (skipped by the reader, as any metadata it
// does not use).
func (b *Builder) MI() *Builder {
	body := binary.LittleEndian.AppendUint32(nil, 2)       // num_cpus
	body = binary.LittleEndian.AppendUint64(body, 1<<30)   // memory
	body = binary.LittleEndian.AppendUint64(body, 1<<20)   // max_event_size
	body = binary.LittleEndian.AppendUint64(body, 1000000) // boot_ts_epoch
	return b.Block(BlockMI, append(body, "harrier-test"...))
}

// Proc is one process list entry.
type Proc struct {
	TID, PID, PTID     uint64
	Comm, Exe, ExePath string
	Args               []string
	Cwd                string
	UID, GID           uint32
	Env                []string
	Cgroups            string
	LoginUID           uint32
}

func str16(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// PL is a version 9 process list block: each entry starts with its length.
func (b *Builder) PL(procs ...Proc) *Builder {
	var body []byte
	for _, p := range procs {
		e := binary.LittleEndian.AppendUint64(nil, p.TID)
		e = binary.LittleEndian.AppendUint64(e, p.PID)
		e = binary.LittleEndian.AppendUint64(e, p.PTID)
		e = binary.LittleEndian.AppendUint64(e, p.PID) // sid
		e = binary.LittleEndian.AppendUint64(e, p.PID) // vpgid
		e = str16(e, p.Comm)
		e = str16(e, p.Exe)
		e = str16(e, p.ExePath)
		e = str16(e, strings.Join(p.Args, "\x00"))
		e = str16(e, p.Cwd)
		e = binary.LittleEndian.AppendUint64(e, 1024) // fdlimit
		e = binary.LittleEndian.AppendUint32(e, 0)    // flags
		e = binary.LittleEndian.AppendUint32(e, p.UID)
		e = binary.LittleEndian.AppendUint32(e, p.GID)
		e = append(e, make([]byte, 3*4+2*8)...) // vm sizes, page faults
		e = str16(e, strings.Join(p.Env, "\x00"))
		e = binary.LittleEndian.AppendUint64(e, p.TID) // vtid
		e = binary.LittleEndian.AppendUint64(e, p.PID) // vpid
		e = str16(e, p.Cgroups)
		e = str16(e, "/")                          // root
		e = binary.LittleEndian.AppendUint64(e, 0) // pidns_init_start_ts
		e = binary.LittleEndian.AppendUint32(e, 0) // tty
		e = binary.LittleEndian.AppendUint32(e, p.LoginUID)
		e = append(e, 0)                   // exe_writable
		e = append(e, make([]byte, 24)...) // capabilities
		e = append(e, 0)                   // exe_upper_layer
		e = append(e, make([]byte, 24)...) // exe ino and times
		e = append(e, 0)                   // exe_from_memfd
		e = append(e, 0xAA, 0xBB)          // a field from a newer libscap: skipped by length
		body = binary.LittleEndian.AppendUint32(body, uint32(4+len(e)))
		body = append(body, e...)
	}
	return b.Block(BlockPLv9, body)
}

// Event appends an event block (EV v2, or EVF v2 with flags, or the LARGE
// kinds with u32 parameter lengths).
func (b *Builder) Event(kind uint32, ts, tid uint64, typ uint16, params ...[]byte) *Builder {
	body := binary.LittleEndian.AppendUint16(nil, 1) // cpu
	if kind == BlockEVFv2 || kind == BlockEVFv2Large {
		body = binary.LittleEndian.AppendUint32(body, 0)
	}
	large := kind == BlockEVv2Large || kind == BlockEVFv2Large
	lenSize := 2
	if large {
		lenSize = 4
	}
	evLen := 26 + len(params)*lenSize
	for _, p := range params {
		evLen += len(p)
	}
	body = binary.LittleEndian.AppendUint64(body, ts)
	body = binary.LittleEndian.AppendUint64(body, tid)
	body = binary.LittleEndian.AppendUint32(body, uint32(evLen))
	body = binary.LittleEndian.AppendUint16(body, typ)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(params)))
	for _, p := range params {
		if large {
			body = binary.LittleEndian.AppendUint32(body, uint32(len(p)))
		} else {
			body = binary.LittleEndian.AppendUint16(body, uint16(len(p)))
		}
	}
	for _, p := range params {
		body = append(body, p...)
	}
	return b.Block(kind, body)
}

// Parameter encoders, as the driver writes them.
func I64(v int64) []byte  { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
func U64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func U32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func Str(s string) []byte { return append([]byte(s), 0) }
func Buf(ss ...string) []byte {
	if len(ss) == 0 {
		return nil
	}
	return []byte(strings.Join(ss, "\x00") + "\x00")
}

// Tuple4 is an AF_INET socket tuple.
func Tuple4(src string, sport uint16, dst string, dport uint16) []byte {
	b := []byte{AFInet}
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b = append(b, s[:]...)
	b = binary.LittleEndian.AppendUint16(b, sport)
	b = append(b, d[:]...)
	return binary.LittleEndian.AppendUint16(b, dport)
}

const T0 = uint64(1_700_000_000_000_000_000)

// ExecveExit is PPME_SYSCALL_EXECVE_19_X's parameters (event_table.c):
// res, exe, args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min,
// vm_size, vm_rss, vm_swap, comm, cgroups, env, tty, pgid, loginuid, flags,
// cap_inheritable, cap_permitted, cap_effective, exe_ino, exe_ino_ctime,
// exe_ino_mtime, uid, trusted_exepath, pgid, gid.
func ExecveExit(pid, ptid uint64, exe string, args []string, cwd, comm, exepath string, uid uint32) [][]byte {
	return [][]byte{
		I64(0), Str(exe), Buf(args...), I64(int64(pid)), I64(int64(pid)), I64(int64(ptid)), Str(cwd),
		U64(1024), U64(0), U64(0), U32(0), U32(0), U32(0), Str(comm), Buf("cpuset=/user.slice", "memory=/user.slice"),
		Buf("HOME=/root", "PATH=/usr/bin"), U32(34816), I64(int64(pid)), U32(1000), U32(0),
		U64(0), U64(0), U64(0), U64(4242), U64(1), U64(2), U32(uid), Str(exepath), I64(int64(pid)), U32(uid),
	}
}

// CloneChild is PPME_SYSCALL_CLONE_20_X in the child (res 0): res, exe,
// args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size, vm_rss,
// vm_swap, comm, cgroups, flags, uid, gid, vtid, vpid.
func CloneChild(tid, ptid uint64, exe, cwd, comm string) [][]byte {
	return [][]byte{
		I64(0), Str(exe), Buf(), I64(int64(tid)), I64(int64(tid)), I64(int64(ptid)), Str(cwd),
		U64(1024), U64(0), U64(0), U32(0), U32(0), U32(0), Str(comm), Buf("0::/user.slice"),
		U32(0), U32(0), U32(0), I64(int64(tid)), I64(int64(tid)),
	}
}

// Scenario: bash (pid 100, from the process list) forks 200, which execs
// cat /etc/shadow, opens it read-only, connects to 10.1.2.3:443, closes
// the socket and exits.
func Scenario() *Builder {
	b := &Builder{}
	b.SHB().MI().PL(
		Proc{TID: 1, PID: 1, PTID: 0, Comm: "systemd", Exe: "/sbin/init", ExePath: "/usr/lib/systemd/systemd", Cwd: "/", LoginUID: ^uint32(0)},
		Proc{TID: 100, PID: 100, PTID: 1, Comm: "bash", Exe: "-bash", ExePath: "/usr/bin/bash", Cwd: "/root", UID: 0, Cgroups: "0::/user.slice", LoginUID: 1000},
		Proc{TID: 101, PID: 100, PTID: 1, Comm: "bash", Exe: "-bash", ExePath: "/usr/bin/bash", Cwd: "/root"},
	)
	b.Block(0x218, []byte{1, 2, 3, 4, 5, 6, 7, 8}) // an fd list: skipped
	b.Event(BlockEVv2, T0+1, 100, 222 /* CLONE_20_E */)
	b.Event(BlockEVv2, T0+2, 200, EvClone20X, CloneChild(200, 100, "-bash", "/root", "bash")...)
	b.Event(BlockEVFv2, T0+3, 200, EvExecve19E, Str("/usr/bin/cat"))
	b.Event(BlockEVFv2, T0+4, 200, EvExecve19X, ExecveExit(200, 100, "cat", []string{"shadow"}, "/etc", "cat", "/usr/bin/cat", 0)...)
	b.Event(BlockEVv2, T0+5, 200, EvOpenat2E, I64(-100), Str("shadow"), U32(1), U32(0))
	b.Event(BlockEVv2, T0+6, 200, EvOpenat2X, I64(3), I64(-100), Str("shadow"), U32(1<<0|1<<12), U32(0), U32(0), U64(0))
	b.Event(BlockEVv2, T0+7, 200, 297 /* bpf exit: an event Harrier skips */, I64(1))
	b.Event(BlockEVv2Large, T0+8, 200, EvConnectE, I64(4))
	b.Event(BlockEVv2Large, T0+9, 200, EvConnectX, I64(0), Tuple4("192.168.0.5", 40000, "10.1.2.3", 443), I64(4))
	b.Event(BlockEVv2, T0+10, 200, EvCloseE, I64(4))
	b.Event(BlockEVv2, T0+11, 200, EvCloseX, I64(0))
	b.Event(BlockEVv2, T0+12, 200, EvProcExit1E, I64(0), I64(0), []byte{0}, []byte{0}, I64(1))
	return b
}
