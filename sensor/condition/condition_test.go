package condition

import (
	"errors"
	"strings"
	"testing"
)

// rec is a test event: scalar fields by name and one list (tags).
type rec struct {
	str  map[string]string
	num  map[string]int64
	tags []string
}

// recSchema knows rule, priority and tags bare, and any dotted name as a
// string field of rec.str (numbers: names in nums).
type recSchema struct{ nums map[string]bool }

func (s recSchema) Bare(name string) bool {
	return name == "rule" || name == "priority" || name == "tags"
}

func (s recSchema) Field(name, arg string, hasArg bool) (Field, bool) {
	switch {
	case name == "tags":
		return Field{Kind: Strings, AnyOf: true, Get: func(ev any, v Value) bool {
			v.SetStrings(ev.(*rec).tags)
			return true
		}}, true
	case s.nums[name]:
		return Field{Kind: Int, Get: func(ev any, v Value) bool {
			n, ok := ev.(*rec).num[name]
			v.SetInt(n)
			return ok
		}}, true
	case strings.Contains(name, ".") || s.Bare(name):
		key := name
		if hasArg {
			key += "[" + arg + "]"
		}
		return Field{Kind: String, Get: func(ev any, v Value) bool {
			x, ok := ev.(*rec).str[key]
			v.SetString(x)
			return ok
		}}, true
	}
	return Field{}, false
}

func TestMatch(t *testing.T) {
	ev := &rec{
		str: map[string]string{"rule": "Terminal shell in container", "priority": "Warning",
			"k8s.ns.name": "prod-payments", "container.image.repository": "docker.io/library/nginx",
			"proc.aname[2]": "bash"},
		num:  map[string]int64{"proc.pid": 4242},
		tags: []string{"container", "shell", "mitre_execution"},
	}
	schema := recSchema{nums: map[string]bool{"proc.pid": true}}
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{`rule = "Terminal shell in container"`, true},
		{`rule in ("Terminal shell in container", "Other")`, true},
		{`rule in (Other, Another)`, false},
		{`priority in (Critical, Error)`, false},
		{`k8s.ns.name startswith prod-`, true},
		{`k8s.ns.name startswith dev-`, false},
		{`container.image.repository contains nginx`, true},
		{`container.image.repository glob "docker.io/*/nginx"`, true},
		{`container.image.repository pmatch (docker.io/library, quay.io)`, true},
		{`tags in (shell, network)`, true},
		{`tags in (network)`, false},
		{`tags = mitre_execution`, true},
		{`tags != shell`, false},
		{`tags contains mitre`, true},
		{`tags exists`, true},
		{`k8s.pod.name exists`, false},
		{`not k8s.pod.name exists`, true},
		{`k8s.pod.name != x`, false},
		{`proc.pid > 4000 and proc.pid < 5000`, true},
		{`proc.pid = 1 or rule icontains "TERMINAL"`, true},
		{`proc.aname[2] = bash`, true},
		{`tolower(priority) = warning`, true},
		{`(rule startswith Terminal and tags in (shell)) and not k8s.ns.name in (kube-system)`, true},
	} {
		c, err := Compile(tc.cond, schema)
		if err != nil {
			t.Errorf("%s: %v", tc.cond, err)
			continue
		}
		if got := c.Match(ev); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.cond, got, tc.want)
		}
		if c.String() != tc.cond {
			t.Errorf("String() = %q", c.String())
		}
	}
}

func TestCompileErrors(t *testing.T) {
	schema := recSchema{nums: map[string]bool{"proc.pid": true}}
	for _, tc := range []struct {
		cond string
		want string // substring, with the position
	}{
		{`rule = `, "1:8: "},
		{`rule === x`, "1:"},
		{`sensor = x`, "1:8: "},                         // undotted and not bare: a macro name, then an unexpected operator
		{`proc.pid > abc`, "1:12: "},                    // not a number
		{`rule = x and`, "1:13: "},                      // end of condition
		{"rule = x and\n  proc.pid startswith 1", "2:"}, // operator not for numbers, on line 2
		{`rule regex "("`, "bad regular expression"},
	} {
		_, err := Compile(tc.cond, schema)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v is not *Error", tc.cond, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not contain %q", tc.cond, err, tc.want)
		}
		if len(ce.Problems) == 0 {
			t.Errorf("%s: no problems", tc.cond)
		}
	}
}

func TestUnknownDottedField(t *testing.T) {
	_, err := Compile(`k8s.ns.name = a and nope = b`, noDots{})
	if err == nil || !strings.Contains(err.Error(), "1:1: unknown field k8s.ns.name") {
		t.Fatalf("got %v", err)
	}
}

type noDots struct{}

func (noDots) Bare(string) bool { return true }
func (noDots) Field(name, _ string, _ bool) (Field, bool) {
	if strings.Contains(name, ".") {
		return Field{}, false
	}
	return Field{Kind: String, Get: func(any, Value) bool { return false }}, true
}

func TestKnownField(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind Kind
		ok   bool
	}{
		{"proc.pid", Int, true},
		{"proc.name", String, true},
		{"fd.sport", Uint, true},
		{"proc.aname", Strings, true},
		{"k8s.ns.name", String, true},
		{"no.such.field", 0, false},
	} {
		f, ok := KnownField(tc.name)
		if ok != tc.ok || f.Kind != tc.kind {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, f.Kind, ok, tc.kind, tc.ok)
		}
	}
}
