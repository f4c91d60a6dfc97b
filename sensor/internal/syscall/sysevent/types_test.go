package sysevent

import "testing"

func TestTypeNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Type
	}{
		{"read", 0}, {"open", 2}, {"execve", 59}, {"openat", 257}, {"execveat", 322},
		{"procexit", TypeProcExit},
	} {
		got, ok := TypeByName(tc.name)
		if !ok || got != tc.want {
			t.Errorf("TypeByName(%q) = %d, %v; want %d", tc.name, got, ok, tc.want)
		}
		if s := tc.want.String(); s != tc.name {
			t.Errorf("Type(%d).String() = %q, want %q", tc.want, s, tc.name)
		}
	}
	if _, ok := TypeByName("switch"); ok {
		t.Error("TypeByName(switch) found a type Harrier does not produce")
	}
	if got := Type(511).String(); got != "syscall_511" {
		t.Errorf("unknown syscall name = %q", got)
	}
	if len(Names) != NumTypes || Names[TypeProcExit] != "procexit" {
		t.Errorf("Names: len %d, procexit %q", len(Names), Names[TypeProcExit])
	}
	if !SysOpenat.IsSyscall() || TypeProcExit.IsSyscall() {
		t.Error("IsSyscall wrong")
	}
}

func TestResetDropsSlices(t *testing.T) {
	kept := []string{"a", "b"}
	e := &Event{Argv: kept, Type: SysExecve}
	e.Reset()
	if e.Argv != nil || e.Type != 0 {
		t.Fatalf("Reset left %v %v", e.Argv, e.Type)
	}
	e.Argv = append(e.Argv, "x")
	if kept[0] != "a" {
		t.Fatal("Reset let a new event overwrite a kept Argv")
	}
}
