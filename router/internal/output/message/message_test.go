package message

import (
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{"k8s.ns.name": "k8s_ns_name", "proc.aname[2]": "proc_aname_2_", "9x": "_9x", "ok_1": "ok_1"} {
		if got := LabelName(in); got != want {
			t.Errorf("LabelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldsOrder(t *testing.T) {
	a := &harrierv1.Alert{Rule: "r", Priority: harrierv1.Priority_PRIORITY_ERROR, Source: "syscall", Tags: []string{"t1", "t2"},
		OutputFields: map[string]*harrierv1.FieldValue{
			"z.f": {Kind: &harrierv1.FieldValue_BoolValue{BoolValue: true}},
			"a.f": {Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: []string{"x", "y"}}}},
			"n.f": {Kind: &harrierv1.FieldValue_NullValue{}},
		}}
	want := []Field{{"rule", "r"}, {"priority", "Error"}, {"source", "syscall"}, {"tags", "t1, t2"}, {"a.f", "x,y"}, {"n.f", "<NA>"}, {"z.f", "true"}}
	got := Fields(a)
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %v, want %v", i, got[i], want[i])
		}
	}
}
