package sources

import (
	"slices"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// SyscallInterest is the syscalls the kernel must pass for rs: those its
// enabled syscall rules can match, plus those the process table needs.
// The daemon hands it to the syscall source, which knows nothing of rules.
func SyscallInterest(rs *rules.Ruleset) []sysevent.Type {
	set := map[sysevent.Type]bool{}
	for _, t := range proctable.StateTypes() {
		set[t] = true
	}
	for _, r := range rs.Rules() {
		if !r.Enabled || r.Source != syscallfields.Source {
			continue
		}
		if len(r.EventTypes) == 0 {
			// The rule can match any event type: every syscall.
			for t := 0; t <= sysevent.MaxSyscall; t++ {
				set[sysevent.Type(t)] = true
			}
			continue
		}
		for _, name := range r.EventTypes {
			if t, ok := sysevent.TypeByName(name); ok {
				set[t] = true
			}
		}
	}
	out := make([]sysevent.Type, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
