package syscallfields

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// flagBit names one bit (or masked value) of a flag word.
type flagBit struct {
	val  uint64
	name string
}

// flagSet renders a flag word as libsinsp does ("O_WRONLY|O_CREAT") and
// caches every rendering, so that extraction allocates only the first time
// a combination is seen.
type flagSet struct {
	// mask/values render a field inside the word that is a value, not bits
	// (the open access mode, the clone exit signal); values[v&mask].
	mask   uint64
	values map[uint64]string
	bits   []flagBit
	sep    string

	mu    sync.Mutex
	cache atomic.Pointer[map[uint64]string]
}

const maxCached = 4096

func (f *flagSet) format(v uint64) string {
	if m := f.cache.Load(); m != nil {
		if s, ok := (*m)[v]; ok {
			return s
		}
	}
	s := f.build(v)
	f.mu.Lock()
	old := f.cache.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n < maxCached {
		m := make(map[uint64]string, n+1)
		if old != nil {
			for k, x := range *old {
				m[k] = x
			}
		}
		m[v] = s
		f.cache.Store(&m)
	}
	f.mu.Unlock()
	return s
}

func (f *flagSet) build(v uint64) string {
	sep := f.sep
	if sep == "" {
		sep = "|"
	}
	var parts []string
	rest := v
	if f.mask != 0 || f.values != nil {
		if name, ok := f.values[v&f.mask]; ok {
			if name != "" {
				parts = append(parts, name)
			}
			rest &^= f.mask
		}
	}
	for _, b := range f.bits {
		if b.val != 0 && rest&b.val == b.val {
			parts = append(parts, b.name)
			rest &^= b.val
		}
	}
	if rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(rest, 16))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, sep)
}

// enum renders a value with a name table, or the number.
type enum map[int64]string

func (e enum) format(v int64) string {
	if s, ok := e[v]; ok {
		return s
	}
	return strconv.FormatInt(v, 10)
}

// Linux x86_64 open(2) flags.
const (
	oWronly    = 0o1
	oRdwr      = 0o2
	oAccMode   = 0o3
	oCreat     = 0o100
	oTrunc     = 0o1000
	oDirectory = 0o200000
	oTmpfile   = 0o20000000
)

var openFlags = &flagSet{
	mask:   oAccMode,
	values: map[uint64]string{0: "O_RDONLY", oWronly: "O_WRONLY", oRdwr: "O_RDWR"},
	bits: []flagBit{
		{0o20200000, "O_TMPFILE"}, // before O_DIRECTORY, which it includes
		{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"},
		{0o2000, "O_APPEND"}, {0o4000, "O_NONBLOCK"}, {0o4010000, "O_SYNC"}, {0o10000, "O_DSYNC"},
		{0o20000, "FASYNC"}, {0o40000, "O_DIRECT"}, {0o100000, "O_LARGEFILE"},
		{0o200000, "O_DIRECTORY"}, {0o400000, "O_NOFOLLOW"}, {0o1000000, "O_NOATIME"},
		{0o2000000, "O_CLOEXEC"}, {0o10000000, "O_PATH"},
	},
}

var cloneFlags = &flagSet{bits: []flagBit{
	{0x100, "CLONE_VM"}, {0x200, "CLONE_FS"}, {0x400, "CLONE_FILES"}, {0x800, "CLONE_SIGHAND"},
	{0x1000, "CLONE_PIDFD"}, {0x2000, "CLONE_PTRACE"}, {0x4000, "CLONE_VFORK"},
	{0x8000, "CLONE_PARENT"}, {0x10000, "CLONE_THREAD"}, {0x20000, "CLONE_NEWNS"},
	{0x40000, "CLONE_SYSVSEM"}, {0x80000, "CLONE_SETTLS"}, {0x100000, "CLONE_PARENT_SETTID"},
	{0x200000, "CLONE_CHILD_CLEARTID"}, {0x400000, "CLONE_DETACHED"}, {0x800000, "CLONE_UNTRACED"},
	{0x1000000, "CLONE_CHILD_SETTID"}, {0x2000000, "CLONE_NEWCGROUP"}, {0x4000000, "CLONE_NEWUTS"},
	{0x8000000, "CLONE_NEWIPC"}, {0x10000000, "CLONE_NEWUSER"}, {0x20000000, "CLONE_NEWPID"},
	{0x40000000, "CLONE_NEWNET"}, {0x80000000, "CLONE_IO"},
}, mask: 0xff, values: map[uint64]string{0: "", 17: "SIGCHLD"}}

// nsFlags are the namespace bits of unshare(2)/setns(2).
var nsFlags = &flagSet{bits: []flagBit{
	{0x80, "CLONE_NEWTIME"}, {0x200, "CLONE_FS"}, {0x400, "CLONE_FILES"}, {0x20000, "CLONE_NEWNS"},
	{0x40000, "CLONE_SYSVSEM"}, {0x2000000, "CLONE_NEWCGROUP"}, {0x4000000, "CLONE_NEWUTS"},
	{0x8000000, "CLONE_NEWIPC"}, {0x10000000, "CLONE_NEWUSER"}, {0x20000000, "CLONE_NEWPID"},
	{0x40000000, "CLONE_NEWNET"},
}}

var memfdFlags = &flagSet{bits: []flagBit{
	{1, "MFD_CLOEXEC"}, {2, "MFD_ALLOW_SEALING"}, {4, "MFD_HUGETLB"}, {8, "MFD_NOEXEC_SEAL"}, {0x10, "MFD_EXEC"},
}}

var mountFlags = &flagSet{bits: []flagBit{
	{1, "RDONLY"}, {2, "NOSUID"}, {4, "NODEV"}, {8, "NOEXEC"}, {16, "SYNCHRONOUS"},
	{32, "REMOUNT"}, {64, "MANDLOCK"}, {128, "DIRSYNC"}, {256, "NOSYMFOLLOW"}, {1024, "NOATIME"},
	{2048, "NODIRATIME"}, {4096, "BIND"}, {8192, "MOVE"}, {16384, "REC"}, {32768, "SILENT"},
	{1 << 16, "POSIXACL"}, {1 << 17, "UNBINDABLE"}, {1 << 18, "PRIVATE"}, {1 << 19, "SLAVE"},
	{1 << 20, "SHARED"}, {1 << 21, "RELATIME"}, {1 << 22, "KERNMOUNT"}, {1 << 23, "I_VERSION"},
	{1 << 24, "STRICTATIME"}, {1 << 25, "LAZYTIME"},
}}

// chmodModes renders the mode of chmod, fchmod and fchmodat as libsinsp
// does (its chmod_mode flag table, lowest bit first): 04755 is
// "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID".
var chmodModes = &flagSet{bits: []flagBit{
	{0o1, "S_IXOTH"}, {0o2, "S_IWOTH"}, {0o4, "S_IROTH"},
	{0o10, "S_IXGRP"}, {0o20, "S_IWGRP"}, {0o40, "S_IRGRP"},
	{0o100, "S_IXUSR"}, {0o200, "S_IWUSR"}, {0o400, "S_IRUSR"},
	{0o1000, "S_ISVTX"}, {0o2000, "S_ISGID"}, {0o4000, "S_ISUID"},
}}

var umountFlags = &flagSet{bits: []flagBit{{1, "FORCE"}, {2, "DETACH"}, {4, "EXPIRE"}, {8, "NOFOLLOW"}}}

var unlinkatFlags = &flagSet{bits: []flagBit{{0x200, "AT_REMOVEDIR"}}}

var linkatFlags = &flagSet{bits: []flagBit{{0x400, "AT_SYMLINK_FOLLOW"}, {0x1000, "AT_EMPTY_PATH"}}}

var atFlags = &flagSet{bits: []flagBit{{0x100, "AT_SYMLINK_NOFOLLOW"}, {0x400, "AT_SYMLINK_FOLLOW"}, {0x1000, "AT_EMPTY_PATH"}}}

var renameFlags = &flagSet{bits: []flagBit{{1, "RENAME_NOREPLACE"}, {2, "RENAME_EXCHANGE"}, {4, "RENAME_WHITEOUT"}}}

var sockFlags = &flagSet{bits: []flagBit{{0o4000, "SOCK_NONBLOCK"}, {0o2000000, "SOCK_CLOEXEC"}}}

var dup3Flags = &flagSet{bits: []flagBit{{0o2000000, "O_CLOEXEC"}}}

// execFlags are libsinsp's flags of a successful execve (evt.arg.flags).
const (
	exeWritable   = 1
	exeUpperLayer = 2
	exeFromMemfd  = 4
)

var execFlags = &flagSet{bits: []flagBit{
	{exeWritable, "EXE_WRITABLE"}, {exeUpperLayer, "EXE_UPPER_LAYER"}, {exeFromMemfd, "EXE_FROM_MEMFD"},
}}

// capNames are the capability bits in order, as libsinsp spells them.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// caps renders capability sets space-separated, as thread.cap_* do.
var caps = func() *flagSet {
	f := &flagSet{sep: " "}
	for i, n := range capNames {
		f.bits = append(f.bits, flagBit{1 << i, n})
	}
	return f
}()

func formatCaps(v uint64) string {
	if v == 0 {
		return ""
	}
	return caps.format(v)
}

var ptraceRequests = enum{
	0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR",
	4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT",
	8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
	14: "PTRACE_GETFPREGS", 15: "PTRACE_SETFPREGS", 16: "PTRACE_ATTACH", 17: "PTRACE_DETACH",
	18: "PTRACE_GETFPXREGS", 19: "PTRACE_SETFPXREGS", 24: "PTRACE_SYSCALL",
	30: "PTRACE_ARCH_PRCTL", 31: "PTRACE_SYSEMU", 32: "PTRACE_SYSEMU_SINGLESTEP",
	33: "PTRACE_SINGLEBLOCK", 0x4200: "PTRACE_SETOPTIONS", 0x4201: "PTRACE_GETEVENTMSG",
	0x4202: "PTRACE_GETSIGINFO", 0x4203: "PTRACE_SETSIGINFO", 0x4204: "PTRACE_GETREGSET",
	0x4205: "PTRACE_SETREGSET", 0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT",
	0x4208: "PTRACE_LISTEN", 0x4209: "PTRACE_PEEKSIGINFO", 0x420a: "PTRACE_GETSIGMASK",
	0x420b: "PTRACE_SETSIGMASK", 0x420c: "PTRACE_SECCOMP_GET_FILTER",
}

var socketFamilies = enum{
	0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
	6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE",
	12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY", 16: "AF_NETLINK",
	17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA",
	23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE", 26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS",
	29: "AF_CAN", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC",
	34: "AF_ISDN", 35: "AF_PHONET", 36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG",
	39: "AF_NFC", 40: "AF_VSOCK", 41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP",
	45: "AF_MCTP",
}

var socketTypes = enum{
	1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET",
	6: "SOCK_DCCP", 10: "SOCK_PACKET",
}

var signals = enum{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
	14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
	20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
	26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

var prctlOptions = enum{
	1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE",
	7: "PR_GET_KEEPCAPS", 8: "PR_SET_KEEPCAPS", 15: "PR_SET_NAME", 16: "PR_GET_NAME",
	21: "PR_GET_SECCOMP", 22: "PR_SET_SECCOMP", 23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP",
	27: "PR_GET_SECUREBITS", 28: "PR_SET_SECUREBITS", 35: "PR_SET_MM",
	36: "PR_SET_CHILD_SUBREAPER", 37: "PR_GET_CHILD_SUBREAPER", 38: "PR_SET_NO_NEW_PRIVS",
	39: "PR_GET_NO_NEW_PRIVS", 47: "PR_CAP_AMBIENT", 0x59616d61: "PR_SET_PTRACER",
}

var bpfCommands = enum{
	0: "BPF_MAP_CREATE", 1: "BPF_MAP_LOOKUP_ELEM", 2: "BPF_MAP_UPDATE_ELEM",
	3: "BPF_MAP_DELETE_ELEM", 4: "BPF_MAP_GET_NEXT_KEY", 5: "BPF_PROG_LOAD", 6: "BPF_OBJ_PIN",
	7: "BPF_OBJ_GET", 8: "BPF_PROG_ATTACH", 9: "BPF_PROG_DETACH", 10: "BPF_PROG_TEST_RUN",
	11: "BPF_PROG_GET_NEXT_ID", 12: "BPF_MAP_GET_NEXT_ID", 13: "BPF_PROG_GET_FD_BY_ID",
	14: "BPF_MAP_GET_FD_BY_ID", 15: "BPF_OBJ_GET_INFO_BY_FD", 16: "BPF_PROG_QUERY",
	17: "BPF_RAW_TRACEPOINT_OPEN", 18: "BPF_BTF_LOAD", 19: "BPF_BTF_GET_FD_BY_ID",
	20: "BPF_TASK_FD_QUERY", 21: "BPF_MAP_LOOKUP_AND_DELETE_ELEM", 22: "BPF_MAP_FREEZE",
	23: "BPF_BTF_GET_NEXT_ID", 28: "BPF_LINK_CREATE", 29: "BPF_LINK_UPDATE",
}

// errnoNames are the Linux x86_64 errno names, indexed by number.
var errnoNames = [...]string{
	1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG",
	8: "ENOEXEC", 9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
	14: "EFAULT", 15: "ENOTBLK", 16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV",
	20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 25: "ENOTTY",
	26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS", 31: "EMLINK",
	32: "EPIPE", 33: "EDOM", 34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG", 37: "ENOLCK",
	38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 42: "ENOMSG", 43: "EIDRM", 44: "ECHRNG",
	45: "EL2NSYNC", 46: "EL3HLT", 47: "EL3RST", 48: "ELNRNG", 49: "EUNATCH", 50: "ENOCSI",
	51: "EL2HLT", 52: "EBADE", 53: "EBADR", 54: "EXFULL", 55: "ENOANO", 56: "EBADRQC",
	57: "EBADSLT", 59: "EBFONT", 60: "ENOSTR", 61: "ENODATA", 62: "ETIME", 63: "ENOSR",
	64: "ENONET", 65: "ENOPKG", 66: "EREMOTE", 67: "ENOLINK", 68: "EADV", 69: "ESRMNT",
	70: "ECOMM", 71: "EPROTO", 72: "EMULTIHOP", 73: "EDOTDOT", 74: "EBADMSG", 75: "EOVERFLOW",
	76: "ENOTUNIQ", 77: "EBADFD", 78: "EREMCHG", 79: "ELIBACC", 80: "ELIBBAD", 81: "ELIBSCN",
	82: "ELIBMAX", 83: "ELIBEXEC", 84: "EILSEQ", 85: "ERESTART", 86: "ESTRPIPE", 87: "EUSERS",
	88: "ENOTSOCK", 89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT",
	93: "EPROTONOSUPPORT", 94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 96: "EPFNOSUPPORT",
	97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 100: "ENETDOWN",
	101: "ENETUNREACH", 102: "ENETRESET", 103: "ECONNABORTED", 104: "ECONNRESET",
	105: "ENOBUFS", 106: "EISCONN", 107: "ENOTCONN", 108: "ESHUTDOWN", 109: "ETOOMANYREFS",
	110: "ETIMEDOUT", 111: "ECONNREFUSED", 112: "EHOSTDOWN", 113: "EHOSTUNREACH",
	114: "EALREADY", 115: "EINPROGRESS", 116: "ESTALE", 117: "EUCLEAN", 118: "ENOTNAM",
	119: "ENAVAIL", 120: "EISNAM", 121: "EREMOTEIO", 122: "EDQUOT", 123: "ENOMEDIUM",
	124: "EMEDIUMTYPE", 125: "ECANCELED", 126: "ENOKEY", 127: "EKEYEXPIRED",
	128: "EKEYREVOKED", 129: "EKEYREJECTED", 130: "EOWNERDEAD", 131: "ENOTRECOVERABLE",
	132: "ERFKILL", 133: "EHWPOISON",
}

// errnoName returns the name of -ret ("ENOENT"), or "E<n>" for an unknown one.
func errnoName(ret int64) string {
	n := -ret
	if n > 0 && n < int64(len(errnoNames)) && errnoNames[n] != "" {
		return errnoNames[n]
	}
	if n >= 512 && n <= 530 { // kernel-internal restart codes
		return "ERESTART"
	}
	return "E" + strconv.FormatInt(n, 10)
}

// formatMode renders a mode in octal with a leading 0, as libsinsp does.
func formatMode(m uint32) string {
	if m < uint32(len(smallModes)) {
		return smallModes[m]
	}
	return "0" + strconv.FormatUint(uint64(m), 8)
}

// smallModes caches the octal renderings of every permission mode.
var smallModes = func() []string {
	s := make([]string, 0o10000)
	s[0] = "0"
	for i := 1; i < len(s); i++ {
		s[i] = "0" + strconv.FormatUint(uint64(i), 8)
	}
	return s
}()

// smallInts caches decimal renderings of small numbers (fds, pids of
// interest in arguments are not small; fds mostly are).
var smallInts = func() []string {
	s := make([]string, 4096)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func itoa(n int64) string {
	if n >= 0 && n < int64(len(smallInts)) {
		return smallInts[n]
	}
	return strconv.FormatInt(n, 10)
}
