package harrierv1

import (
	"fmt"
	"strings"
)

// falcoNames are Falco's canonical spellings, as written in its JSON output.
var falcoNames = [...]string{
	Priority_PRIORITY_EMERGENCY:     "Emergency",
	Priority_PRIORITY_ALERT:         "Alert",
	Priority_PRIORITY_CRITICAL:      "Critical",
	Priority_PRIORITY_ERROR:         "Error",
	Priority_PRIORITY_WARNING:       "Warning",
	Priority_PRIORITY_NOTICE:        "Notice",
	Priority_PRIORITY_INFORMATIONAL: "Informational",
	Priority_PRIORITY_DEBUG:         "Debug",
}

// ParsePriority accepts every spelling Falco accepts, case-insensitively:
// the eight level names, "info" for informational, and the PRIORITY_ enum
// names of this package.
func ParsePriority(s string) (Priority, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	name = strings.TrimPrefix(name, "priority_")
	switch name {
	case "emergency":
		return Priority_PRIORITY_EMERGENCY, nil
	case "alert":
		return Priority_PRIORITY_ALERT, nil
	case "critical":
		return Priority_PRIORITY_CRITICAL, nil
	case "error":
		return Priority_PRIORITY_ERROR, nil
	case "warning":
		return Priority_PRIORITY_WARNING, nil
	case "notice":
		return Priority_PRIORITY_NOTICE, nil
	case "informational", "info":
		return Priority_PRIORITY_INFORMATIONAL, nil
	case "debug":
		return Priority_PRIORITY_DEBUG, nil
	}
	return Priority_PRIORITY_UNSPECIFIED, fmt.Errorf("unknown priority %q (want one of emergency, alert, critical, error, warning, notice, informational/info, debug)", s)
}

// FalcoName is the spelling Falco uses in its JSON output ("Warning").
// UNSPECIFIED and out-of-range values yield "".
func (p Priority) FalcoName() string {
	if p <= Priority_PRIORITY_UNSPECIFIED || int(p) >= len(falcoNames) {
		return ""
	}
	return falcoNames[p]
}

// Severity grows with severity: DEBUG is 1, EMERGENCY is 8, UNSPECIFIED and
// unknown values are 0. Use it to sort or compare priorities.
func (p Priority) Severity() int {
	if p <= Priority_PRIORITY_UNSPECIFIED || p > Priority_PRIORITY_DEBUG {
		return 0
	}
	return int(Priority_PRIORITY_DEBUG) - int(p) + 1
}

// AtLeast reports whether p is as severe as min or more. Every known
// priority is at least UNSPECIFIED, which therefore means "no minimum".
func (p Priority) AtLeast(min Priority) bool {
	if min == Priority_PRIORITY_UNSPECIFIED {
		return true
	}
	return p.Severity() >= min.Severity() && p.Severity() > 0
}
