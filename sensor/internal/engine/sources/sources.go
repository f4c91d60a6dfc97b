// Package sources lists the event sources this build of the sensor
// supports, with their field registries, for the commands and the daemon
// that load rules.
package sources

import (
	"sort"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
)

// Registries returns the field registry of every supported source, by
// source name. Rules of other sources are skipped with a warning.
func Registries() map[string]*fields.Registry {
	return map[string]*fields.Registry{
		k8saudit.Source:      k8saudit.Registry(),
		syscallfields.Source: syscallfields.Registry(),
	}
}

// Suggested returns, by source, the fields append_output's
// suggested_output appends to alerts.
func Suggested() map[string][]string {
	return map[string][]string{syscallfields.Source: syscallfields.SuggestedOutput}
}

// Names returns the supported source names, sorted.
func Names() []string {
	regs := Registries()
	names := make([]string, 0, len(regs))
	for n := range regs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
