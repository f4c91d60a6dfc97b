package condition

import (
	"errors"
	"testing"
)

// FuzzCompile: any text compiles or fails with a located *Error, and a
// compiled condition evaluates without panicking.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`rule = x`, `tags in (a, b) and not k8s.ns.name exists`, `proc.pid > 1 or proc.aname[2] glob "b*"`,
		`tolower(priority) pmatch (/a)`, `(rule`, `rule in (`, `"`, `proc.pid = 0x`, `join(",", (rule, priority)) = a`,
	} {
		f.Add(s)
	}
	schema := recSchema{nums: map[string]bool{"proc.pid": true}}
	ev := &rec{str: map[string]string{"rule": "r", "k8s.ns.name": "n"}, num: map[string]int64{"proc.pid": 7}, tags: []string{"a"}}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Compile(text, schema)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("%q: error %v (%T) is not a located *Error", text, err, err)
			}
			return
		}
		c.Match(ev)
	})
}
