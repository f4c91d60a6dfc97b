package sysevent

import (
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
)

// Concurrency model (see also package proctable). The state types here are
// written by the process table; field extraction and capture files read them.
//
// Events are sharded by thread-group id across evaluation workers, so a
// process's Thread is written by exactly one goroutine at a time: the worker
// that owns its tgid (its "owner"). The owner reads its own Thread without
// locks. Other goroutines reach a Thread only as an ancestor (proc.pname,
// proc.aname[N], ...) or when copying a parent's state into a forked child.
// What they may read is therefore either
//   - immutable: the *Image published with an atomic pointer on exec, and
//     *FD values, which are never changed after publication (a change such
//     as connect replaces the *FD), or
//   - atomic: the parent link, ppid, session and group, exit time,
//     container, thread and child counts, or
//   - guarded by Thread.Mu, which the owner holds while it writes the fd
//     table, cwd or credentials (readers other than the owner take it too).

// Image is everything a process gets from exec: it is built once per exec,
// never changed afterwards, and published with Thread.SetImage, so any
// goroutine may read it without locks.
type Image struct {
	Comm    string   // proc.name: the kernel's comm (at most 15 bytes)
	Exe     string   // proc.exe: argv[0] as the process was started
	ExePath string   // proc.exepath: full path of the executable
	Args    []string // argv[1:]
	// ArgsLine is proc.args (arguments joined by spaces) and Cmdline is
	// proc.cmdline (comm and arguments), both built once per exec so that
	// extraction does not allocate.
	ArgsLine string
	Cmdline  string
	Env      []string // KEY=VALUE, bounded by the producer

	ExeIno        uint64
	ExeCtime      int64 // ns since the epoch; 0 when unknown
	ExeMtime      int64
	ExeUpperLayer bool // executable lives in an overlayfs upper layer
	ExeFromMemfd  bool // executable is a memfd (fileless execution)
	ExeWritable   bool // executable is writable by the process's user
}

// NewImage returns an image with ArgsLine and Cmdline derived from comm
// and args.
func NewImage(comm, exe, exePath string, args []string) *Image {
	im := &Image{Comm: comm, Exe: exe, ExePath: exePath, Args: args}
	im.Finish()
	return im
}

// Finish recomputes the derived strings after the exported fields were set.
func (im *Image) Finish() {
	n := 0
	for _, a := range im.Args {
		n += len(a) + 1
	}
	b := make([]byte, 0, len(im.Comm)+n)
	b = append(b, im.Comm...)
	for i, a := range im.Args {
		if i > 0 || len(im.Comm) > 0 {
			b = append(b, ' ')
		}
		b = append(b, a...)
	}
	im.Cmdline = string(b)
	if len(im.Args) == 0 {
		im.ArgsLine = ""
	} else {
		start := len(im.Comm) + 1
		if len(im.Comm) == 0 {
			start = 0
		}
		im.ArgsLine = im.Cmdline[start:]
	}
}

// EnvValue returns the value of the environment variable key.
func (im *Image) EnvValue(key string) (string, bool) {
	for _, kv := range im.Env {
		if len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key {
			return kv[len(key)+1:], true
		}
	}
	return "", false
}

// Creds are a process's credentials. They change on setuid-family calls,
// capset and exec, and are written by the owner under Thread.Mu.
type Creds struct {
	UID, GID, EUID, EGID, SUID, SGID, FSUID, FSGID uint32
	LoginUID                                       uint32 // 0xffffffff when unset
	CapEffective, CapPermitted, CapInheritable     uint64
	// Names are EUID, EGID and LoginUID resolved when the credentials
	// were set, from the process's own /etc/passwd and /etc/group (its
	// container's for a container process), so that alerts and replays
	// show the names the process saw. Empty when not resolved.
	Names UserNames
}

// UserNames are resolved user and group names (user.name, user.homedir,
// user.shell, group.name, user.loginname).
type UserNames struct {
	User, Home, Shell, Group, Login string
}

// NoLoginUID is the loginuid of a process started outside a login session.
const NoLoginUID = ^uint32(0)

// Thread is the state of one process (thread group). Threads of the same
// group share it; the thread id of an event is Event.TID.
//
// Pid, VPid and StartTime are set before the Thread is published and never
// change. Session and process group may change (setsid, setpgid, seen at
// exec) while other workers read them through ancestry, so they are atomic.
type Thread struct {
	Pid       int64 // tgid as seen from the host
	VPid      int64 // pid in the process's own pid namespace
	StartTime int64 // ns since the epoch (process creation)
	// FromProc says the entry was built from /proc rather than seen born.
	FromProc bool

	image     atomic.Pointer[Image]
	container atomic.Pointer[Container]
	parent    atomic.Pointer[Thread]
	ppid      atomic.Int64
	sid       atomic.Int64
	pgid      atomic.Int64
	exited    atomic.Int64 // exit time in ns, 0 while alive

	// Threads counts live threads of the group (for proc.nthreads) and
	// Children its live child processes (proc.nchilds).
	Threads, Children atomic.Int32
	// Subreaper: the process adopts orphaned descendants
	// (prctl PR_SET_CHILD_SUBREAPER).
	Subreaper atomic.Bool

	// Mu guards the fields below for writers; the owner may read them
	// without it (it is their only writer).
	Mu    sync.Mutex
	Cwd   string // with a trailing slash, as libsinsp reports proc.cwd
	Creds Creds
	TTY   uint32 // controlling terminal device number, 0 if none
	FDs   FDTable
}

// Sid is the session id (proc.sid).
func (t *Thread) Sid() int64 { return t.sid.Load() }

// VPgid is the process group id (proc.vpgid).
func (t *Thread) VPgid() int64 { return t.pgid.Load() }

// SetSession records the session and process group ids.
func (t *Thread) SetSession(sid, pgid int64) {
	t.sid.Store(sid)
	t.pgid.Store(pgid)
}

// Image returns the exec image; never nil after the table has set one.
func (t *Thread) Image() *Image {
	if im := t.image.Load(); im != nil {
		return im
	}
	return emptyImage
}

var emptyImage = &Image{}

// SetImage publishes a new exec image.
func (t *Thread) SetImage(im *Image) { t.image.Store(im) }

// Container returns the container the process runs in (Host when none is
// known).
func (t *Thread) Container() *Container {
	if c := t.container.Load(); c != nil {
		return c
	}
	return Host
}

// SetContainer publishes the process's container (metadata may be filled in
// later by publishing a new *Container).
func (t *Thread) SetContainer(c *Container) { t.container.Store(c) }

// Container describes a container as the container.* and k8s.* fields see
// it. Values are immutable once published; empty strings read as <NA>.
type Container struct {
	ID         string // 12-character id, or "host"
	FullID     string
	Type       string // docker, containerd, cri-o, podman, cri, host
	Name       string
	Image      string // as the runtime reports it, e.g. docker.io/library/nginx:1.25
	ImageRepo  string // e.g. docker.io/library/nginx
	ImageTag   string
	ImageID    string
	Privileged *bool // nil when unknown
	StartTS    int64 // ns since the epoch; 0 when unknown

	ImageDigest string // sha256:... of the image manifest, when the runtime knows it

	// Namespaces shared with the host; nil when unknown.
	HostNetwork, HostPID, HostIPC *bool
	Mounts                        []Mount
	IP                            string // the container's (its pod's) primary IP
	CNIJSON                       string // the CNI result as JSON, when the runtime reports it

	// Docker health checks and Kubernetes probes, as the command line the
	// runtime runs; empty when none.
	Healthcheck, LivenessProbe, ReadinessProbe string

	PodName, PodNamespace, PodUID string
	PodSandboxID                  string // full id of the pod sandbox
	PodLabels                     map[string]string
	Labels                        map[string]string
}

// Mount is one mount of a container, as container.mount* report it.
type Mount struct {
	Source, Dest string
	Mode         string // the runtime's mode/options text (e.g. "ro", "z"); may be empty
	RW           bool
	Propagation  string // private, rprivate, shared, rshared, slave, rslave
}

// Host is the container of processes that run on the host.
var Host = &Container{ID: "host", Name: "host", Type: "host"}

// Parent returns the parent process, or nil when it is not known.
func (t *Thread) Parent() *Thread { return t.parent.Load() }

// PPid returns the parent's pid (known even when the parent's state is not).
func (t *Thread) PPid() int64 { return t.ppid.Load() }

// SetParent links t to parent (nil when unknown) with parent pid ppid.
func (t *Thread) SetParent(parent *Thread, ppid int64) {
	t.parent.Store(parent)
	t.ppid.Store(ppid)
}

// ExitTime is when the process exited (ns since the epoch), 0 while alive.
func (t *Thread) ExitTime() int64 { return t.exited.Load() }

// SetExitTime marks the process exited at ns.
func (t *Thread) SetExitTime(ns int64) { t.exited.Store(ns) }

// Ancestor returns the n-th ancestor (1 = parent), or nil. Walks at most
// MaxAncestors links so that a corrupt (cyclic) chain cannot hang a reader.
func (t *Thread) Ancestor(n int) *Thread {
	cur := t
	for i := 0; i < n && cur != nil; i++ {
		if i >= MaxAncestors {
			return nil
		}
		cur = cur.Parent()
	}
	return cur
}

// MaxAncestors bounds every walk up the parent chain.
const MaxAncestors = 64

// FDType is the kind of object an fd refers to (fd.type / fd.typechar).
type FDType uint8

const (
	FDUnknown FDType = iota
	FDFile
	FDDirectory
	FDIPv4
	FDIPv6
	FDUnix
	FDPipe
	FDEvent
	FDSignal
	FDEventPoll
	FDInotify
	FDTimer
	FDNetlink
	FDBPF
	FDUserfault
	FDIOUring
	FDMemfd
	FDPidfd
)

var fdTypeNames = [...]string{
	FDUnknown: "<NA>", FDFile: "file", FDDirectory: "directory", FDIPv4: "ipv4",
	FDIPv6: "ipv6", FDUnix: "unix", FDPipe: "pipe", FDEvent: "event",
	FDSignal: "signalfd", FDEventPoll: "eventpoll", FDInotify: "inotify",
	FDTimer: "timerfd", FDNetlink: "netlink", FDBPF: "bpf", FDUserfault: "userfaultfd",
	FDIOUring: "io_uring", FDMemfd: "memfd", FDPidfd: "pidfd",
}

var fdTypeChars = [...]string{
	FDUnknown: "o", FDFile: "f", FDDirectory: "d", FDIPv4: "4", FDIPv6: "6",
	FDUnix: "u", FDPipe: "p", FDEvent: "e", FDSignal: "s", FDEventPoll: "l",
	FDInotify: "i", FDTimer: "t", FDNetlink: "n", FDBPF: "b", FDUserfault: "u",
	FDIOUring: "r", FDMemfd: "m", FDPidfd: "P",
}

// String is the fd.type spelling.
func (t FDType) String() string {
	if int(t) < len(fdTypeNames) {
		return fdTypeNames[t]
	}
	return "<NA>"
}

// Char is the fd.typechar spelling.
func (t FDType) Char() string {
	if int(t) < len(fdTypeChars) {
		return fdTypeChars[t]
	}
	return "o"
}

// IsSocket reports whether t is an ip or unix socket.
func (t FDType) IsSocket() bool { return t == FDIPv4 || t == FDIPv6 || t == FDUnix }

// L4Proto is the transport protocol of a socket (fd.l4proto).
type L4Proto uint8

const (
	L4Unknown L4Proto = iota
	L4TCP
	L4UDP
	L4ICMP
	L4Raw
)

var l4Names = [...]string{L4Unknown: "<NA>", L4TCP: "tcp", L4UDP: "udp", L4ICMP: "icmp", L4Raw: "raw"}

func (p L4Proto) String() string {
	if int(p) < len(l4Names) {
		return l4Names[p]
	}
	return "<NA>"
}

// FD is what one file descriptor refers to. An *FD is immutable once it is
// in a table: a change (connect, a new name) installs a new *FD, so events
// that already point at the old one, and forked children sharing it, stay
// consistent without locks.
type FD struct {
	Num  int64
	Type FDType
	// Name is fd.name: the absolute path for files, the tuple
	// "10.0.0.1:3333->10.0.0.2:80" (client->server) for connected ip
	// sockets, the path (or a kernel address) for unix sockets.
	Name string
	// NameRaw is fd.nameraw: the path as the process passed it, before
	// normalisation (e.g. with "../"); empty when the same as Name.
	NameRaw string
	// Dir and Base split Name for files (fd.directory, fd.filename).
	Dir, Base string

	OpenFlags uint32 // open(2) flags
	Mode      uint32
	Dev       uint32
	Ino       uint64

	// Sockets.
	L4Proto    L4Proto
	ClientIP   netip.Addr // fd.cip
	ServerIP   netip.Addr // fd.sip
	ClientPort uint16     // fd.cport
	ServerPort uint16     // fd.sport
	// IsServer: this process is the server end (accept) rather than the
	// client (connect); decides fd.lip/fd.rip.
	IsServer  bool
	Connected bool   // fd.connected
	Listening bool   // a bound, listening socket
	UnixPath  string // path of a unix socket
	// ClientAddr and ServerAddr are ClientIP and ServerIP as text, built
	// once with the FD (list-valued fields such as fd.ip read them).
	ClientAddr, ServerAddr string
	// ChangedBy is the number (Event.Num) of the event that gave the fd
	// its current name, for fd.name_changed.
	ChangedBy uint64
}

// FinishSocket fills Name, ClientAddr and ServerAddr from the tuple the
// way libsinsp formats fd.name: "cip:cport->sip:sport" for connected ip
// sockets (IPv6 addresses without brackets, as libsinsp writes them),
// "ip:port" for a bound or listening
// socket with no peer, the path for unix sockets.
func (f *FD) FinishSocket() {
	if f.ClientIP.IsValid() {
		f.ClientAddr = f.ClientIP.String()
	}
	if f.ServerIP.IsValid() {
		f.ServerAddr = f.ServerIP.String()
	}
	switch f.Type {
	case FDIPv4, FDIPv6:
		switch {
		case f.ServerIP.IsValid() && f.ClientIP.IsValid():
			f.Name = f.ClientAddr + ":" + strconv.Itoa(int(f.ClientPort)) + "->" +
				f.ServerAddr + ":" + strconv.Itoa(int(f.ServerPort))
		case f.ServerIP.IsValid():
			f.Name = f.ServerAddr + ":" + strconv.Itoa(int(f.ServerPort))
		case f.ClientIP.IsValid():
			f.Name = f.ClientAddr + ":" + strconv.Itoa(int(f.ClientPort))
		default:
			f.Name = ""
		}
	case FDUnix:
		f.Name = f.UnixPath
	}
}

// LocalIP and friends resolve the client/server tuple from this process's
// point of view (fd.lip, fd.rip, fd.lport, fd.rport).
func (f *FD) LocalIP() netip.Addr {
	if f.IsServer {
		return f.ServerIP
	}
	return f.ClientIP
}

func (f *FD) RemoteIP() netip.Addr {
	if f.IsServer {
		return f.ClientIP
	}
	return f.ServerIP
}

func (f *FD) LocalPort() uint16 {
	if f.IsServer {
		return f.ServerPort
	}
	return f.ClientPort
}

func (f *FD) RemotePort() uint16 {
	if f.IsServer {
		return f.ClientPort
	}
	return f.ServerPort
}

// FDTable maps fd numbers to their objects. Small fds, by far the most
// common, live in a slice; the rest in a map. The table is owned by the
// Thread's owner (see the concurrency model above).
type FDTable struct {
	low  []*FD
	high map[int64]*FD
	n    int
}

const lowFDs = 1024

// MaxFDs bounds one table; fds beyond it are not tracked.
const MaxFDs = 65536

// Get returns the fd, or nil.
func (t *FDTable) Get(fd int64) *FD {
	if fd >= 0 && fd < int64(len(t.low)) {
		return t.low[fd]
	}
	if fd >= lowFDs && t.high != nil {
		return t.high[fd]
	}
	return nil
}

// Set installs f (f.Num is its number); nil removes. It reports false when
// the table is full.
func (t *FDTable) Set(f *FD) bool {
	if f == nil {
		return true
	}
	fd := f.Num
	if fd < 0 {
		return false
	}
	if fd < lowFDs {
		if fd >= int64(len(t.low)) {
			n := max(int64(16), int64(2*len(t.low)))
			for n <= fd {
				n *= 2
			}
			grown := make([]*FD, min(n, lowFDs))
			copy(grown, t.low)
			t.low = grown
		}
		if t.low[fd] == nil {
			t.n++
		}
		t.low[fd] = f
		return true
	}
	if t.high == nil {
		t.high = make(map[int64]*FD)
	}
	if _, ok := t.high[fd]; !ok {
		if t.n >= MaxFDs {
			return false
		}
		t.n++
	}
	t.high[fd] = f
	return true
}

// Delete removes fd.
func (t *FDTable) Delete(fd int64) {
	if fd >= 0 && fd < int64(len(t.low)) {
		if t.low[fd] != nil {
			t.n--
			t.low[fd] = nil
		}
		return
	}
	if _, ok := t.high[fd]; ok {
		delete(t.high, fd)
		t.n--
	}
}

// Len is the number of open fds.
func (t *FDTable) Len() int { return t.n }

// Range calls f for every fd in ascending order for the low range.
func (t *FDTable) Range(f func(*FD) bool) {
	for _, fd := range t.low {
		if fd != nil && !f(fd) {
			return
		}
	}
	for _, fd := range t.high {
		if !f(fd) {
			return
		}
	}
}

// Clone returns a copy sharing the immutable *FD values (fork semantics).
func (t *FDTable) Clone() FDTable {
	c := FDTable{n: t.n}
	if t.low != nil {
		c.low = make([]*FD, len(t.low))
		copy(c.low, t.low)
	}
	if t.high != nil {
		c.high = make(map[int64]*FD, len(t.high))
		for k, v := range t.high {
			c.high[k] = v
		}
	}
	return c
}

// Clear drops every fd (close-on-exec is applied by the table on exec).
func (t *FDTable) Clear() { *t = FDTable{} }
