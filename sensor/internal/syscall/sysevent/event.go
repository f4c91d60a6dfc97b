// Package sysevent is the decoded syscall event shared by the capture
// (package bpfcapture), the process and fd tables and field extraction.
//
// An Event is flat: arguments are stored by meaning in a fixed set of
// fields, so decoding fills a reused struct without allocating for the
// arguments it does not have, and extraction reads fields directly.
package sysevent

import (
	"net/netip"
	"strconv"
	"time"
)

// Event is one decoded syscall (or one of Harrier's non-syscall events, see
// Type). Events are reused by the capture: a consumer that needs something
// after it is done with an event copies what it needs (strings and the
// Argv/Env slices may be kept: they are never overwritten in place).
//
// Which argument fields are set, per Type (every syscall also has Args, the
// raw arguments, and Ret, the result or -errno):
//
//	execve, execveat  Path = the file as resolved at exec (proc.exepath, absolute,
//	                  on success) or the filename argument made absolute (on
//	                  failure); Target = filename exactly as passed; Argv; FD =
//	                  dirfd and Flags = flags (execveat). On success (Ret 0)
//	                  Proc is set (Has: HasProc|HasCreds|HasExe|HasCwd) and TID
//	                  is the thread after exec (a non-leader thread execing
//	                  becomes the leader: Proc.OldTID is the thread that called)
//	clone, clone3,    in the parent: Ret = child tid, Flags = clone flags (fork:
//	fork, vfork       SIGCHLD, vfork: CLONE_VM|CLONE_VFORK|SIGCHLD). In the child
//	                  (from sched_process_fork, emitted for every new thread
//	                  whether or not the syscall is of interest): Ret = 0, TID/PID
//	                  = the child, Proc set (HasProc|HasCreds|HasCwd), Proc.PTID
//	                  = the forking thread. Type and Flags are the forking
//	                  syscall's when it is of interest; otherwise Type is clone
//	                  and Flags 0 (a kernel thread's fork is also clone)
//	exit, exit_group  Args[0] = status (emitted on entry: they do not return)
//	procexit          Ret = exit code (wait status), Proc.GroupDead = last thread
//	open, openat,     Path (absolute), Target = path as passed, Flags, Mode, Ret
//	openat2, creat    = fd; FD = dirfd (openat/openat2). creat: Flags =
//	                  O_CREAT|O_WRONLY|O_TRUNC
//	close             FD; Flags = CloseFDReused when the number was open again
//	                  when the close returned (another thread's new fd)
//	dup, dup2, dup3   FD = oldfd, Ret = new fd (dup2/dup3: Args[1] = newfd),
//	                  Flags = flags (dup3)
//	fcntl             FD, Request = cmd, Flags = arg (F_DUPFD/F_DUPFD_CLOEXEC:
//	                  Ret = the new fd)
//	close_range       FD = first, Args[1] = last, Flags (CLOSE_RANGE_*)
//	socket            Sock.Family/Type/Proto = domain/type/protocol, Ret = fd
//	connect           FD; Sock = the address connected to; Local = the socket's
//	                  local address (ip sockets, when bound by then)
//	accept, accept4   FD = listening fd, Ret = new fd; Sock = the peer; Local =
//	                  the local address; Flags = flags (accept4)
//	bind              FD; Sock = the address bound
//	listen            FD; Args[1] = backlog
//	sendto, sendmsg   FD; Sock = the destination address when one was given
//	                  (unconnected sockets), else the socket's peer
//	symlink, symlinkat Target = the link's content exactly as given (evt.arg.target),
//	                  Path = linkpath made absolute; FD = newdirfd (symlinkat)
//	link, linkat      Path = oldpath, Path2 = newpath (absolute); FD = olddirfd,
//	                  Args[2] = newdirfd (linkat); Flags
//	unlink, unlinkat  Path (absolute); FD = dirfd, Flags (unlinkat)
//	rename, renameat, Path = oldpath, Path2 = newpath (absolute); FD = olddirfd;
//	renameat2         Flags (renameat2)
//	mkdir, mkdirat    Path (absolute), Mode; FD = dirfd (mkdirat)
//	rmdir             Path (absolute)
//	chmod, fchmod,    Path (absolute; fchmod: empty), Mode; FD = fd / dirfd;
//	fchmodat          Flags (fchmodat2 only)
//	chown, lchown,    Path (absolute; fchown: empty), UID = owner, GID = group
//	fchown, fchownat  (as passed, 0xffffffff = unchanged); FD; Flags (fchownat)
//	setuid, setgid,   UID / GID = the id argument (setre*/setres*: the ids are
//	setre*, setres*,  in Args); Proc credentials after the call (HasCreds)
//	setfs*
//	capset            Proc credentials and capabilities after the call (HasCreds)
//	ptrace            Request = request, TargetPID = pid
//	memfd_create      Name = name, Flags = flags, Ret = fd
//	init_module       Name = module parameters (uargs), Args[1] = image length
//	finit_module      FD = module fd, Name = parameters, Flags
//	mount             Path = target (absolute), DevName = source as given, FSType,
//	                  Flags
//	umount2           Path = target (absolute), Flags
//	unshare           Flags
//	setns             FD, Flags = nstype
//	chdir, fchdir     Path = the new working directory (absolute, read from the
//	                  kernel after the call; on failure: chdir's argument made
//	                  absolute); FD (fchdir)
//	chroot            Path = the directory (absolute)
//	prctl             Request = option, Args[1..4]
//	kill, tkill,      TargetPID = pid (tgkill: tid; Args[0] = tgid), Signal
//	tgkill
//	bpf               Request = cmd
//
// 32-bit (ia32) syscalls are translated: they carry the x86_64 Type of the
// same syscall and their arguments in the same places.
//
// Paths are made absolute in the kernel: a relative path is joined with the
// calling process's working directory, or with the directory its dirfd
// refers to, each read by walking dentries up to the root of the process's
// mount namespace; the join is normalised ("." and ".." removed lexically,
// without following symlinks, as libsinsp does).
type Event struct {
	Type Type
	Time int64  // wall clock, ns since the Unix epoch (evt.time)
	Num  uint64 // sequence number in capture order (evt.num), from 1
	CPU  uint16
	TID  uint32 // host thread id
	PID  uint32 // host thread-group id (the process)
	Ret  int64  // syscall result, -errno on failure

	Path   string // the file or directory operated on, absolute
	Path2  string // the second path (rename/link newpath)
	Target string // a path exactly as the caller passed it (symlink target, open path)
	Name   string // memfd name, module parameters

	Flags uint64
	Mode  uint32
	FD    int64 // fd argument: fd, oldfd, sockfd or dirfd (AT_FDCWD = -100)

	UID, GID  uint32 // id arguments: setuid/setgid, chown owner/group
	Request   int64  // ptrace request, prctl option, bpf cmd
	TargetPID int64  // ptrace/kill pid, tkill/tgkill tid
	Signal    int32  // kill signal

	Sock  SockAddr // socket triple (socket), address argument or remote end
	Local SockAddr // the local end of the socket, when read from the kernel

	DevName string // mount source
	FSType  string // mount filesystem type

	Argv []string // execve/execveat argument vector (bounded, see bpfcapture)

	Args [6]uint64 // raw syscall arguments

	// Truncated: a string argument was cut at the capture's size limits
	// (4096 bytes for a path, 4 KiB for argv and for env, 64 path
	// components).
	Truncated bool

	// Has says which parts of Proc were filled.
	Has  Has
	Proc ProcInfo

	// Thread is the calling process's state, set by the process table
	// before the event is evaluated.
	Thread *Thread
	// FDInfo is the file or socket the event concerns (the fd argument, or
	// the fd returned), set by the process table.
	FDInfo *FD
}

// EventTime is Time as a time.Time (the zero time when unset): alerts
// carry it (alertfmt.Timed).
func (e *Event) EventTime() time.Time {
	if e.Time == 0 {
		return time.Time{}
	}
	return time.Unix(0, e.Time)
}

// Source is the event source name for fields.Event.
func (e *Event) Source() string { return "syscall" }

// TypeID is the event type for fields.Event.
func (e *Event) TypeID() uint16 { return uint16(e.Type) }

// Failed reports whether the syscall failed (a negative result).
func (e *Event) Failed() bool { return e.Type.IsSyscall() && e.Ret < 0 }

// IsForkChild reports whether e is the child side of a clone/fork: the
// first event of a new thread, carrying its identity in Proc.
func (e *Event) IsForkChild() bool {
	switch e.Type {
	case SysClone, SysClone3, SysFork, SysVfork:
		return e.Ret == 0 && e.Has&HasProc != 0
	}
	return false
}

// AtExecveCheck is execveat's AT_EXECVE_CHECK flag (Linux 6.14+): check
// that the file may be executed, and return without an exec.
const AtExecveCheck = 0x10000

// IsExec reports whether e is a successful exec: the process runs a new
// image (an execveat with AT_EXECVE_CHECK also returns 0, and does not).
func (e *Event) IsExec() bool {
	switch e.Type {
	case SysExecve:
		return e.Ret == 0
	case SysExecveat:
		return e.Ret == 0 && e.Flags&AtExecveCheck == 0
	}
	return false
}

// CloseFDReused in a close's Flags: when the close returned, the number
// was open again (another thread's new fd, whose event came first), so
// the close must not forget that fd.
const CloseFDReused = 1

// Reset clears e for reuse. Argv and Proc.Env are dropped, not truncated:
// the process table keeps them.
func (e *Event) Reset() { *e = Event{} }

// Has is a set of flags saying which groups of ProcInfo are valid.
type Has uint8

const (
	HasProc  Has = 1 << iota // identity: PPID, PTID, VPID, Sid, Pgid, TTY, StartTime, Comm, Cgroup
	HasCreds                 // UID..FSGID, LoginUID, capabilities
	HasExe                   // ExePath, ExeIno, times, layer, memfd, Env
	HasCwd                   // Cwd
)

// ProcInfo are facts about the calling (or new) thread read by the kernel
// at exec, fork, exit and credential changes: the raw material that keeps
// the process table right without reading /proc for short-lived processes.
type ProcInfo struct {
	PPID   uint32 // parent's tgid (real parent)
	PTID   uint32 // fork child: the thread that forked it
	OldTID uint32 // execve by a non-leader thread: the thread that called
	VPID   uint32 // tgid in the process's own pid namespace
	VTID   uint32
	Sid    uint32 // session id (host)
	Pgid   uint32 // process group id (host)
	TTY    uint32 // controlling terminal, encoded as /proc/PID/stat's tty_nr; 0 if none

	StartTime int64 // ns since the epoch

	UID, GID, EUID, EGID, SUID, SGID, FSUID, FSGID uint32
	LoginUID                                       uint32 // NoLoginUID when unset

	CapEffective, CapPermitted, CapInheritable uint64

	Comm   string // task comm (at most 15 bytes)
	Cgroup string // the unified (v2) cgroup path, "/" for the root
	Cwd    string // absolute working directory

	ExePath       string // absolute path of the executable
	ExeIno        uint64
	ExeCtime      int64 // ns since the epoch
	ExeMtime      int64
	ExeNlink      uint32 // 0: the executable has no name left (deleted or memfd)
	ExeUpperLayer bool   // executable is on an overlayfs upper layer
	ExeFromMemfd  bool   // executable is a memfd (fileless execution)

	Env []string // environment, bounded like Argv

	GroupDead bool // procexit: the last thread of the group exited
}

// SockAddr is a socket address in decoded form.
type SockAddr struct {
	Family uint16 // AF_INET, AF_INET6, AF_UNIX, ... (0: none)
	Type   uint16 // socket(2) type without flags (SOCK_STREAM, ...), when known
	Proto  uint16 // protocol (IPPROTO_TCP, ...), when known
	IP     netip.Addr
	Port   uint16
	Path   string // AF_UNIX path; abstract names start with '@'
}

// Address families and socket types Harrier decodes.
const (
	AFUnix  = 1
	AFInet  = 2
	AFInet6 = 10

	SockStream = 1
	SockDgram  = 2
	SockRaw    = 3
)

// IsZero reports whether a carries no address.
func (a SockAddr) IsZero() bool { return a.Family == 0 }

// String renders the address as "ip:port", "[ip6]:port" or the unix path.
func (a SockAddr) String() string {
	switch a.Family {
	case AFInet, AFInet6:
		return netip.AddrPortFrom(a.IP, a.Port).String()
	case AFUnix:
		return a.Path
	case 0:
		return ""
	}
	return "family_" + strconv.Itoa(int(a.Family))
}

// AtFDCWD is the dirfd meaning "relative to the working directory".
const AtFDCWD = -100
