package source

import (
	"slices"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestWithState(t *testing.T) {
	state := proctable.StateTypes()
	for _, tc := range []struct {
		name string
		in   []sysevent.Type
	}{
		{"nothing asked", nil},
		{"some asked", []sysevent.Type{sysevent.SysPtrace, sysevent.SysMkdirat, sysevent.SysPtrace}},
		{"state types asked again", state},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := WithState(tc.in)
			if !slices.Equal(in, tc.in) {
				t.Errorf("WithState changed its argument: %v", tc.in)
			}
			if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("WithState = %v, not sorted and unique", got)
			}
			for _, ty := range append(in, state...) {
				if !slices.Contains(got, ty) {
					t.Errorf("WithState lacks %s", ty)
				}
			}
		})
	}
}
