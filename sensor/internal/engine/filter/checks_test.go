package filter

import (
	"slices"
	"testing"
)

func TestChecksExpandsMacrosOnceAndStops(t *testing.T) {
	macros := map[string]string{
		"shell":   "proc.name in (bash, sh)",
		"in_tmp":  "fd.name startswith /tmp and shell",
		"unknown": "", // named but not defined: nothing to visit
	}
	parsed := map[string]Expr{}
	for name, src := range macros {
		if src == "" {
			continue
		}
		e, err := Parse(src)
		if err != nil {
			t.Fatalf("macro %s: %v", name, err)
		}
		parsed[name] = e
	}
	lookup := func(name string) Expr { return parsed[name] }
	tests := []struct {
		cond   string
		stopAt string // the field after which fn answers false
		want   []string
	}{
		{"evt.type = open", "", []string{"evt.type"}},
		{"evt.type = open and in_tmp and not shell", "", []string{"evt.type", "fd.name", "proc.name"}},
		{"shell or shell or user.uid = 0", "", []string{"proc.name", "user.uid"}},
		{"unknown and evt.type = open", "", []string{"evt.type"}},
		{"in_tmp and evt.type = open and user.uid = 0", "fd.name", []string{"fd.name"}},
		{"(in_tmp or user.uid = 0) and evt.type = open", "proc.name", []string{"fd.name", "proc.name"}},
	}
	for _, tt := range tests {
		e, err := Parse(tt.cond)
		if err != nil {
			t.Fatalf("%s: %v", tt.cond, err)
		}
		var got []string
		Checks(e, lookup, func(c *Check) bool {
			got = append(got, c.Field.Name)
			return c.Field.Name != tt.stopAt
		})
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: visited %v, want %v", tt.cond, got, tt.want)
		}
	}
}
