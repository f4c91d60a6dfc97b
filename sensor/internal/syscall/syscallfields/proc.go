package syscallfields

import (
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func addProcFields(r *fields.Registry) {
	r.MustAdd(
		procStr("proc.name", "process name (task comm, at most 15 characters)", func(t *sysevent.Thread) (string, bool) {
			return nonEmpty(t.Image().Comm)
		}),
		procStr("proc.exe", "first command-line argument (argv[0])", func(t *sysevent.Thread) (string, bool) {
			return nonEmpty(t.Image().Exe)
		}),
		procStr("proc.exepath", "full path of the executable", func(t *sysevent.Thread) (string, bool) {
			return nonEmpty(t.Image().ExePath)
		}),
		procStr("proc.args", "command-line arguments without argv[0]", func(t *sysevent.Thread) (string, bool) {
			return t.Image().ArgsLine, true
		}),
		procStr("proc.cmdline", "proc.name and proc.args", func(t *sysevent.Thread) (string, bool) {
			return nonEmpty(t.Image().Cmdline)
		}),
		procStr("proc.exeline", "proc.exe and proc.args", func(t *sysevent.Thread) (string, bool) {
			im := t.Image()
			if im.ArgsLine == "" {
				return nonEmpty(im.Exe)
			}
			return im.Exe + " " + im.ArgsLine, true
		}),
		procUint("proc.cmdnargs", "number of command-line arguments (proc.args)", func(t *sysevent.Thread) (uint64, bool) {
			return uint64(len(t.Image().Args)), true
		}),
		procUint("proc.cmdlenargs", "total length of the command-line arguments, without separators", func(t *sysevent.Thread) (uint64, bool) {
			n := 0
			for _, a := range t.Image().Args {
				n += len(a)
			}
			return uint64(n), true
		}),
		procStr("proc.cwd", "current working directory, with a trailing slash", func(t *sysevent.Thread) (string, bool) {
			return nonEmpty(t.Cwd)
		}),
		fields.Def{Name: "proc.env", Kind: fields.KindString, Arg: fields.ArgOptional,
			Desc: "environment as 'K=V K=V', or one variable's value with proc.env[NAME]",
			Bind: bindEnv},
		intField("proc.pid", "process id (thread group id)", fields.KindInt, func(ev *sysevent.Event) (int64, bool) {
			return int64(ev.PID), true
		}),
		procInt("proc.ppid", "parent process id", func(t *sysevent.Thread) (int64, bool) {
			p := t.PPid()
			return p, p > 0 || t.Pid == 1
		}),
		procInt("proc.vpid", "process id in its own pid namespace", func(t *sysevent.Thread) (int64, bool) {
			return t.VPid, t.VPid > 0
		}),
		procInt("proc.pvpid", "parent's process id in its own pid namespace", func(t *sysevent.Thread) (int64, bool) {
			if p := t.Parent(); p != nil && p.VPid > 0 {
				return p.VPid, true
			}
			return 0, false
		}),
		procInt("proc.sid", "session id", func(t *sysevent.Thread) (int64, bool) { return t.Sid(), true }),
		procInt("proc.vpgid", "process group id", func(t *sysevent.Thread) (int64, bool) { return t.VPgid(), true }),
		procStr("proc.sname", "name of the session leader", func(t *sysevent.Thread) (string, bool) {
			return leaderStr(t, sessionOf, func(im *sysevent.Image) string { return im.Comm })
		}),
		procStr("proc.sid.exe", "argv[0] of the session leader", func(t *sysevent.Thread) (string, bool) {
			return leaderStr(t, sessionOf, func(im *sysevent.Image) string { return im.Exe })
		}),
		procStr("proc.sid.exepath", "executable path of the session leader", func(t *sysevent.Thread) (string, bool) {
			return leaderStr(t, sessionOf, func(im *sysevent.Image) string { return im.ExePath })
		}),
		procStr("proc.vpgid.name", "name of the process group leader", func(t *sysevent.Thread) (string, bool) {
			return leaderStr(t, groupOf, func(im *sysevent.Image) string { return im.Comm })
		}),
		procStr("proc.vpgid.exe", "argv[0] of the process group leader", func(t *sysevent.Thread) (string, bool) {
			return leaderStr(t, groupOf, func(im *sysevent.Image) string { return im.Exe })
		}),
		procStr("proc.vpgid.exepath", "executable path of the process group leader", func(t *sysevent.Thread) (string, bool) {
			return leaderStr(t, groupOf, func(im *sysevent.Image) string { return im.ExePath })
		}),
		procBool("proc.is_sid_leader", "true if the process leads its session", func(t *sysevent.Thread) (bool, bool) {
			return t.Sid() == t.Pid, true
		}),
		procBool("proc.is_vpgid_leader", "true if the process leads its process group", func(t *sysevent.Thread) (bool, bool) {
			return t.VPgid() == t.Pid, true
		}),
		procUint("proc.tty", "controlling terminal, 0 for none", func(t *sysevent.Thread) (uint64, bool) {
			return uint64(t.TTY), true
		}),
		procInt("proc.loginshellid", "pid of the eldest shell among the ancestors", func(t *sysevent.Thread) (int64, bool) {
			var pid int64
			found := false
			for cur, i := t, 0; cur != nil && i <= sysevent.MaxAncestors; cur, i = cur.Parent(), i+1 {
				if shells[cur.Image().Comm] {
					pid, found = cur.Pid, true
				}
			}
			return pid, found
		}),
		evtProc("proc.duration", "ns since the process started", fields.KindRelTime, func(ev *sysevent.Event, t *sysevent.Thread) (int64, bool) {
			return since(ev, t)
		}),
		evtProc("proc.ppid.duration", "ns since the parent started", fields.KindRelTime, func(ev *sysevent.Event, t *sysevent.Thread) (int64, bool) {
			return since(ev, t.Parent())
		}),
		procIntKind("proc.pid.ts", "process start time, ns since the epoch", fields.KindAbsTime, func(t *sysevent.Thread) (int64, bool) {
			return t.StartTime, t.StartTime > 0
		}),
		procIntKind("proc.ppid.ts", "parent start time, ns since the epoch", fields.KindAbsTime, func(t *sysevent.Thread) (int64, bool) {
			if p := t.Parent(); p != nil && p.StartTime > 0 {
				return p.StartTime, true
			}
			return 0, false
		}),
		procBool("proc.is_exe_writable", "true if the executable is writable by the process's user", func(t *sysevent.Thread) (bool, bool) {
			return t.Image().ExeWritable, true
		}),
		procBool("proc.is_exe_upper_layer", "true if the executable is in an overlayfs upper layer", func(t *sysevent.Thread) (bool, bool) {
			return t.Image().ExeUpperLayer, true
		}),
		procBool("proc.is_exe_from_memfd", "true if the executable is a memfd (fileless execution)", func(t *sysevent.Thread) (bool, bool) {
			return t.Image().ExeFromMemfd, true
		}),
		procInt("proc.exe_ino", "inode of the executable", func(t *sysevent.Thread) (int64, bool) {
			ino := t.Image().ExeIno
			return int64(ino), ino != 0
		}),
		procIntKind("proc.exe_ino.ctime", "ctime of the executable, ns since the epoch", fields.KindAbsTime, func(t *sysevent.Thread) (int64, bool) {
			c := t.Image().ExeCtime
			return c, c != 0
		}),
		procIntKind("proc.exe_ino.mtime", "mtime of the executable, ns since the epoch", fields.KindAbsTime, func(t *sysevent.Thread) (int64, bool) {
			m := t.Image().ExeMtime
			return m, m != 0
		}),
		procIntKind("proc.exe_ino.ctime_duration_proc_start", "ns between the executable's ctime and the process start", fields.KindAbsTime, func(t *sysevent.Thread) (int64, bool) {
			c := t.Image().ExeCtime
			if c == 0 || t.StartTime == 0 || t.StartTime < c {
				return 0, false
			}
			return t.StartTime - c, true
		}),
		procInt("proc.nthreads", "number of live threads of the process", func(t *sysevent.Thread) (int64, bool) {
			return int64(t.Threads.Load()), true
		}),
		procInt("proc.nchilds", "number of live child processes", func(t *sysevent.Thread) (int64, bool) {
			return int64(t.Children.Load()), true
		}),
		boolField("proc.is_container_healthcheck", "true for a container health check (not detected: always false)", func(ev *sysevent.Event) (bool, bool) {
			return false, true
		}),
		boolField("proc.is_container_liveness_probe", "true for a Kubernetes liveness probe (not detected: always false)", func(ev *sysevent.Event) (bool, bool) {
			return false, true
		}),
		boolField("proc.is_container_readiness_probe", "true for a Kubernetes readiness probe (not detected: always false)", func(ev *sysevent.Event) (bool, bool) {
			return false, true
		}),

		// Parent and ancestors.
		parentStr("proc.pname", "parent's name", func(t *sysevent.Thread) string { return t.Image().Comm }),
		parentStr("proc.pexe", "parent's argv[0]", func(t *sysevent.Thread) string { return t.Image().Exe }),
		parentStr("proc.pexepath", "parent's executable path", func(t *sysevent.Thread) string { return t.Image().ExePath }),
		parentStr("proc.pcmdline", "parent's command line", func(t *sysevent.Thread) string { return t.Image().Cmdline }),
		ancestorStr("proc.aname", "name of an ancestor (proc.aname[1] is the parent); without index, any ancestor",
			func(t *sysevent.Thread) string { return t.Image().Comm }),
		ancestorStr("proc.aexe", "argv[0] of an ancestor", func(t *sysevent.Thread) string { return t.Image().Exe }),
		ancestorStr("proc.aexepath", "executable path of an ancestor", func(t *sysevent.Thread) string { return t.Image().ExePath }),
		ancestorStr("proc.acmdline", "command line of an ancestor", func(t *sysevent.Thread) string { return t.Image().Cmdline }),
		fields.Def{Name: "proc.apid", Kind: fields.KindInt, List: true, Arg: fields.ArgOptional, ArgKind: fields.ArgIndex,
			Desc: "pid of an ancestor (proc.apid[1] is the parent); without index, any ancestor",
			Bind: bindAPid},

		stdFD("proc.stdin.type", "type of the process's fd 0", 0, func(f *sysevent.FD) string { return f.Type.String() }),
		stdFD("proc.stdin.name", "name of the process's fd 0", 0, func(f *sysevent.FD) string { return f.Name }),
		stdFD("proc.stdout.type", "type of the process's fd 1", 1, func(f *sysevent.FD) string { return f.Type.String() }),
		stdFD("proc.stdout.name", "name of the process's fd 1", 1, func(f *sysevent.FD) string { return f.Name }),
		stdFD("proc.stderr.type", "type of the process's fd 2", 2, func(f *sysevent.FD) string { return f.Type.String() }),
		stdFD("proc.stderr.name", "name of the process's fd 2", 2, func(f *sysevent.FD) string { return f.Name }),
		// Threads.
		intField("thread.tid", "thread id", fields.KindInt, func(ev *sysevent.Event) (int64, bool) {
			return int64(ev.TID), true
		}),
		intField("thread.vtid", "thread id in its own pid namespace", fields.KindInt, func(ev *sysevent.Event) (int64, bool) {
			if ev.Proc.VTID != 0 {
				return int64(ev.Proc.VTID), true
			}
			if t := ev.Thread; t != nil && ev.TID == ev.PID && t.VPid > 0 {
				return t.VPid, true
			}
			return 0, false
		}),
		boolField("thread.ismain", "true for the main thread of the process", func(ev *sysevent.Event) (bool, bool) {
			return ev.TID == ev.PID, true
		}),
		procStr("thread.cap_effective", "effective capabilities, space separated", func(t *sysevent.Thread) (string, bool) {
			return formatCaps(t.Creds.CapEffective), true
		}),
		procStr("thread.cap_permitted", "permitted capabilities, space separated", func(t *sysevent.Thread) (string, bool) {
			return formatCaps(t.Creds.CapPermitted), true
		}),
		procStr("thread.cap_inheritable", "inheritable capabilities, space separated", func(t *sysevent.Thread) (string, bool) {
			return formatCaps(t.Creds.CapInheritable), true
		}),
	)
}

var shells = map[string]bool{
	"ash": true, "bash": true, "csh": true, "ksh": true, "sh": true, "tcsh": true, "zsh": true,
	"dash": true, "fish": true,
}

func since(ev *sysevent.Event, t *sysevent.Thread) (int64, bool) {
	if t == nil || t.StartTime == 0 || ev.Time < t.StartTime {
		return 0, false
	}
	return ev.Time - t.StartTime, true
}

func sessionOf(t *sysevent.Thread) int64 { return t.Sid() }
func groupOf(t *sysevent.Thread) int64   { return t.VPgid() }

// leaderStr finds the leader of t's session or process group as libsinsp
// does: the process whose pid is the id, or else the eldest ancestor that
// still shares the id.
func leaderStr(t *sysevent.Thread, id func(*sysevent.Thread) int64, get func(*sysevent.Image) string) (string, bool) {
	want := id(t)
	var leader *sysevent.Thread
	for cur, i := t, 0; cur != nil && i <= sysevent.MaxAncestors; cur, i = cur.Parent(), i+1 {
		if id(cur) != want {
			break
		}
		leader = cur
		if cur.Pid == want {
			break
		}
	}
	if leader == nil {
		return "", false
	}
	return nonEmpty(get(leader.Image()))
}

func stdFD(name, desc string, num int64, get func(*sysevent.FD) string) fields.Def {
	return procStr(name, desc, func(t *sysevent.Thread) (string, bool) {
		f := t.FDs.Get(num)
		if f == nil {
			return "", false
		}
		return nonEmpty(get(f))
	})
}

func procStr(name, desc string, f func(t *sysevent.Thread) (string, bool)) fields.Def {
	return strField(name, desc, func(ev *sysevent.Event) (string, bool) {
		if ev.Thread == nil {
			return "", false
		}
		return f(ev.Thread)
	})
}

func procInt(name, desc string, f func(t *sysevent.Thread) (int64, bool)) fields.Def {
	return procIntKind(name, desc, fields.KindInt, f)
}

func procIntKind(name, desc string, kind fields.Kind, f func(t *sysevent.Thread) (int64, bool)) fields.Def {
	return intField(name, desc, kind, func(ev *sysevent.Event) (int64, bool) {
		if ev.Thread == nil {
			return 0, false
		}
		return f(ev.Thread)
	})
}

func evtProc(name, desc string, kind fields.Kind, f func(ev *sysevent.Event, t *sysevent.Thread) (int64, bool)) fields.Def {
	return intField(name, desc, kind, func(ev *sysevent.Event) (int64, bool) {
		if ev.Thread == nil {
			return 0, false
		}
		return f(ev, ev.Thread)
	})
}

func procUint(name, desc string, f func(t *sysevent.Thread) (uint64, bool)) fields.Def {
	return uintField(name, desc, fields.KindUint, func(ev *sysevent.Event) (uint64, bool) {
		if ev.Thread == nil {
			return 0, false
		}
		return f(ev.Thread)
	})
}

func procBool(name, desc string, f func(t *sysevent.Thread) (bool, bool)) fields.Def {
	return boolField(name, desc, func(ev *sysevent.Event) (bool, bool) {
		if ev.Thread == nil {
			return false, false
		}
		return f(ev.Thread)
	})
}

func parentStr(name, desc string, get func(t *sysevent.Thread) string) fields.Def {
	return procStr(name, desc, func(t *sysevent.Thread) (string, bool) {
		p := t.Parent()
		if p == nil {
			return "", false
		}
		return nonEmpty(get(p))
	})
}

// ancestorStr is a proc.a* field: with an index, that ancestor (0 = the
// process itself); without, the list of every ancestor from the parent up,
// which conditions match if any element matches.
func ancestorStr(name, desc string, get func(t *sysevent.Thread) string) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindString, List: true, Arg: fields.ArgOptional, ArgKind: fields.ArgIndex, Desc: desc,
		Bind: func(arg string) (fields.Extract, error) {
			if arg == "" {
				return func(e fields.Event, out *fields.Value) bool {
					ev := asEvent(e)
					if ev == nil || ev.Thread == nil {
						return false
					}
					out.Kind, out.IsList, out.Strs = fields.KindString, true, out.Strs[:0]
					for cur, i := ev.Thread.Parent(), 0; cur != nil && i < sysevent.MaxAncestors; cur, i = cur.Parent(), i+1 {
						out.Strs = append(out.Strs, get(cur))
					}
					return len(out.Strs) > 0
				}, nil
			}
			n, err := parseIndex(arg)
			if err != nil {
				return nil, err
			}
			return func(e fields.Event, out *fields.Value) bool {
				ev := asEvent(e)
				if ev == nil || ev.Thread == nil {
					return false
				}
				a := ev.Thread.Ancestor(n)
				if a == nil {
					return false
				}
				out.Kind, out.Str = fields.KindString, get(a)
				return out.Str != ""
			}, nil
		}}
}

func bindAPid(arg string) (fields.Extract, error) {
	if arg == "" {
		return func(e fields.Event, out *fields.Value) bool {
			ev := asEvent(e)
			if ev == nil || ev.Thread == nil {
				return false
			}
			out.Kind, out.IsList, out.Ints = fields.KindInt, true, out.Ints[:0]
			for cur, i := ev.Thread.Parent(), 0; cur != nil && i < sysevent.MaxAncestors; cur, i = cur.Parent(), i+1 {
				out.Ints = append(out.Ints, cur.Pid)
			}
			return len(out.Ints) > 0
		}, nil
	}
	n, err := parseIndex(arg)
	if err != nil {
		return nil, err
	}
	return func(e fields.Event, out *fields.Value) bool {
		ev := asEvent(e)
		if ev == nil || ev.Thread == nil {
			return false
		}
		if n == 0 {
			out.Kind, out.Int = fields.KindInt, int64(ev.PID)
			return true
		}
		a := ev.Thread.Ancestor(n)
		if a == nil {
			if n == 1 && ev.Thread.PPid() > 0 {
				out.Kind, out.Int = fields.KindInt, ev.Thread.PPid()
				return true
			}
			return false
		}
		out.Kind, out.Int = fields.KindInt, a.Pid
		return true
	}, nil
}

func bindEnv(arg string) (fields.Extract, error) {
	if arg == "" {
		return strExtract(func(ev *sysevent.Event) (string, bool) {
			im := image(ev)
			if im == nil || len(im.Env) == 0 {
				return "", false
			}
			return strings.Join(im.Env, " "), true
		}), nil
	}
	return strExtract(func(ev *sysevent.Event) (string, bool) {
		im := image(ev)
		if im == nil {
			return "", false
		}
		return im.EnvValue(arg)
	}), nil
}
