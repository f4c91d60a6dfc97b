package alertfilter

import (
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestMatch(t *testing.T) {
	a := &harrierv1.Alert{Rule: "Terminal shell in container", Priority: harrierv1.Priority_PRIORITY_WARNING,
		Source: "syscall", Tags: []string{"container", "shell"}, Hostname: "node-1"}
	tests := []struct {
		name string
		f    *harrierv1.AlertFilter
		want bool
	}{
		{"nil matches", nil, true},
		{"empty matches", &harrierv1.AlertFilter{}, true},
		{"min below", &harrierv1.AlertFilter{MinPriority: harrierv1.Priority_PRIORITY_NOTICE}, true},
		{"min equal", &harrierv1.AlertFilter{MinPriority: harrierv1.Priority_PRIORITY_WARNING}, true},
		{"min above", &harrierv1.AlertFilter{MinPriority: harrierv1.Priority_PRIORITY_ERROR}, false},
		{"rule listed", &harrierv1.AlertFilter{Rules: []string{"x", "Terminal shell in container"}}, true},
		{"rule not listed", &harrierv1.AlertFilter{Rules: []string{"x"}}, false},
		{"source", &harrierv1.AlertFilter{Sources: []string{"k8s_audit"}}, false},
		{"any tag", &harrierv1.AlertFilter{Tags: []string{"mitre", "shell"}}, true},
		{"no tag", &harrierv1.AlertFilter{Tags: []string{"mitre"}}, false},
		{"host", &harrierv1.AlertFilter{Hostnames: []string{"node-1"}}, true},
		{"all must hold", &harrierv1.AlertFilter{Hostnames: []string{"node-1"}, Sources: []string{"k8s_audit"}}, false},
	}
	for _, tt := range tests {
		if got := New(tt.f).Match(a); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
	var nilF *Filter
	if !nilF.Match(a) {
		t.Error("nil *Filter must match")
	}
}
