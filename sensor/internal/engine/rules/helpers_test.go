package rules

import (
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
)

// testEvent is an event of the small "syscall"-like test source.
type testEvent struct {
	typ              uint16
	proc, file, user string
}

func (*testEvent) Source() string   { return "syscall" }
func (e *testEvent) TypeID() uint16 { return e.typ }

var testTypes = []string{"open", "execve", "connect", "unlinkat"}

func ev(typ, proc, file string) *testEvent {
	for i, t := range testTypes {
		if t == typ {
			return &testEvent{typ: uint16(i), proc: proc, file: file, user: "root"}
		}
	}
	panic("unknown type " + typ)
}

func strField(name string, get func(e *testEvent) string) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindString, Desc: name, Bind: func(arg string) (fields.Extract, error) {
		return func(ev fields.Event, out *fields.Value) bool {
			e, ok := ev.(*testEvent)
			if !ok {
				return false
			}
			out.Kind, out.IsList, out.Str = fields.KindString, false, get(e)
			return out.Str != ""
		}, nil
	}}
}

func testRegistry() *fields.Registry {
	r := fields.NewRegistry("syscall", "evt.type", testTypes)
	r.MustAdd(
		strField("evt.type", func(e *testEvent) string { return testTypes[e.typ] }),
		strField("proc.name", func(e *testEvent) string { return e.proc }),
		strField("fd.name", func(e *testEvent) string { return e.file }),
		strField("user.name", func(e *testEvent) string { return e.user }),
	)
	return r
}

func testRegs() map[string]*fields.Registry {
	return map[string]*fields.Registry{"syscall": testRegistry(), "k8s_audit": k8saudit.Registry()}
}

// load loads YAML files named a.yaml, b.yaml, ... and fails the test on
// errors.
func load(t *testing.T, m Matching, docs ...string) (*Ruleset, Diagnostics) {
	t.Helper()
	rs, ds, err := Load(files(docs...), Options{Registries: testRegs(), Matching: m})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return rs, ds
}

func files(docs ...string) []File {
	fs := make([]File, len(docs))
	for i, d := range docs {
		fs[i] = File{Name: string(rune('a'+i)) + ".yaml", Data: []byte(strings.TrimLeft(d, "\n"))}
	}
	return fs
}

// fired returns the names of the rules ev fires, in order.
func fired(rs *Ruleset, e fields.Event) []string {
	var out []string
	rs.Evaluate(e, func(r *Rule) { out = append(out, r.Name) })
	return out
}

func ruleByName(rs *Ruleset, name string) *Rule {
	for _, r := range rs.Rules() {
		if r.Name == name {
			return r
		}
	}
	return nil
}
