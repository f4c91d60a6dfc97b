package falcojson

import (
	"strings"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// TextLine is an alert as Falco prints it on stdout: "<time>: <Priority>
// <output>". Falco's outputs and the sensor's already begin with that
// prefix; they are returned as they are, so time and priority appear once.
func TextLine(a *harrierv1.Alert) string {
	if HasTextPrefix(a) {
		return a.GetOutput()
	}
	return a.GetTime().AsTime().UTC().Format(TimeFormat) + ": " + a.GetPriority().FalcoName() + " " + a.GetOutput()
}

// HasTextPrefix reports whether the alert's output already begins with
// Falco's "<time>: <Priority> " prefix (its time at most an ISO 8601
// timestamp long).
func HasTextPrefix(a *harrierv1.Alert) bool {
	out, name := a.GetOutput(), a.GetPriority().FalcoName()
	if name == "" {
		return false
	}
	i := strings.Index(out, ": "+name+" ")
	if i < len("15:04:05") || i > len("2006-01-02T15:04:05.000000000+0000") {
		return false
	}
	// The prefix is a time: "15:04:05.000000000" or ISO 8601.
	for _, c := range out[:i] {
		if !strings.ContainsRune("0123456789:.-+TZ", c) {
			return false
		}
	}
	return true
}
