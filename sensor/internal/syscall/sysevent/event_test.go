package sysevent

import "testing"

func TestIsExec(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   Event
		want bool
	}{
		{"execve", Event{Type: SysExecve}, true},
		{"failed execve", Event{Type: SysExecve, Ret: -2}, false},
		{"execveat", Event{Type: SysExecveat, Flags: 0x100}, true},
		{"execveat AT_EXECVE_CHECK: no exec", Event{Type: SysExecveat, Flags: AtExecveCheck}, false},
		{"fork child", Event{Type: SysClone, Has: HasProc}, false},
	} {
		if got := tc.ev.IsExec(); got != tc.want {
			t.Errorf("%s: IsExec() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
