package fields

import "testing"

type testEvent struct{ typ uint16 }

func (testEvent) Source() string   { return "test" }
func (e testEvent) TypeID() uint16 { return e.typ }

func constant(s string) func(string) (Extract, error) {
	return func(arg string) (Extract, error) {
		return func(_ Event, out *Value) bool { out.Kind, out.Str = KindString, s+arg; return true }, nil
	}
}

func TestRegistryLookup(t *testing.T) {
	r := NewRegistry("test", "evt.type", []string{"open", "close", "open"})
	r.MustAdd(
		Def{Name: "evt.arg", Kind: KindString, Arg: ArgRequired, DotArg: true, Bind: constant("arg:")},
		Def{Name: "evt.args", Kind: KindString, Bind: constant("args")},
		Def{Name: "proc.name", Kind: KindString, Bind: constant("name")},
	)
	tests := []struct {
		name, wantDef, wantArg string
		ok                     bool
	}{
		{"proc.name", "proc.name", "", true},
		{"evt.args", "evt.args", "", true},
		{"evt.arg.flags", "evt.arg", "flags", true},
		{"evt.arg.a.b", "evt.arg", "a.b", true},
		{"proc.name.x", "", "", false},
		{"evt", "", "", false},
		{"nope", "", "", false},
	}
	for _, tt := range tests {
		d, arg, ok := r.Lookup(tt.name)
		if ok != tt.ok || (ok && (d.Name != tt.wantDef || arg != tt.wantArg)) {
			t.Errorf("Lookup(%q) = %v, %q, %v", tt.name, d, arg, ok)
		}
	}
	if err := r.Add(Def{Name: "proc.name", Bind: constant("")}); err == nil {
		t.Error("duplicate field accepted")
	}
	if err := r.Add(Def{Name: "x"}); err == nil {
		t.Error("field without Bind accepted")
	}
	if id, ok := r.TypeID("open"); !ok || id != 0 {
		t.Errorf("TypeID(open) = %d, %v; want first index", id, ok)
	}
	if id, ok := r.TypeID("close"); !ok || id != 1 {
		t.Errorf("TypeID(close) = %d, %v", id, ok)
	}
	if _, ok := r.TypeID("execve"); ok {
		t.Error("unknown type found")
	}
	if got := len(r.Fields()); got != 3 {
		t.Errorf("Fields() has %d entries", got)
	}
	ex, _ := r.fields["evt.arg"].Bind("flags")
	var v Value
	if !ex(testEvent{}, &v) || v.Str != "arg:flags" {
		t.Errorf("extract = %q", v.Str)
	}
}

func TestValueResetKeepsCapacity(t *testing.T) {
	v := Value{Kind: KindString, Str: "x", IsList: true, Strs: make([]string, 3, 8)}
	v.Reset()
	if v.Kind != KindInvalid || v.Str != "" || v.IsList || len(v.Strs) != 0 || cap(v.Strs) != 8 {
		t.Errorf("Reset left %+v", v)
	}
}

func TestClusterNameField(t *testing.T) {
	defs := SensorDefs()
	if len(defs) != 1 || defs[0].Name != ClusterNameField {
		t.Fatalf("defs = %+v", defs)
	}
	ex, err := defs[0].Bind("")
	if err != nil {
		t.Fatal(err)
	}
	var v Value
	SetClusterName("")
	if ex(nil, &v) {
		t.Error("an unset cluster name has a value")
	}
	SetClusterName("prod-eu")
	if !ex(nil, &v) || v.Str != "prod-eu" {
		t.Errorf("cluster name = %q", v.Str)
	}
	if _, err := defs[0].Bind("x"); err == nil {
		t.Error("an argument was accepted")
	}
}
