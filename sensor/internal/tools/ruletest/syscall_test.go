package ruletest

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
)

// extract reads one field of ev through the syscall registry, as a rule
// or output would, rendered as text ("" and false when it has no value).
func extract(t *testing.T, ev fields.Event, field string) (string, bool) {
	t.Helper()
	v, err := filter.CompileValue(field, syscallfields.Registry())
	if err != nil {
		t.Fatalf("field %s: %v", field, err)
	}
	var out fields.Value
	if !v.Eval(ev, &out) {
		return "", false
	}
	return string(filter.AppendValue(nil, &out)), true
}

func flagSet(s string) string {
	parts := strings.Split(s, "|")
	sort.Strings(parts)
	return strings.Join(parts, "|")
}

// TestSyscallEventsReadBack builds the event of every syscall case of
// Harrier's rule tests and checks that each field the case sets reads back
// through the real field extractors: the builder maps keys to the event
// structs the way the process table and capture fill them.
func TestSyscallEventsReadBack(t *testing.T) {
	f, err := ParseFile(filepath.Join(repoRoot, "rules", "tests", "syscall.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range f.Cases {
		if c.Syscall == nil {
			continue
		}
		ev, err := f.syscallEvent(c.Syscall, 1)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		m := map[string]any{}
		if tpl, ok := c.Syscall["template"]; ok {
			for k, v := range f.templates[tpl.(string)] {
				m[k] = v
			}
		}
		for k, v := range c.Syscall {
			m[k] = v
		}
		for k, v := range m {
			want := fmt.Sprint(v)
			if list, ok := v.([]any); ok && k != "proc.aname" {
				words := make([]string, len(list))
				for i, w := range list {
					words[i] = fmt.Sprint(w)
				}
				want = strings.Join(words, " ")
			}
			switch {
			case k == "template" || k == "container.image":
				continue
			case k == "proc.aname":
				for i, name := range v.([]any) {
					field := fmt.Sprintf("proc.aname[%d]", i+1)
					if got, _ := extract(t, ev, field); got != name {
						t.Errorf("%s: %s = %q, want %q", c.Name, field, got, name)
					}
					checked++
				}
				continue
			case k == "proc.cmdline":
				want = strings.Join(splitWords(want), " ")
			case k == "proc.cwd" && !strings.HasSuffix(want, "/"):
				want += "/"
			case k == "evt.arg.mode":
				if got, _ := extract(t, ev, "evt.rawarg.mode"); got != fmt.Sprint(mustMode(t, v)) {
					t.Errorf("%s: evt.rawarg.mode = %s, want %s", c.Name, got, want)
				}
				checked++
				continue
			}
			got, ok := extract(t, ev, k)
			if strings.HasPrefix(k, "evt.arg.") && strings.Contains(want, "|") {
				got, want = flagSet(got), flagSet(want)
			}
			if !ok || got != want {
				t.Errorf("%s: %s = %q (set %v), want %q", c.Name, k, got, ok, want)
			}
			checked++
		}
	}
	if checked < 300 {
		t.Errorf("only %d field values checked", checked)
	}
}

func mustMode(t *testing.T, v any) uint64 {
	n, err := parseMode(v)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSyscallBuilderDerivedFields(t *testing.T) {
	f := &File{}
	ev, err := f.syscallEvent(map[string]any{
		"evt.type": "connect", "fd.cip": "10.0.0.1", "fd.cport": 4000,
		"fd.sip": "10.0.0.2", "fd.sport": 443, "proc.cmdline": `sh -c "echo hi"`,
		"container.id": "abcdef123456", "container.image": "registry.example.com:5000/team/app:1.2@sha256:00",
	}, 7)
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"fd.name":                    "10.0.0.1:4000->10.0.0.2:443",
		"fd.typechar":                "4",
		"fd.l4proto":                 "tcp",
		"evt.num":                    "7",
		"evt.rawres":                 "0",
		"proc.name":                  "sh",
		"proc.args":                  "-c echo hi",
		"container.image.repository": "registry.example.com:5000/team/app",
		"container.image.tag":        "1.2",
	} {
		if got, _ := extract(t, ev, field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}

	ev, err = f.syscallEvent(map[string]any{"evt.type": "openat", "fd.name": "/etc/shadow", "evt.arg.flags": "O_WRONLY|O_TRUNC"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"fd.directory": "/etc", "fd.filename": "shadow", "fd.typechar": "f", "evt.rawres": "3",
		"evt.is_open_write": "true", "evt.is_open_read": "false", "evt.arg.name": "/etc/shadow",
		"container.id": "host",
	} {
		if got, _ := extract(t, ev, field); got != want {
			t.Errorf("open: %s = %q, want %q", field, got, want)
		}
	}
}

func TestSyscallBuilderErrors(t *testing.T) {
	f := &File{}
	for _, tc := range []struct {
		spec map[string]any
		want string
	}{
		{map[string]any{"proc.name": "x"}, "evt.type is required"},
		{map[string]any{"evt.type": "nosuchcall"}, "unknown event type"},
		{map[string]any{"evt.type": "execve", "proc.nmae": "x"}, "unsupported key(s) proc.nmae"},
		{map[string]any{"evt.type": "openat", "evt.arg.flags": "O_BOGUS"}, `unknown name "O_BOGUS"`},
		{map[string]any{"evt.type": "openat", "evt.arg.colour": "x"}, "evt.arg.colour: unsupported argument"},
		{map[string]any{"evt.type": "execve", "proc.name": "containerd-shim-runc-v2"}, "longer than 15"},
		{map[string]any{"evt.type": "execve", "k8s.ns.name": "x"}, "container.id: required"},
		{map[string]any{"evt.type": "connect", "fd.sip": "10.0.0.300"}, "fd.sip"},
		{map[string]any{"evt.type": "connect", "fd.type": "socketish"}, "unknown fd type"},
		{map[string]any{"evt.type": "execve", "proc.tty": "x"}, "proc.tty: want an integer"},
		{map[string]any{"evt.type": "execve", "proc.pname": "a", "proc.aname": []any{"b"}}, "contradicts"},
		{map[string]any{"evt.type": "chmod", "evt.arg.mode": "0999"}, "neither octal"},
	} {
		_, err := f.syscallEvent(tc.spec, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string]string{
		`a b  c`:                    "a|b|c",
		`sh -c "curl x | sh"`:       "sh|-c|curl x | sh",
		`python -c 'print("hi")' x`: `python|-c|print("hi")|x`,
		``:                          "",
	} {
		if got := strings.Join(splitWords(in), "|"); got != want {
			t.Errorf("splitWords(%q) = %q, want %q", in, got, want)
		}
	}
}
