package k8saudit

import (
	"fmt"
	"os"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// evtDefs are libsinsp's generic event fields, which Falco offers on every
// source (plugin events included): rules and outputs of the k8s_audit
// source may use evt.time, evt.hostname, evt.source and the like. Times
// are written as the syscall source writes them (UTC).
func evtDefs() []fields.Def {
	host, _ := os.Hostname()
	str := func(name, desc string, get func(e *Event) (string, bool)) fields.Def {
		return fields.Def{Name: name, Kind: fields.KindString, Desc: desc, Bind: noArg(func(e *Event, out *fields.Value) bool {
			s, ok := get(e)
			return ok && setStr(out, s)
		})}
	}
	timed := func(name, desc string, f func(t time.Time) string) fields.Def {
		return str(name, desc, func(e *Event) (string, bool) {
			if e.time.IsZero() {
				return "", false
			}
			return f(e.time.UTC()), true
		})
	}
	num := func(name, desc string, kind fields.Kind, get func(t time.Time) int64) fields.Def {
		return fields.Def{Name: name, Kind: kind, Desc: desc, Bind: noArg(func(e *Event, out *fields.Value) bool {
			if e.time.IsZero() {
				return false
			}
			v := get(e.time)
			out.IsList = false
			out.Kind = kind
			if kind == fields.KindUint {
				out.Uint = uint64(v)
			} else {
				out.Int = v
			}
			return true
		})}
	}
	return []fields.Def{
		timed("evt.time", "event timestamp as a time of day with nanoseconds (UTC)", func(t time.Time) string {
			return t.Format("15:04:05.") + fmt.Sprintf("%09d", t.Nanosecond())
		}),
		timed("evt.time.s", "event timestamp as a time of day (UTC)", func(t time.Time) string { return t.Format("15:04:05") }),
		timed("evt.time.iso8601", "event timestamp in ISO 8601 with nanoseconds", func(t time.Time) string {
			return t.Format("2006-01-02T15:04:05.000000000Z")
		}),
		timed("evt.datetime", "event timestamp as date and time with nanoseconds (UTC)", func(t time.Time) string {
			return t.Format("2006-01-02 15:04:05.000000000")
		}),
		timed("evt.datetime.s", "event timestamp as date and time (UTC)", func(t time.Time) string { return t.Format("2006-01-02 15:04:05") }),
		num("evt.rawtime", "event timestamp, ns since the epoch", fields.KindAbsTime, func(t time.Time) int64 { return t.UnixNano() }),
		num("evt.rawtime.s", "integer part of the event timestamp in seconds", fields.KindUint, func(t time.Time) int64 { return t.Unix() }),
		num("evt.rawtime.ns", "fractional part of the event timestamp in ns", fields.KindUint, func(t time.Time) int64 { return int64(t.Nanosecond()) }),
		str("evt.hostname", "hostname of the machine that received the event", func(*Event) (string, bool) { return host, host != "" }),
		str("evt.source", "event source (k8s_audit)", func(*Event) (string, bool) { return Source, true }),
		str("evt.pluginname", "name of the Falco plugin whose events these are (k8saudit)", func(*Event) (string, bool) { return "k8saudit", true }),
		str("evt.type", "event type: pluginevent, as libsinsp names plugin events", func(*Event) (string, bool) { return "pluginevent", true }),
	}
}
