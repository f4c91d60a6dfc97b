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

func TestSockAddrString(t *testing.T) {
	e := &Event{}
	e.Argv = append(e.Argv, "a")
	e.Reset()
	if len(e.Argv) != 0 || cap(e.Argv) == 0 {
		t.Errorf("Reset: argv len %d cap %d", len(e.Argv), cap(e.Argv))
	}
}
