package syscallfields

import (
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// argSpec is one named argument of an event type, as libsinsp names it.
// str renders it for evt.arg (the resolved form: flag names, absolute
// paths, errno names); raw, when set, gives the number for evt.rawarg.
type argSpec struct {
	name string
	str  func(ev *sysevent.Event) (string, bool)
	raw  func(ev *sysevent.Event) (int64, bool)
}

// argTable lists the arguments of every event type, indexed by Type.
var argTable = func() [][]argSpec {
	t := make([][]argSpec, sysevent.NumTypes)
	for typ, specs := range argSpecs {
		t[typ] = specs
	}
	return t
}()

func num(name string, f func(ev *sysevent.Event) int64) argSpec {
	return argSpec{
		name: name,
		str:  func(ev *sysevent.Event) (string, bool) { return itoa(f(ev)), true },
		raw:  func(ev *sysevent.Event) (int64, bool) { return f(ev), true },
	}
}

func text(name string, f func(ev *sysevent.Event) string) argSpec {
	return argSpec{name: name, str: func(ev *sysevent.Event) (string, bool) { return f(ev), true }}
}

func flags(name string, set *flagSet, f func(ev *sysevent.Event) uint64) argSpec {
	return argSpec{
		name: name,
		str:  func(ev *sysevent.Event) (string, bool) { return set.format(f(ev)), true },
		raw:  func(ev *sysevent.Event) (int64, bool) { return int64(f(ev)), true },
	}
}

func named(name string, e enum, f func(ev *sysevent.Event) int64) argSpec {
	return argSpec{
		name: name,
		str:  func(ev *sysevent.Event) (string, bool) { return e.format(f(ev)), true },
		raw:  func(ev *sysevent.Event) (int64, bool) { return f(ev), true },
	}
}

// Argument accessors shared by many types.
var (
	argRes = argSpec{
		name: "res",
		str: func(ev *sysevent.Event) (string, bool) {
			if ev.Ret < 0 {
				return errnoName(ev.Ret), true
			}
			return itoa(ev.Ret), true
		},
		raw: func(ev *sysevent.Event) (int64, bool) { return ev.Ret, true },
	}
	argRetFD = argSpec{ // a syscall that returns an fd names its result "fd"
		name: "fd",
		str: func(ev *sysevent.Event) (string, bool) {
			if ev.Ret < 0 {
				return errnoName(ev.Ret), true
			}
			return itoa(ev.Ret), true
		},
		raw: func(ev *sysevent.Event) (int64, bool) { return ev.Ret, true },
	}
	argFD    = num("fd", func(ev *sysevent.Event) int64 { return ev.FD })
	argDirFD = argSpec{
		name: "dirfd",
		str: func(ev *sysevent.Event) (string, bool) {
			if ev.FD == sysevent.AtFDCWD {
				return "AT_FDCWD", true
			}
			return itoa(ev.FD), true
		},
		raw: func(ev *sysevent.Event) (int64, bool) { return ev.FD, true },
	}
	argMode = argSpec{
		name: "mode",
		str:  func(ev *sysevent.Event) (string, bool) { return formatMode(ev.Mode), true },
		raw:  func(ev *sysevent.Event) (int64, bool) { return int64(ev.Mode), true },
	}
	// chmod's mode is a flag word in libsinsp (PT_MODE), open's and
	// mkdir's an octal number.
	argChmodMode = flags("mode", chmodModes, func(ev *sysevent.Event) uint64 { return uint64(ev.Mode) })
	argUID       = num("uid", func(ev *sysevent.Event) int64 { return int64(ev.UID) })
	argGID       = num("gid", func(ev *sysevent.Event) int64 { return int64(ev.GID) })
	argOpenFlag  = flags("flags", openFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })
	argTuple     = text("tuple", tuple)
)

func path(name string) argSpec { return text(name, func(ev *sysevent.Event) string { return ev.Path }) }
func path2(name string) argSpec {
	return text(name, func(ev *sysevent.Event) string { return ev.Path2 })
}

var outFD = func() argSpec { s := argFD; s.name = "out_fd"; return s }()

func dirfd(name string) argSpec { s := argDirFD; s.name = name; return s }
func rawArg(name string, i int) argSpec {
	return num(name, func(ev *sysevent.Event) int64 { return int64(ev.Args[i]) })
}

// tuple renders a socket event's connection as libsinsp's tuple argument:
// the fd's name when the process table knows it, else the address.
func tuple(ev *sysevent.Event) string {
	if ev.FDInfo != nil && ev.FDInfo.Type.IsSocket() && ev.FDInfo.Name != "" {
		return ev.FDInfo.Name
	}
	return ev.Sock.String()
}

// execFlagsOf derives libsinsp's execve exit flags from the new image.
func execFlagsOf(ev *sysevent.Event) uint64 {
	var f uint64
	im := image(ev)
	if im == nil || ev.Ret < 0 {
		return 0
	}
	if im.ExeWritable {
		f |= exeWritable
	}
	if im.ExeUpperLayer {
		f |= exeUpperLayer
	}
	if im.ExeFromMemfd {
		f |= exeFromMemfd
	}
	return f
}

func procArgs(ev *sysevent.Event) []string {
	if ev.Type == sysevent.SysExecve || ev.Type == sysevent.SysExecveat {
		if len(ev.Argv) > 1 {
			return ev.Argv[1:]
		}
		return nil
	}
	if im := image(ev); im != nil {
		return im.Args
	}
	return nil
}

var (
	procSpecs = []argSpec{
		argRes,
		text("exe", func(ev *sysevent.Event) string {
			if (ev.Type == sysevent.SysExecve || ev.Type == sysevent.SysExecveat) && len(ev.Argv) > 0 {
				return ev.Argv[0]
			}
			if im := image(ev); im != nil {
				return im.Exe
			}
			return ""
		}),
		text("args", func(ev *sysevent.Event) string { return strings.Join(procArgs(ev), " ") }),
		num("tid", func(ev *sysevent.Event) int64 { return int64(ev.TID) }),
		num("pid", func(ev *sysevent.Event) int64 { return int64(ev.PID) }),
		num("ptid", func(ev *sysevent.Event) int64 {
			if ev.Thread != nil {
				return ev.Thread.PPid()
			}
			return int64(ev.Proc.PPID)
		}),
		text("cwd", func(ev *sysevent.Event) string {
			if ev.Thread != nil {
				return ev.Thread.Cwd
			}
			return ev.Proc.Cwd
		}),
		text("comm", func(ev *sysevent.Event) string {
			if im := image(ev); im != nil && im.Comm != "" {
				return im.Comm
			}
			return ev.Proc.Comm
		}),
		num("uid", func(ev *sysevent.Event) int64 { return int64(ev.Proc.EUID) }),
		num("gid", func(ev *sysevent.Event) int64 { return int64(ev.Proc.EGID) }),
		num("loginuid", func(ev *sysevent.Event) int64 { return int64(int32(ev.Proc.LoginUID)) }),
		num("tty", func(ev *sysevent.Event) int64 { return int64(ev.Proc.TTY) }),
		num("pgid", func(ev *sysevent.Event) int64 { return int64(ev.Proc.Pgid) }),
	}
	execSpecs = append(append([]argSpec{}, procSpecs...),
		flags("flags", execFlags, execFlagsOf),
		text("filename", func(ev *sysevent.Event) string { return ev.Target }),
		text("trusted_exepath", func(ev *sysevent.Event) string { return ev.Proc.ExePath }),
		num("exe_ino", func(ev *sysevent.Event) int64 { return int64(ev.Proc.ExeIno) }),
		num("exe_ino_ctime", func(ev *sysevent.Event) int64 { return ev.Proc.ExeCtime }),
		num("exe_ino_mtime", func(ev *sysevent.Event) int64 { return ev.Proc.ExeMtime }),
		num("cap_effective", func(ev *sysevent.Event) int64 { return int64(ev.Proc.CapEffective) }),
		num("cap_permitted", func(ev *sysevent.Event) int64 { return int64(ev.Proc.CapPermitted) }),
		num("cap_inheritable", func(ev *sysevent.Event) int64 { return int64(ev.Proc.CapInheritable) }),
	)
	cloneSpecs = append(append([]argSpec{}, procSpecs...),
		flags("flags", cloneFlags, func(ev *sysevent.Event) uint64 { return ev.Flags }),
	)
	killSpecs = []argSpec{argRes,
		num("pid", func(ev *sysevent.Event) int64 { return ev.TargetPID }),
		named("sig", signals, func(ev *sysevent.Event) int64 { return int64(ev.Signal) }),
	}
)

// argSpecs are the arguments of each type, named as libsinsp names them.
var argSpecs = map[sysevent.Type][]argSpec{
	sysevent.SysOpen:    {argRetFD, path("name"), argOpenFlag, argMode},
	sysevent.SysOpenat:  {argRetFD, argDirFD, path("name"), argOpenFlag, argMode},
	sysevent.SysOpenat2: {argRetFD, argDirFD, path("name"), argOpenFlag, argMode},
	sysevent.SysCreat:   {argRetFD, path("name"), argMode, argOpenFlag},
	sysevent.SysClose:   {argRes, argFD},
	sysevent.SysDup:     {argRes, argFD},
	sysevent.SysDup2:    {argRes, dirfdAs("oldfd"), rawArg("newfd", 1)},
	sysevent.SysDup3: {argRes, dirfdAs("oldfd"), rawArg("newfd", 1),
		flags("flags", dup3Flags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysExecve:   execSpecs,
	sysevent.SysExecveat: append(append([]argSpec{}, execSpecs...), argDirFD),
	sysevent.SysClone:    cloneSpecs,
	sysevent.SysClone3:   cloneSpecs,
	sysevent.SysFork:     cloneSpecs,
	sysevent.SysVfork:    cloneSpecs,
	sysevent.SysSocket: {argRetFD,
		named("domain", socketFamilies, func(ev *sysevent.Event) int64 { return int64(ev.Sock.Family) }),
		named("type", socketTypes, func(ev *sysevent.Event) int64 { return int64(ev.Sock.Type) }),
		num("proto", func(ev *sysevent.Event) int64 { return int64(ev.Sock.Proto) })},
	sysevent.SysConnect: {argRes, argTuple, argFD},
	sysevent.SysAccept:  {argRetFD, argTuple},
	sysevent.SysAccept4: {argRetFD, argTuple, flags("flags", sockFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysBind:    {argRes, text("addr", func(ev *sysevent.Event) string { return ev.Sock.String() }), argFD},
	sysevent.SysListen:  {argRes, argFD, rawArg("backlog", 1)},
	sysevent.SysSendto:  {argRes, argFD, argTuple},
	// I/O on an fd: libsinsp's fd argument (the fd the call works on).
	sysevent.SysRead:     {argRes, argFD, rawArg("size", 2)},
	sysevent.SysWrite:    {argRes, argFD, rawArg("size", 2)},
	sysevent.SysPread64:  {argRes, argFD, rawArg("size", 2), rawArg("pos", 3)},
	sysevent.SysPwrite64: {argRes, argFD, rawArg("size", 2), rawArg("pos", 3)},
	sysevent.SysReadv:    {argRes, argFD},
	sysevent.SysWritev:   {argRes, argFD},
	sysevent.SysRecvfrom: {argRes, argFD, rawArg("size", 2), argTuple},
	sysevent.SysRecvmsg:  {argRes, argFD, argTuple},
	sysevent.SysFstat:    {argRes, argFD},
	sysevent.SysShutdown: {argRes, argFD, rawArg("how", 1)},
	sysevent.SysIoctl:    {argRes, argFD, num("request", func(ev *sysevent.Event) int64 { return ev.Request }), rawArg("argument", 2)},
	sysevent.SysSendfile: {argRes, outFD, num("in_fd", func(ev *sysevent.Event) int64 { return int64(int32(ev.Args[1])) }), rawArg("size", 3)},
	sysevent.SysSendmsg:  {argRes, argFD, argTuple},
	sysevent.SysSymlink:  {argRes, text("target", func(ev *sysevent.Event) string { return ev.Target }), path("linkpath")},
	sysevent.SysSymlinkat: {argRes, text("target", func(ev *sysevent.Event) string { return ev.Target }),
		dirfd("linkdirfd"), path("linkpath")},
	sysevent.SysLink: {argRes, path("oldpath"), path2("newpath")},
	sysevent.SysLinkat: {argRes, dirfd("olddir"), path("oldpath"), rawArg("newdir", 2), path2("newpath"),
		flags("flags", linkatFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysUnlink: {argRes, path("path")},
	sysevent.SysUnlinkat: {argRes, argDirFD, path("name"),
		flags("flags", unlinkatFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysRename:   {argRes, path("oldpath"), path2("newpath")},
	sysevent.SysRenameat: {argRes, dirfd("olddirfd"), path("oldpath"), rawArg("newdirfd", 2), path2("newpath")},
	sysevent.SysRenameat2: {argRes, dirfd("olddirfd"), path("oldpath"), rawArg("newdirfd", 2), path2("newpath"),
		flags("flags", renameFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysMkdir:    {argRes, path("path"), argMode},
	sysevent.SysMkdirat:  {argRes, argDirFD, path("path"), argMode},
	sysevent.SysRmdir:    {argRes, path("path")},
	sysevent.SysChmod:    {argRes, path("filename"), argChmodMode},
	sysevent.SysFchmod:   {argRes, argFD, argChmodMode},
	sysevent.SysFchmodat: {argRes, argDirFD, path("filename"), argChmodMode},
	sysevent.SysChown:    {argRes, path("path"), argUID, argGID},
	sysevent.SysLchown:   {argRes, path("path"), argUID, argGID},
	sysevent.SysFchown:   {argRes, argFD, argUID, argGID},
	sysevent.SysFchownat: {argRes, argDirFD, path("pathname"), argUID, argGID,
		flags("flags", atFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysSetuid:    {argRes, argUID},
	sysevent.SysSetgid:    {argRes, argGID},
	sysevent.SysSetfsuid:  {argRes, argUID},
	sysevent.SysSetfsgid:  {argRes, argGID},
	sysevent.SysSetreuid:  {argRes, rawArg("ruid", 0), rawArg("euid", 1)},
	sysevent.SysSetregid:  {argRes, rawArg("rgid", 0), rawArg("egid", 1)},
	sysevent.SysSetresuid: {argRes, rawArg("ruid", 0), rawArg("euid", 1), rawArg("suid", 2)},
	sysevent.SysSetresgid: {argRes, rawArg("rgid", 0), rawArg("egid", 1), rawArg("sgid", 2)},
	sysevent.SysCapset: {argRes,
		capArg("cap_inheritable", func(c *sysevent.ProcInfo) uint64 { return c.CapInheritable }),
		capArg("cap_permitted", func(c *sysevent.ProcInfo) uint64 { return c.CapPermitted }),
		capArg("cap_effective", func(c *sysevent.ProcInfo) uint64 { return c.CapEffective })},
	sysevent.SysPtrace: {argRes,
		named("request", ptraceRequests, func(ev *sysevent.Event) int64 { return ev.Request }),
		num("pid", func(ev *sysevent.Event) int64 { return ev.TargetPID })},
	sysevent.SysMemfdCreate: {argRetFD, text("name", func(ev *sysevent.Event) string { return ev.Name }),
		flags("flags", memfdFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysInitModule: {argRes, rawArg("length", 1), text("uargs", func(ev *sysevent.Event) string { return ev.Name })},
	sysevent.SysFinitModule: {argRes, argFD, text("uargs", func(ev *sysevent.Event) string { return ev.Name }),
		num("flags", func(ev *sysevent.Event) int64 { return int64(ev.Flags) })},
	sysevent.SysMount: {argRes, text("dev", func(ev *sysevent.Event) string { return ev.DevName }), path("dir"),
		text("type", func(ev *sysevent.Event) string { return ev.FSType }),
		flags("flags", mountFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysUmount2: {argRes, path("name"), flags("flags", umountFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysUnshare: {argRes, flags("flags", nsFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysSetns:   {argRes, argFD, flags("nstype", nsFlags, func(ev *sysevent.Event) uint64 { return ev.Flags })},
	sysevent.SysChdir:   {argRes, path("path")},
	sysevent.SysFchdir:  {argRes, argFD},
	sysevent.SysChroot:  {argRes, path("path")},
	sysevent.SysPrctl: {argRes, named("option", prctlOptions, func(ev *sysevent.Event) int64 { return ev.Request }),
		rawArg("arg2_int", 1)},
	sysevent.SysKill:  killSpecs,
	sysevent.SysTkill: {argRes, num("tid", func(ev *sysevent.Event) int64 { return ev.TargetPID }), killSpecs[2]},
	sysevent.SysTgkill: {argRes, rawArg("pid", 0), num("tid", func(ev *sysevent.Event) int64 { return ev.TargetPID }),
		killSpecs[2]},
	sysevent.SysBpf:       {argRetFD, named("cmd", bpfCommands, func(ev *sysevent.Event) int64 { return ev.Request })},
	sysevent.SysExit:      {rawArg("status", 0)},
	sysevent.SysExitGroup: {rawArg("status", 0)},
	sysevent.TypeProcExit: {
		num("status", func(ev *sysevent.Event) int64 { return ev.Ret }),
		num("ret", func(ev *sysevent.Event) int64 { return (ev.Ret >> 8) & 0xff }),
		named("sig", signals, func(ev *sysevent.Event) int64 { return ev.Ret & 0x7f }),
		num("core", func(ev *sysevent.Event) int64 { return (ev.Ret >> 7) & 1 }),
	},
}

func dirfdAs(name string) argSpec { return num(name, func(ev *sysevent.Event) int64 { return ev.FD }) }

func capArg(name string, f func(*sysevent.ProcInfo) uint64) argSpec {
	return argSpec{
		name: name,
		str: func(ev *sysevent.Event) (string, bool) {
			if ev.Has&sysevent.HasCreds == 0 {
				return "", false
			}
			return formatCaps(f(&ev.Proc)), true
		},
		raw: func(ev *sysevent.Event) (int64, bool) {
			return int64(f(&ev.Proc)), ev.Has&sysevent.HasCreds != 0
		},
	}
}
