package syscallfields

import "github.com/harrier-security/harrier/sensor/internal/fields"

// libsinspTypeNames maps the event type names of libsinsp's event table
// that differ from the kernel's syscall names to the kernel names the
// capture reports, so that evt.type conditions written for Falco select
// the same syscalls.
var libsinspTypeNames = map[string][]string{
	"pread":   {"pread64"},
	"pwrite":  {"pwrite64"},
	"prlimit": {"prlimit64"},
	"umount":  {"umount2"},
	"fstatat": {"newfstatat"},
}

// libsinspOnlyTypes are libsinsp event types that are not syscalls and that
// Harrier's capture does not produce (signal delivery, context switches,
// page faults, its own metadata events). Conditions may name them, as
// Falco's rules do; they never match.
var libsinspOnlyTypes = []string{
	"signaldeliver", "switch", "page_fault", "drop", "infra", "notification",
	"useradded", "userdeleted", "groupadded", "groupdeleted", "asyncevent",
	"pluginevent", "procinfo", "cpu_hotplug", "k8s", "mesos", "tracer",
	"sysdigevent", "scapevent", "meta",
}

func addTypeAliases(r *fields.Registry) {
	for name, targets := range libsinspTypeNames {
		if _, real := r.TypeID(name); real {
			continue // the kernel has a syscall of that name too
		}
		r.AliasType(name, targets...)
	}
	for _, name := range libsinspOnlyTypes {
		if _, real := r.TypeID(name); !real {
			r.AliasType(name)
		}
	}
}
