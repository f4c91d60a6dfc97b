package sources

import (
	"slices"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestSyscallInterest(t *testing.T) {
	typ := func(name string) sysevent.Type {
		ty, ok := sysevent.TypeByName(name)
		if !ok {
			t.Fatalf("no event type %q", name)
		}
		return ty
	}
	all := make([]sysevent.Type, 0, sysevent.MaxSyscall+1)
	for ty := 0; ty <= sysevent.MaxSyscall; ty++ {
		all = append(all, sysevent.Type(ty))
	}
	// rule is a rules file of one rule with the given condition and extra
	// keys.
	rule := func(condition, extra string) string {
		return "- rule: r\n  desc: d\n  output: o\n  priority: WARNING\n  condition: " + condition + "\n" + extra
	}
	tests := []struct {
		name  string
		yaml  string
		want  []sysevent.Type // beyond the process table's types
		never []sysevent.Type // must be absent
	}{
		{"event types of enabled syscall rules", rule("evt.type in (ptrace, unlinkat) and proc.name = sh", ""),
			[]sysevent.Type{typ("ptrace"), typ("unlinkat")}, []sysevent.Type{typ("mkdirat")}},
		{"disabled rules add nothing", rule("evt.type = ptrace", "  enabled: false\n"),
			nil, []sysevent.Type{typ("ptrace")}},
		{"k8s audit rules add nothing", rule("ka.verb = create", "  source: k8s_audit\n"),
			nil, []sysevent.Type{typ("ptrace")}},
		{"a rule of any event type needs every syscall", rule("proc.name = nc", ""),
			all, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, _, err := rules.Load([]rules.File{{Name: "t.yaml", Data: []byte(tc.yaml)}},
				rules.Options{Registries: Registries(), Matching: rules.MatchAll})
			if err != nil {
				t.Fatal(err)
			}
			got := SyscallInterest(rs)
			if !slices.IsSorted(got) {
				t.Errorf("Interest = %v, not sorted", got)
			}
			if len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("Interest = %v, has duplicates", got)
			}
			for _, ty := range append(proctable.StateTypes(), tc.want...) {
				if !slices.Contains(got, ty) {
					t.Errorf("Interest lacks %v", ty)
				}
			}
			for _, ty := range tc.never {
				if slices.Contains(got, ty) {
					t.Errorf("Interest has %v, which no enabled syscall rule needs", ty)
				}
			}
		})
	}
}
