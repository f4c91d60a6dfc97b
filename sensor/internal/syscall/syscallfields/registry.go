// Package syscallfields is the field registry of the "syscall" source: the
// evt.*, proc.*, thread.*, user.*, group.*, fd.*, container.* and k8s.*
// fields of Falco's libsinsp, read from a *sysevent.Event and the process
// and fd state the process table attached to it (Event.Thread,
// Event.FDInfo).
//
// Extraction reads strings that were built once (per exec, per fd, per
// flag combination) so that the common fields do not allocate.
package syscallfields

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Source is the name of the event source these fields belong to.
const Source = "syscall"

var (
	regOnce sync.Once
	reg     *fields.Registry
)

// Registry returns the syscall field registry. It is built once and shared;
// callers must not add to it.
func Registry() *fields.Registry {
	regOnce.Do(func() {
		reg = fields.NewRegistry(Source, "evt.type", sysevent.Names)
		addEvtFields(reg)
		addProcFields(reg)
		addUserFields(reg)
		addFDFields(reg)
		addContainerFields(reg)
		addTypeAliases(reg)
		reg.MustAdd(fields.SensorDefs()...)
	})
	return reg
}

// asEvent returns the syscall event behind e, or nil for another source.
func asEvent(e fields.Event) *sysevent.Event {
	ev, _ := e.(*sysevent.Event)
	return ev
}

// Extractors of one kind, written against the concrete event type.
type (
	strFn  func(ev *sysevent.Event) (string, bool)
	intFn  func(ev *sysevent.Event) (int64, bool)
	uintFn func(ev *sysevent.Event) (uint64, bool)
	boolFn func(ev *sysevent.Event) (bool, bool)
)

func noArg(ex fields.Extract) func(string) (fields.Extract, error) {
	return func(arg string) (fields.Extract, error) {
		if arg != "" {
			return nil, fmt.Errorf("field takes no argument (got %q)", arg)
		}
		return ex, nil
	}
}

func strField(name, desc string, f strFn) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindString, Desc: desc, Bind: noArg(strExtract(f))}
}

func strExtract(f strFn) fields.Extract {
	return func(e fields.Event, out *fields.Value) bool {
		ev := asEvent(e)
		if ev == nil {
			return false
		}
		s, ok := f(ev)
		out.Kind, out.Str = fields.KindString, s
		return ok
	}
}

func intField(name, desc string, kind fields.Kind, f intFn) fields.Def {
	return fields.Def{Name: name, Kind: kind, Desc: desc, Bind: noArg(intExtract(kind, f))}
}

func intExtract(kind fields.Kind, f intFn) fields.Extract {
	return func(e fields.Event, out *fields.Value) bool {
		ev := asEvent(e)
		if ev == nil {
			return false
		}
		n, ok := f(ev)
		out.Kind, out.Int = kind, n
		return ok
	}
}

func uintField(name, desc string, kind fields.Kind, f uintFn) fields.Def {
	return fields.Def{Name: name, Kind: kind, Desc: desc, Bind: noArg(uintExtract(kind, f))}
}

func uintExtract(kind fields.Kind, f uintFn) fields.Extract {
	return func(e fields.Event, out *fields.Value) bool {
		ev := asEvent(e)
		if ev == nil {
			return false
		}
		n, ok := f(ev)
		out.Kind, out.Uint = kind, n
		return ok
	}
}

func boolField(name, desc string, f boolFn) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindBool, Desc: desc, Bind: noArg(func(e fields.Event, out *fields.Value) bool {
		ev := asEvent(e)
		if ev == nil {
			return false
		}
		b, ok := f(ev)
		out.Kind, out.Bool = fields.KindBool, b
		return ok
	})}
}

// parseIndex parses an ancestor index argument ("2" in proc.aname[2]).
func parseIndex(arg string) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 || n > sysevent.MaxAncestors {
		return 0, fmt.Errorf("bad index %q: want an integer from 0 to %d", arg, sysevent.MaxAncestors)
	}
	return n, nil
}

// image returns the event's process exec image, or nil.
func image(ev *sysevent.Event) *sysevent.Image {
	if ev.Thread == nil {
		return nil
	}
	return ev.Thread.Image()
}

func nonEmpty(s string) (string, bool) { return s, s != "" }
