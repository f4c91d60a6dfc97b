package falcojson

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestTextLine(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 11, 24, 12, 0, 0, 5, time.UTC))
	for _, tc := range []struct {
		name, output, want string
	}{
		{"sensor output (prefixed)", "12:00:00.000000005: Critical Shell in container (user=root)",
			"12:00:00.000000005: Critical Shell in container (user=root)"},
		{"Falco ISO time prefix", "2026-11-24T12:00:00.000000005+0000: Critical Shell in container",
			"2026-11-24T12:00:00.000000005+0000: Critical Shell in container"},
		{"bare output", "Shell in container (user=root)",
			"2026-11-24T12:00:00.000000005Z: Critical Shell in container (user=root)"},
		{"priority word later in the text", "a process said: Critical thing happened far into a long message text here",
			"2026-11-24T12:00:00.000000005Z: Critical a process said: Critical thing happened far into a long message text here"},
	} {
		a := &harrierv1.Alert{Time: at, Priority: harrierv1.Priority_PRIORITY_CRITICAL, Output: tc.output}
		if got := TextLine(a); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
