package rules

import (
	"slices"
	"strings"
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

const base = `
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- rule: Shell
  desc: a shell was started
  condition: spawned and proc.name in (shells)
  output: shell %proc.name started
  priority: WARNING
  tags: [shell]
`

func TestAppendAndOverride(t *testing.T) {
	bash, sh, zsh := ev("execve", "bash", ""), ev("execve", "sh", ""), ev("execve", "zsh", "")
	openBash := ev("open", "bash", "/x")
	tests := []struct {
		name  string
		later string
		fire  []*testEvent // events that must fire Shell
		quiet []*testEvent // events that must not
		check func(t *testing.T, r *Rule)
	}{
		{name: "base", fire: []*testEvent{bash, sh}, quiet: []*testEvent{zsh, openBash}},
		{name: "list append: true", later: "- list: shells\n  items: [zsh]\n  append: true\n",
			fire: []*testEvent{bash, zsh}},
		{name: "list override append", later: "- list: shells\n  items: [zsh]\n  override:\n    items: append\n",
			fire: []*testEvent{bash, zsh}},
		{name: "list override replace", later: "- list: shells\n  items: [zsh]\n  override:\n    items: replace\n",
			fire: []*testEvent{zsh}, quiet: []*testEvent{bash}},
		{name: "list redefined", later: "- list: shells\n  items: [zsh]\n",
			fire: []*testEvent{zsh}, quiet: []*testEvent{bash}},
		{name: "list of lists", later: "- list: more\n  items: [zsh]\n- list: shells\n  items: [more]\n  append: true\n",
			fire: []*testEvent{bash, zsh}},
		{name: "macro append: true", later: "- macro: spawned\n  condition: and proc.name != sh\n  append: true\n",
			fire: []*testEvent{bash}, quiet: []*testEvent{sh}},
		{name: "macro override append", later: "- macro: spawned\n  condition: and proc.name != sh\n  override:\n    condition: append\n",
			fire: []*testEvent{bash}, quiet: []*testEvent{sh}},
		{name: "macro override replace", later: "- macro: spawned\n  condition: evt.type = open\n  override:\n    condition: replace\n",
			fire: []*testEvent{openBash}, quiet: []*testEvent{bash}},
		{name: "rule append: true", later: "- rule: Shell\n  condition: and proc.name != bash\n  append: true\n",
			fire: []*testEvent{sh}, quiet: []*testEvent{bash}},
		{name: "rule override condition append", later: "- rule: Shell\n  condition: and proc.name != bash\n  override:\n    condition: append\n",
			fire: []*testEvent{sh}, quiet: []*testEvent{bash}},
		{name: "rule override condition replace", later: "- rule: Shell\n  condition: proc.name = zsh\n  override:\n    condition: replace\n",
			fire: []*testEvent{zsh}, quiet: []*testEvent{bash}},
		{name: "rule override output, desc, tags append; priority replace",
			later: "- rule: Shell\n  output: (user=%user.name)\n  desc: in a container\n  tags: [mitre, shell]\n  priority: critical\n" +
				"  override:\n    output: append\n    desc: append\n    tags: append\n    priority: replace\n",
			fire: []*testEvent{bash},
			check: func(t *testing.T, r *Rule) {
				if r.Output.Text() != "shell %proc.name started (user=%user.name)" || r.Desc != "a shell was started in a container" {
					t.Errorf("output %q desc %q", r.Output.Text(), r.Desc)
				}
				if !slices.Equal(r.Tags, []string{"mitre", "shell"}) || r.Priority != harrierv1.Priority_PRIORITY_CRITICAL {
					t.Errorf("tags %v priority %v", r.Tags, r.Priority)
				}
			}},
		{name: "rule override tags replace", later: "- rule: Shell\n  tags: [other]\n  override:\n    tags: replace\n",
			fire:  []*testEvent{bash},
			check: func(t *testing.T, r *Rule) { assertEq(t, "tags", r.Tags, []string{"other"}) }},
		{name: "rule override enabled", later: "- rule: Shell\n  enabled: false\n  override:\n    enabled: replace\n",
			quiet: []*testEvent{bash, sh}},
		{name: "enabled-only form", later: "- rule: Shell\n  enabled: false\n",
			quiet: []*testEvent{bash, sh}},
		{name: "enabled-only form re-enables", later: "- rule: Shell\n  enabled: false\n- rule: Shell\n  enabled: true\n",
			fire: []*testEvent{bash}},
		{name: "rule redefined", later: "- rule: Shell\n  desc: d\n  condition: proc.name = zsh\n  output: o\n  priority: INFO\n",
			fire: []*testEvent{zsh}, quiet: []*testEvent{bash},
			check: func(t *testing.T, r *Rule) { assertEq(t, "tags", r.Tags, []string{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := []string{base}
			if tt.later != "" {
				docs = append(docs, tt.later)
			}
			rs, _ := load(t, MatchAll, docs...)
			for _, e := range tt.fire {
				if got := fired(rs, e); !slices.Equal(got, []string{"Shell"}) {
					t.Errorf("%s %s: fired %v, want Shell", testTypes[e.typ], e.proc, got)
				}
			}
			for _, e := range tt.quiet {
				if got := fired(rs, e); len(got) != 0 {
					t.Errorf("%s %s: fired %v, want nothing", testTypes[e.typ], e.proc, got)
				}
			}
			if tt.check != nil {
				tt.check(t, ruleByName(rs, "Shell"))
			}
		})
	}
}

func assertEq[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

const exceptionRules = `
- list: trusted
  items: [trustd, "safe one"]
- rule: Open
  desc: d
  condition: evt.type = open
  output: "%proc.name opened %fd.name"
  priority: INFO
  exceptions:
    - name: proc_file
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values:
        - [cat, /etc/]
    - name: single
      fields: proc.name
      values: [vim, "my editor"]
    - name: single_list
      fields: proc.name
      comps: in
      values: [trusted]
    - name: multi_in
      fields: [proc.name, fd.name]
      comps: [in, =]
      values:
        - [[less, more], /tmp/x]
        - [trusted, /tmp/y]
    - name: default_comps
      fields: [proc.name, fd.name]
      values: [[ls, /bin]]
    - name: no_values
      fields: proc.name
    - name: quoted
      fields: [proc.name, fd.name]
      values: [[python, "/a b/c(d),e\"f"]]
`

func TestExceptions(t *testing.T) {
	appended := `
- rule: Open
  exceptions:
    - name: single
      values: [nano]
    - name: new_one
      fields: [fd.name]
      comps: [endswith]
      values: [[.log]]
  append: true
- rule: Open
  exceptions:
    - name: by_user
      fields: user.name
      comps: in
      values: [nobody]
  override:
    exceptions: append
`
	rs, _ := load(t, MatchAll, exceptionRules, appended)
	tests := []struct {
		proc, file string
		fire       bool
	}{
		{"cat", "/var/log/x", true},
		{"cat", "/etc/passwd", false},      // proc_file
		{"dog", "/etc/passwd", true},       // proc_file needs both fields
		{"vim", "/x", false},               // single
		{"my editor", "/x", false},         // single, quoted value
		{"nano", "/x", false},              // single, appended value
		{"trustd", "/x", false},            // single field naming a list
		{"safe one", "/x", false},          // list item with a space
		{"less", "/tmp/x", false},          // multi_in with an inline list
		{"more", "/tmp/x", false},          // multi_in with an inline list
		{"less", "/tmp/y", true},           // wrong tuple
		{"trustd", "/tmp/y", false},        // multi_in naming a list
		{"ls", "/bin", false},              // default comps (=)
		{"ls", "/bin/sh", true},            // default comps are =, not startswith
		{"python", `/a b/c(d),e"f`, false}, // value quoted and escaped
		{"tail", "/srv/app.log", false},    // new exception from an append
	}
	for _, tt := range tests {
		got := len(fired(rs, ev("open", tt.proc, tt.file))) == 1
		if got != tt.fire {
			t.Errorf("open by %q of %q: fired=%v, want %v", tt.proc, tt.file, got, tt.fire)
		}
	}
	r := ruleByName(rs, "Open")
	if !strings.HasPrefix(r.Condition, "(evt.type = open) and not ") || !strings.Contains(r.Condition, "(proc.name in (vim, \"my editor\", nano))") {
		t.Errorf("condition = %s", r.Condition)
	}
	// The override-appended exception on user.name applies as well.
	if n := len(fired(rs, &testEvent{typ: 0, proc: "x", file: "/y", user: "nobody"})); n != 0 {
		t.Errorf("by_user exception did not apply")
	}
	// Replacing exceptions drops the earlier ones.
	rs2, _ := load(t, MatchAll, exceptionRules, "- rule: Open\n  exceptions:\n    - name: other\n      fields: proc.name\n      values: [zz]\n  override:\n    exceptions: replace\n")
	if n := len(fired(rs2, ev("open", "vim", "/x"))); n != 1 {
		t.Errorf("replaced exceptions still apply")
	}
	if n := len(fired(rs2, ev("open", "zz", "/x"))); n != 0 {
		t.Errorf("replacing exception does not apply")
	}
}

func TestDisabledAndSelection(t *testing.T) {
	doc := `
- rule: A
  desc: d
  condition: evt.type = open and proc.name = x
  output: a
  priority: ERROR
  tags: [files, mitre_t1]
- rule: B
  desc: d
  condition: evt.type = open and proc.name = x
  output: b
  priority: NOTICE
  tags: [files]
- rule: C off
  desc: d
  condition: evt.type = open and proc.name = x
  output: c
  priority: CRITICAL
  enabled: false
  tags: [net]
- rule: D
  desc: d
  condition: evt.type = execve
  output: d
  priority: debug
`
	rs, _ := load(t, MatchAll, doc)
	x := ev("open", "x", "")
	assertEq(t, "loaded", fired(rs, x), []string{"A", "B"})
	if r := ruleByName(rs, "C off"); r == nil || r.Enabled {
		t.Fatalf("disabled rule not compiled or enabled: %+v", r)
	}
	crit := harrierv1.Priority_PRIORITY_WARNING
	tests := []struct {
		name string
		sel  Selection
		want []string
		err  string
	}{
		{"min priority", Selection{MinPriority: crit}, []string{"A"}, ""},
		{"disable by tag", Selection{Ops: []SelectOp{{Tag: "mitre_t1"}}}, []string{"B"}, ""},
		{"enable disabled by name", Selection{Ops: []SelectOp{{Enable: true, Rule: "C off"}}}, []string{"A", "B", "C off"}, ""},
		{"disable all, enable tag", Selection{Ops: []SelectOp{{Rule: "*"}, {Enable: true, Tag: "net"}}}, []string{"C off"}, ""},
		{"glob", Selection{Ops: []SelectOp{{Rule: "C*"}, {Rule: "*B"}}}, []string{"A"}, ""},
		{"priority after ops", Selection{Ops: []SelectOp{{Enable: true, Tag: "net"}}, MinPriority: harrierv1.Priority_PRIORITY_CRITICAL}, []string{"C off"}, ""},
		{"unknown name", Selection{Ops: []SelectOp{{Rule: "Nope"}}}, nil, "no rule matches rule Nope"},
		{"unknown tag", Selection{Ops: []SelectOp{{Tag: "nope"}}}, nil, "no rule matches tag nope"},
	}
	for _, tt := range tests {
		got, err := rs.Select(tt.sel)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		assertEq(t, tt.name, fired(got, x), tt.want)
	}
	// The original is unchanged by Select.
	assertEq(t, "after selections", fired(rs, x), []string{"A", "B"})
	// D is indexed under execve only.
	if r := ruleByName(rs, "D"); !slices.Equal(r.EventTypes, []string{"execve"}) {
		t.Errorf("D event types = %v", r.EventTypes)
	}
	if got := fired(rs, ev("execve", "x", "")); !slices.Equal(got, []string{"D"}) {
		t.Errorf("execve fired %v", got)
	}
}

func TestRuleMatching(t *testing.T) {
	doc := `
- rule: First
  desc: d
  condition: evt.type = open
  output: one
  priority: INFO
- rule: Second
  desc: d
  condition: evt.type in (open, execve)
  output: two
  priority: INFO
`
	for _, tt := range []struct {
		m    Matching
		want []string
	}{{MatchFirst, []string{"First"}}, {MatchAll, []string{"First", "Second"}}} {
		rs, _ := load(t, tt.m, doc)
		assertEq(t, "open", fired(rs, ev("open", "p", "")), tt.want)
		assertEq(t, "execve", fired(rs, ev("execve", "p", "")), []string{"Second"})
	}
	if m, err := ParseMatching("ALL"); err != nil || m != MatchAll {
		t.Errorf("ParseMatching(ALL) = %v, %v", m, err)
	}
	if _, err := ParseMatching("some"); err == nil {
		t.Error("ParseMatching(some) accepted")
	}
}

func TestEngineVersionAndPlugins(t *testing.T) {
	ok := []string{
		"- required_engine_version: 15\n",
		"- required_engine_version: 0.57.0\n",
		"- required_engine_version: 0.10.1\n",
		"- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n  - name: k8saudit-eks\n    version: 0.1.0\n  - name: json\n    version: 0.7.0\n",
		"- required_plugin_versions:\n  - name: cloudtrail\n    version: 0.1.0\n    alternatives:\n      - name: k8saudit\n        version: 0.1.0\n",
	}
	for _, doc := range ok {
		if _, ds, err := Load(files(doc), Options{Registries: testRegs()}); err != nil || len(ds) != 0 {
			t.Errorf("%q: %v %v", doc, err, ds)
		}
	}
}
