package filter

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// tev is the tiny event the tests' registry reads.
type tev struct {
	typ      uint16
	name     string
	pname    string
	cmdline  string
	argv     []string
	anc      []string // ancestors' names, parent first
	apids    []int64
	pid      int64
	fdname   string
	hasFD    bool
	sip      netip.Addr
	cip      netip.Addr
	sport    uint16
	failed   bool
	buf      []byte
	latency  int64
	flags    uint64
	env      map[string]string
	args     map[string]string
	images   []string
	priv     []bool
	hasImage bool
}

func (*tev) Source() string   { return "test" }
func (e *tev) TypeID() uint16 { return e.typ }
func ev(e tev) *tev           { return &e }
func str(f func(*tev) string) func(string) (fields.Extract, error) {
	return func(string) (fields.Extract, error) {
		return func(e fields.Event, out *fields.Value) bool {
			out.Kind, out.IsList, out.Str = fields.KindString, false, f(e.(*tev))
			return true
		}, nil
	}
}

// ipList yields the client (cip) and server (sip) addresses as text, like
// Falco's fd.ip and fd.net.
func ipList(kind fields.Kind) func(string) (fields.Extract, error) {
	return func(string) (fields.Extract, error) {
		return func(ev fields.Event, out *fields.Value) bool {
			e := ev.(*tev)
			out.Kind, out.IsList, out.Strs = kind, true, out.Strs[:0]
			for _, a := range []netip.Addr{e.cip, e.sip} {
				if a.IsValid() {
					out.Strs = append(out.Strs, a.String())
				}
			}
			return len(out.Strs) > 0
		}, nil
	}
}

var testTypes = []string{"", "open", "openat", "execve", "connect", "close", "", "openat2", "read", "write", "mmap"}

func testRegistry() *fields.Registry {
	r := fields.NewRegistry("test", "evt.type", testTypes)
	r.MustAdd(
		fields.Def{Name: "evt.type", Kind: fields.KindString, Bind: str(func(e *tev) string { return testTypes[e.typ] })},
		fields.Def{Name: "proc.name", Kind: fields.KindString, Bind: str(func(e *tev) string { return e.name })},
		fields.Def{Name: "proc.pname", Kind: fields.KindString, Bind: str(func(e *tev) string { return e.pname })},
		fields.Def{Name: "proc.cmdline", Kind: fields.KindString, Bind: str(func(e *tev) string { return e.cmdline })},
		fields.Def{Name: "fd.name", Kind: fields.KindString, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				e := ev.(*tev)
				out.Kind, out.IsList, out.Str = fields.KindString, false, e.fdname
				return e.hasFD
			}, nil
		}},
		fields.Def{Name: "proc.argv", Kind: fields.KindString, List: true, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				out.Kind, out.IsList = fields.KindString, true
				out.Strs = append(out.Strs[:0], ev.(*tev).argv...)
				return true
			}, nil
		}},
		fields.Def{Name: "proc.aname", Kind: fields.KindString, List: true, Arg: fields.ArgOptional, ArgKind: fields.ArgIndex,
			Bind: func(arg string) (fields.Extract, error) {
				if arg == "" {
					return func(ev fields.Event, out *fields.Value) bool {
						out.Kind, out.IsList = fields.KindString, true
						out.Strs = append(out.Strs[:0], ev.(*tev).anc...)
						return len(ev.(*tev).anc) > 0
					}, nil
				}
				n, _ := strconv.Atoi(arg)
				return func(ev fields.Event, out *fields.Value) bool {
					e := ev.(*tev)
					out.Kind, out.IsList = fields.KindString, false
					switch {
					case n == 0:
						out.Str = e.name
					case n <= len(e.anc):
						out.Str = e.anc[n-1]
					default:
						return false
					}
					return true
				}, nil
			}},
		fields.Def{Name: "proc.apid", Kind: fields.KindInt, List: true, Arg: fields.ArgOptional, ArgKind: fields.ArgIndex,
			Bind: func(arg string) (fields.Extract, error) {
				return func(ev fields.Event, out *fields.Value) bool {
					out.Kind, out.IsList = fields.KindInt, true
					out.Ints = append(out.Ints[:0], ev.(*tev).apids...)
					return true
				}, nil
			}},
		fields.Def{Name: "proc.pid", Kind: fields.KindInt, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				out.Kind, out.IsList, out.Int = fields.KindInt, false, ev.(*tev).pid
				return true
			}, nil
		}},
		fields.Def{Name: "evt.rawflags", Kind: fields.KindUint, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				out.Kind, out.IsList, out.Uint = fields.KindUint, false, ev.(*tev).flags
				return true
			}, nil
		}},
		fields.Def{Name: "fd.sport", Kind: fields.KindPort, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				e := ev.(*tev)
				out.Kind, out.IsList, out.Uint = fields.KindPort, false, uint64(e.sport)
				return e.hasFD
			}, nil
		}},
		fields.Def{Name: "fd.sip", Kind: fields.KindIP, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				e := ev.(*tev)
				out.Kind, out.IsList, out.IP = fields.KindIP, false, e.sip
				return e.sip.IsValid()
			}, nil
		}},
		fields.Def{Name: "fd.net", Kind: fields.KindIPNet, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				e := ev.(*tev)
				out.Kind, out.IsList, out.IP, out.Net = fields.KindIPNet, false, e.sip, netip.Prefix{}
				return e.sip.IsValid()
			}, nil
		}},
		fields.Def{Name: "evt.failed", Kind: fields.KindBool, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				out.Kind, out.IsList, out.Bool = fields.KindBool, false, ev.(*tev).failed
				return true
			}, nil
		}},
		fields.Def{Name: "evt.buffer", Kind: fields.KindBytes, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				out.Kind, out.IsList, out.Bytes = fields.KindBytes, false, ev.(*tev).buf
				return true
			}, nil
		}},
		fields.Def{Name: "evt.latency", Kind: fields.KindRelTime, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				out.Kind, out.IsList, out.Int = fields.KindRelTime, false, ev.(*tev).latency
				return true
			}, nil
		}},
		fields.Def{Name: "proc.env", Kind: fields.KindString, Arg: fields.ArgRequired, Bind: func(arg string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				v, ok := ev.(*tev).env[arg]
				out.Kind, out.IsList, out.Str = fields.KindString, false, v
				return ok
			}, nil
		}},
		fields.Def{Name: "evt.arg", Kind: fields.KindString, Arg: fields.ArgRequired, DotArg: true, Bind: func(arg string) (fields.Extract, error) {
			if arg == "bogus" {
				return nil, fmt.Errorf("no argument named %q", arg)
			}
			return func(ev fields.Event, out *fields.Value) bool {
				v, ok := ev.(*tev).args[arg]
				out.Kind, out.IsList, out.Str = fields.KindString, false, v
				return ok
			}, nil
		}},
		fields.Def{Name: "ka.images", Kind: fields.KindString, List: true, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				e := ev.(*tev)
				out.Kind, out.IsList = fields.KindString, true
				out.Strs = append(out.Strs[:0], e.images...)
				return e.hasImage
			}, nil
		}},
		fields.Def{Name: "fd.ips", Kind: fields.KindIP, List: true, Bind: ipList(fields.KindIP)},
		fields.Def{Name: "fd.nets", Kind: fields.KindIPNet, List: true, Bind: ipList(fields.KindIPNet)},
		fields.Def{Name: "ka.privileged", Kind: fields.KindBool, List: true, Bind: func(string) (fields.Extract, error) {
			return func(ev fields.Event, out *fields.Value) bool {
				out.Kind, out.IsList = fields.KindBool, true
				out.Strs = out.Strs[:0]
				for _, b := range ev.(*tev).priv {
					out.Strs = append(out.Strs, strconv.FormatBool(b))
				}
				return true
			}, nil
		}},
	)
	return r
}
