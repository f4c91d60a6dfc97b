package sources

import (
	"slices"
	"testing"
)

func TestRegistries(t *testing.T) {
	regs := Registries()
	r := regs["k8s_audit"]
	if r == nil || r.Source != "k8s_audit" {
		t.Fatalf("k8s_audit registry missing: %v", regs)
	}
	if _, _, ok := r.Lookup("ka.verb"); !ok {
		t.Error("ka.verb not in the k8s_audit registry")
	}
	if s := regs["syscall"]; s == nil || s.TypeField != "evt.type" {
		t.Errorf("syscall registry missing or without evt.type indexing: %v", s)
	} else if _, _, ok := s.Lookup("proc.aname"); !ok {
		t.Error("proc.aname not in the syscall registry")
	}
	for name, reg := range regs {
		if reg.Source != name {
			t.Errorf("registry %q names its source %q", name, reg.Source)
		}
	}
	if names := Names(); !slices.IsSorted(names) || len(names) != len(regs) {
		t.Errorf("Names() = %v", names)
	}
}
