package syscallfields

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

var hostname = func() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}()

func addEvtFields(r *fields.Registry) {
	r.MustAdd(
		uintField("evt.num", "event number, in capture order", fields.KindUint, func(ev *sysevent.Event) (uint64, bool) {
			return ev.Num, true
		}),
		strField("evt.type", "event type (the syscall name, or procexit)", func(ev *sysevent.Event) (string, bool) {
			return ev.Type.String(), true
		}),
		strField("evt.dir", "event direction: > for enter events, < for exit events", func(ev *sysevent.Event) (string, bool) {
			return evtDir(ev), true
		}),
		intField("evt.cpu", "number of the CPU where the event happened", fields.KindInt, func(ev *sysevent.Event) (int64, bool) {
			return int64(ev.CPU), true
		}),
		intField("evt.rawtime", "event timestamp, ns since the epoch", fields.KindAbsTime, func(ev *sysevent.Event) (int64, bool) {
			return ev.Time, true
		}),
		uintField("evt.rawtime.s", "integer part of the event timestamp in seconds", fields.KindUint, func(ev *sysevent.Event) (uint64, bool) {
			return uint64(ev.Time / 1e9), true
		}),
		uintField("evt.rawtime.ns", "fractional part of the event timestamp in ns", fields.KindUint, func(ev *sysevent.Event) (uint64, bool) {
			return uint64(ev.Time % 1e9), true
		}),
		strField("evt.time", "event timestamp as a time of day with nanoseconds (UTC)", func(ev *sysevent.Event) (string, bool) {
			t := time.Unix(0, ev.Time).UTC()
			return t.Format("15:04:05.") + fmt.Sprintf("%09d", t.Nanosecond()), true
		}),
		strField("evt.time.s", "event timestamp as a time of day (UTC)", func(ev *sysevent.Event) (string, bool) {
			return time.Unix(0, ev.Time).UTC().Format("15:04:05"), true
		}),
		strField("evt.time.iso8601", "event timestamp in ISO 8601 with nanoseconds", func(ev *sysevent.Event) (string, bool) {
			return time.Unix(0, ev.Time).UTC().Format("2006-01-02T15:04:05.000000000Z"), true
		}),
		strField("evt.datetime", "event timestamp as date and time with nanoseconds (UTC)", func(ev *sysevent.Event) (string, bool) {
			return time.Unix(0, ev.Time).UTC().Format("2006-01-02 15:04:05.000000000"), true
		}),
		strField("evt.datetime.s", "event timestamp as date and time (UTC)", func(ev *sysevent.Event) (string, bool) {
			return time.Unix(0, ev.Time).UTC().Format("2006-01-02 15:04:05"), true
		}),
		strField("evt.hostname", "hostname of the machine the event came from", func(ev *sysevent.Event) (string, bool) {
			return hostname, hostname != ""
		}),
		strField("evt.source", "event source (syscall)", func(ev *sysevent.Event) (string, bool) {
			return Source, true
		}),
		strField("evt.res", "result as a string: SUCCESS or the error name (ENOENT)", func(ev *sysevent.Event) (string, bool) {
			if !hasResult(ev) {
				return "", false
			}
			if ev.Ret < 0 {
				return errnoName(ev.Ret), true
			}
			return "SUCCESS", true
		}),
		intField("evt.rawres", "result as a number (-errno on failure)", fields.KindInt, func(ev *sysevent.Event) (int64, bool) {
			return ev.Ret, hasResult(ev)
		}),
		boolField("evt.failed", "true for events that returned an error", func(ev *sysevent.Event) (bool, bool) {
			return hasResult(ev) && ev.Ret < 0, true
		}),
		boolField("evt.is_open_read", "true for open/openat/openat2/creat events whose flags allow reading", func(ev *sysevent.Event) (bool, bool) {
			return isOpen(ev.Type) && ev.Flags&oAccMode != oWronly, true
		}),
		boolField("evt.is_open_write", "true for open/openat/openat2/creat events whose flags allow writing", func(ev *sysevent.Event) (bool, bool) {
			return isOpen(ev.Type) && ev.Flags&oAccMode != 0, true
		}),
		boolField("evt.is_open_exec", "true for open events that create a file with execute permission", func(ev *sysevent.Event) (bool, bool) {
			return isOpen(ev.Type) && ev.Flags&(oCreat|oTmpfile) != 0 && ev.Mode&0o111 != 0, true
		}),
		boolField("evt.is_open_create", "true for open events that may create the file (O_CREAT or O_TMPFILE)", func(ev *sysevent.Event) (bool, bool) {
			return isOpen(ev.Type) && ev.Flags&(oCreat|oTmpfile) != 0, true
		}),
		strField("evt.abspath", "absolute path of the file the event operates on", func(ev *sysevent.Event) (string, bool) {
			return nonEmpty(ev.Path)
		}),
		strField("evt.abspath.src", "absolute source path of rename/link events", func(ev *sysevent.Event) (string, bool) {
			if !isTwoPath(ev.Type) {
				return "", false
			}
			return nonEmpty(ev.Path)
		}),
		strField("evt.abspath.dst", "absolute destination path of rename/link events", func(ev *sysevent.Event) (string, bool) {
			if !isTwoPath(ev.Type) {
				return "", false
			}
			return nonEmpty(ev.Path2)
		}),
		strField("evt.args", "all event arguments as name=value pairs", func(ev *sysevent.Event) (string, bool) {
			return formatArgs(ev), true
		}),
		strField("evt.info", "event arguments as name=value pairs (as evt.args)", func(ev *sysevent.Event) (string, bool) {
			return formatArgs(ev), true
		}),
		fields.Def{Name: "evt.arg", Kind: fields.KindString, Arg: fields.ArgRequired, DotArg: true,
			Desc: "one argument by name (evt.arg.flags) or position (evt.arg[0]), formatted as libsinsp does",
			Bind: bindArg(false)},
		// The capture records no I/O payloads yet: evt.buffer and
		// evt.buflen exist so that rules using them load (as Falco loads
		// them) and have no value, like libsinsp's fields on events
		// without a buffer.
		fields.Def{Name: "evt.buffer", Kind: fields.KindBytes, Desc: "the binary data buffer of I/O events (read, write, send, recv families); not captured by Harrier yet",
			Bind: noArg(func(fields.Event, *fields.Value) bool { return false })},
		uintField("evt.buflen", "length of the binary data buffer of I/O events; not captured by Harrier yet", fields.KindUint, func(*sysevent.Event) (uint64, bool) {
			return 0, false
		}),
		fields.Def{Name: "evt.rawarg", Kind: fields.KindInt, Arg: fields.ArgRequired, DotArg: true,
			Desc: "one numeric argument by name, unformatted (evt.rawarg.res)",
			Bind: bindArg(true)},
	)
}

func evtDir(ev *sysevent.Event) string {
	switch ev.Type {
	case sysevent.TypeProcExit, sysevent.SysExit, sysevent.SysExitGroup:
		return ">" // these are recorded on entry: they never return
	}
	return "<"
}

// hasResult reports whether the event carries a syscall result.
func hasResult(ev *sysevent.Event) bool {
	switch ev.Type {
	case sysevent.TypeProcExit, sysevent.SysExit, sysevent.SysExitGroup:
		return false
	}
	return ev.Type.IsSyscall()
}

func isOpen(t sysevent.Type) bool {
	switch t {
	case sysevent.SysOpen, sysevent.SysOpenat, sysevent.SysOpenat2, sysevent.SysCreat:
		return true
	}
	return false
}

func isTwoPath(t sysevent.Type) bool {
	switch t {
	case sysevent.SysRename, sysevent.SysRenameat, sysevent.SysRenameat2, sysevent.SysLink, sysevent.SysLinkat:
		return true
	}
	return false
}

// bindArg binds evt.arg / evt.rawarg: the argument is resolved for every
// event type at load time, so that extraction is an array index.
func bindArg(raw bool) func(string) (fields.Extract, error) {
	return func(arg string) (fields.Extract, error) {
		if arg == "" {
			return nil, fmt.Errorf("needs an argument name or index, e.g. evt.arg.flags or evt.arg[0]")
		}
		idx := make([]int8, sysevent.NumTypes)
		byPos := -1
		if n, err := strconv.Atoi(arg); err == nil {
			if n < 0 || n > 15 {
				return nil, fmt.Errorf("bad argument index %d", n)
			}
			byPos = n
		}
		found := false
		for t := range idx {
			idx[t] = -1
			specs := argTable[t]
			for i, s := range specs {
				if (byPos >= 0 && i == byPos) || (byPos < 0 && s.name == arg) {
					if raw && s.raw == nil {
						continue
					}
					idx[t] = int8(i)
					found = true
					break
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("no event type has an argument %q", arg)
		}
		if raw {
			return func(e fields.Event, out *fields.Value) bool {
				ev := asEvent(e)
				if ev == nil || int(ev.Type) >= len(idx) || idx[ev.Type] < 0 {
					return false
				}
				n, ok := argTable[ev.Type][idx[ev.Type]].raw(ev)
				out.Kind, out.Int = fields.KindInt, n
				return ok
			}, nil
		}
		return func(e fields.Event, out *fields.Value) bool {
			ev := asEvent(e)
			if ev == nil || int(ev.Type) >= len(idx) || idx[ev.Type] < 0 {
				return false
			}
			s, ok := argTable[ev.Type][idx[ev.Type]].str(ev)
			out.Kind, out.Str = fields.KindString, s
			return ok
		}, nil
	}
}

// formatArgs renders every argument as libsinsp's evt.args does
// ("res=0 name=/etc/passwd ..."), skipping arguments without a value.
func formatArgs(ev *sysevent.Event) string {
	if int(ev.Type) >= len(argTable) {
		return ""
	}
	var b strings.Builder
	for _, s := range argTable[ev.Type] {
		v, ok := s.str(ev)
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.name)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}
