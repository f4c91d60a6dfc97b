package ruletest

import (
	"fmt"
	"strconv"
	"strings"
)

// Symbolic values a test case may write for syscall arguments (x86_64
// Linux). Numbers are accepted everywhere a name is.

var openFlagValues = map[string]uint64{
	"O_RDONLY": 0, "O_WRONLY": 01, "O_RDWR": 02, "O_CREAT": 0100, "O_EXCL": 0200,
	"O_NOCTTY": 0400, "O_TRUNC": 01000, "O_APPEND": 02000, "O_NONBLOCK": 04000,
	"O_DSYNC": 010000, "O_ASYNC": 020000, "O_DIRECT": 040000, "O_LARGEFILE": 0100000,
	"O_DIRECTORY": 0200000, "O_NOFOLLOW": 0400000, "O_NOATIME": 01000000,
	"O_CLOEXEC": 02000000, "O_SYNC": 04010000, "O_PATH": 010000000, "O_TMPFILE": 020200000,
}

var nsFlagValues = map[string]uint64{
	"CLONE_NEWTIME": 0x80, "CLONE_FS": 0x200, "CLONE_FILES": 0x400, "CLONE_NEWNS": 0x20000,
	"CLONE_SYSVSEM": 0x40000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
	"CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
	"CLONE_NEWNET": 0x40000000,
}

var memfdFlagValues = map[string]uint64{
	"MFD_CLOEXEC": 1, "MFD_ALLOW_SEALING": 2, "MFD_HUGETLB": 4, "MFD_NOEXEC_SEAL": 8, "MFD_EXEC": 0x10,
}

var modeValues = map[string]uint64{
	"S_ISUID": 04000, "S_ISGID": 02000, "S_ISVTX": 01000,
	"S_IRWXU": 0700, "S_IRUSR": 0400, "S_IWUSR": 0200, "S_IXUSR": 0100,
	"S_IRWXG": 070, "S_IRGRP": 040, "S_IWGRP": 020, "S_IXGRP": 010,
	"S_IRWXO": 07, "S_IROTH": 04, "S_IWOTH": 02, "S_IXOTH": 01,
}

var ptraceRequestValues = map[string]uint64{
	"PTRACE_TRACEME": 0, "PTRACE_PEEKTEXT": 1, "PTRACE_PEEKDATA": 2, "PTRACE_PEEKUSR": 3,
	"PTRACE_POKETEXT": 4, "PTRACE_POKEDATA": 5, "PTRACE_POKEUSR": 6, "PTRACE_CONT": 7,
	"PTRACE_KILL": 8, "PTRACE_SINGLESTEP": 9, "PTRACE_GETREGS": 12, "PTRACE_SETREGS": 13,
	"PTRACE_GETFPREGS": 14, "PTRACE_SETFPREGS": 15, "PTRACE_ATTACH": 16, "PTRACE_DETACH": 17,
	"PTRACE_SYSCALL": 24, "PTRACE_SETOPTIONS": 0x4200, "PTRACE_GETEVENTMSG": 0x4201,
	"PTRACE_GETSIGINFO": 0x4202, "PTRACE_SETSIGINFO": 0x4203, "PTRACE_GETREGSET": 0x4204,
	"PTRACE_SETREGSET": 0x4205, "PTRACE_SEIZE": 0x4206, "PTRACE_INTERRUPT": 0x4207,
	"PTRACE_LISTEN": 0x4208,
}

var socketFamilyValues = map[string]uint64{
	"AF_UNSPEC": 0, "AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16,
	"AF_PACKET": 17, "AF_CAN": 29, "AF_BLUETOOTH": 31, "AF_ALG": 38, "AF_VSOCK": 40, "AF_XDP": 44,
}

var bpfCmdValues = map[string]uint64{
	"BPF_MAP_CREATE": 0, "BPF_MAP_LOOKUP_ELEM": 1, "BPF_MAP_UPDATE_ELEM": 2, "BPF_MAP_DELETE_ELEM": 3,
	"BPF_PROG_LOAD": 5, "BPF_OBJ_PIN": 6, "BPF_OBJ_GET": 7, "BPF_PROG_ATTACH": 8, "BPF_PROG_DETACH": 9,
	"BPF_RAW_TRACEPOINT_OPEN": 17, "BPF_BTF_LOAD": 18, "BPF_LINK_CREATE": 28,
}

var socketTypeValues = map[string]uint64{
	"SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3, "SOCK_RDM": 4, "SOCK_SEQPACKET": 5,
}

// parseBits reads "NAME|NAME|0x10" (or a number) with the given names.
func parseBits(v any, names map[string]uint64, what string) (uint64, error) {
	switch x := v.(type) {
	case int:
		if x < 0 {
			return 0, fmt.Errorf("%s: negative value %d", what, x)
		}
		return uint64(x), nil
	case uint64:
		return x, nil
	case string:
		var out uint64
		for _, part := range strings.Split(x, "|") {
			part = strings.TrimSpace(part)
			if n, ok := names[part]; ok {
				out |= n
				continue
			}
			n, err := strconv.ParseUint(part, 0, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: unknown name %q", what, part)
			}
			out |= n
		}
		return out, nil
	}
	return 0, fmt.Errorf("%s: want a name or number, got %T", what, v)
}

// parseMode reads a file mode: a string with an octal number ("04755",
// "0o755") and/or S_I* names, or a number.
func parseMode(v any) (uint64, error) {
	if s, ok := v.(string); ok {
		var out uint64
		for _, part := range strings.Split(s, "|") {
			part = strings.TrimSpace(part)
			if n, ok := modeValues[part]; ok {
				out |= n
				continue
			}
			n, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(part, "0o"), "0"), 8, 32)
			if part == "0" {
				n, err = 0, nil
			}
			if err != nil {
				return 0, fmt.Errorf("mode: %q is neither octal nor an S_I* name", part)
			}
			out |= n
		}
		return out, nil
	}
	return parseBits(v, modeValues, "mode")
}
