package harrierv1

import (
	"strings"
	"testing"
)

func TestParsePriority(t *testing.T) {
	tests := []struct {
		in   string
		want Priority
	}{
		{"EMERGENCY", Priority_PRIORITY_EMERGENCY}, {"Emergency", Priority_PRIORITY_EMERGENCY}, {"emergency", Priority_PRIORITY_EMERGENCY},
		{"ALERT", Priority_PRIORITY_ALERT}, {"Alert", Priority_PRIORITY_ALERT}, {"alert", Priority_PRIORITY_ALERT},
		{"CRITICAL", Priority_PRIORITY_CRITICAL}, {"Critical", Priority_PRIORITY_CRITICAL}, {"critical", Priority_PRIORITY_CRITICAL},
		{"ERROR", Priority_PRIORITY_ERROR}, {"Error", Priority_PRIORITY_ERROR}, {"error", Priority_PRIORITY_ERROR},
		{"WARNING", Priority_PRIORITY_WARNING}, {"Warning", Priority_PRIORITY_WARNING}, {"warning", Priority_PRIORITY_WARNING},
		{"NOTICE", Priority_PRIORITY_NOTICE}, {"Notice", Priority_PRIORITY_NOTICE}, {"notice", Priority_PRIORITY_NOTICE},
		{"INFORMATIONAL", Priority_PRIORITY_INFORMATIONAL}, {"Informational", Priority_PRIORITY_INFORMATIONAL},
		{"INFO", Priority_PRIORITY_INFORMATIONAL}, {"Info", Priority_PRIORITY_INFORMATIONAL}, {"info", Priority_PRIORITY_INFORMATIONAL},
		{"DEBUG", Priority_PRIORITY_DEBUG}, {"Debug", Priority_PRIORITY_DEBUG}, {"debug", Priority_PRIORITY_DEBUG},
		{" Warning ", Priority_PRIORITY_WARNING},
		{"PRIORITY_NOTICE", Priority_PRIORITY_NOTICE},
	}
	for _, tt := range tests {
		got, err := ParsePriority(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParsePriority(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParsePriorityBad(t *testing.T) {
	for _, in := range []string{"", "warn", "crit", "informative", "7", "PRIORITY_UNSPECIFIED", "high"} {
		p, err := ParsePriority(in)
		if err == nil {
			t.Errorf("ParsePriority(%q) = %v, want error", in, p)
			continue
		}
		if !strings.Contains(err.Error(), "\""+in+"\"") {
			t.Errorf("ParsePriority(%q) error %q does not name the bad value", in, err)
		}
	}
}

func TestPriorityOrder(t *testing.T) {
	// Falco's order, most severe first.
	order := []Priority{Priority_PRIORITY_EMERGENCY, Priority_PRIORITY_ALERT, Priority_PRIORITY_CRITICAL, Priority_PRIORITY_ERROR,
		Priority_PRIORITY_WARNING, Priority_PRIORITY_NOTICE, Priority_PRIORITY_INFORMATIONAL, Priority_PRIORITY_DEBUG}
	for i := 1; i < len(order); i++ {
		if order[i-1].Severity() <= order[i].Severity() {
			t.Errorf("%v should be more severe than %v", order[i-1], order[i])
		}
		if !order[i-1].AtLeast(order[i]) || order[i].AtLeast(order[i-1]) {
			t.Errorf("AtLeast wrong between %v and %v", order[i-1], order[i])
		}
	}
	for _, p := range order {
		if !p.AtLeast(Priority_PRIORITY_UNSPECIFIED) || !p.AtLeast(p) {
			t.Errorf("%v should be at least itself and UNSPECIFIED", p)
		}
		back, err := ParsePriority(p.FalcoName())
		if err != nil || back != p {
			t.Errorf("FalcoName round trip of %v: %v, %v", p, back, err)
		}
	}
	if Priority_PRIORITY_UNSPECIFIED.AtLeast(Priority_PRIORITY_DEBUG) {
		t.Error("UNSPECIFIED must not satisfy a minimum")
	}
	if Priority(42).FalcoName() != "" || Priority(42).Severity() != 0 {
		t.Error("unknown priority should have no name and no severity")
	}
}
