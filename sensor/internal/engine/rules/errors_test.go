package rules

import (
	"strings"
	"testing"
)

// TestLoadErrors checks each kind of load problem: its severity, the
// FILE:LINE:COL it points at and the item it names.
func TestLoadErrors(t *testing.T) {
	rule := func(extra string) string {
		return "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n" + extra
	}
	tests := []struct {
		name string
		docs []string
		want string // the diagnostic's String() must start with this
		has  string // and contain this
	}{
		{"missing keys", []string{"- rule: R\n  desc: d\n  condition: evt.type = open\n"},
			`a.yaml:1:3: rule "R": rule has no output, priority`, ""},
		{"bad priority", []string{"- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: urgent\n"},
			`a.yaml:5:13: rule "R": unknown priority "urgent"`, ""},
		{"unknown field in condition", []string{"- rule: R\n  desc: d\n  condition: evt.type = open and proc.nme = x\n  output: o\n  priority: INFO\n"},
			`a.yaml:3:34: rule "R": `, "proc.nme"},
		{"unknown field in a folded block condition", []string{"- rule: R\n  desc: d\n  condition: >\n    evt.type = open\n    and  proc.nme = x\n  output: o\n  priority: INFO\n"},
			`a.yaml:5:10: rule "R": `, "proc.nme"},
		{"unknown field in a multi-line plain condition", []string{"- rule: R\n  desc: d\n  condition: evt.type = open\n    and proc.nme = x\n  output: o\n  priority: INFO\n"},
			`a.yaml:4:9: rule "R": `, "proc.nme"},
		{"unknown field in a literal block condition", []string{"- rule: R\n  desc: d\n  condition: |\n    evt.type = open and\n      proc.nme = x\n  output: o\n  priority: INFO\n"},
			`a.yaml:5:7: rule "R": `, "proc.nme"},
		{"unknown field in a quoted condition", []string{"- rule: R\n  desc: d\n  condition: \"evt.type = open and proc.nme = x\"\n  output: o\n  priority: INFO\n"},
			`a.yaml:3:35: rule "R": `, "proc.nme"},
		{"unknown field in an appended condition", []string{rule(""), "- rule: R\n  condition: and proc.nme = x\n  override:\n    condition: append\n"},
			`b.yaml:2:18: rule "R": `, "proc.nme"},
		{"unknown field in an exception", []string{rule("  exceptions:\n    - name: e\n      fields: [proc.name, fd.nme]\n      values: [[a, b]]\n")},
			`a.yaml:7:7: rule "R": `, "fd.nme"},
		{"unknown field in a macro", []string{"- macro: m\n  condition: proc.name = a or fd.nme = b\n" + strings.ReplaceAll(rule(""), "evt.type = open", "evt.type = open and m")},
			`a.yaml:2:31: rule "R": in macro "m": `, "fd.nme"},
		{"syntax error", []string{"- rule: R\n  desc: d\n  condition: evt.type = open and (proc.name = x\n  output: o\n  priority: INFO\n"},
			`a.yaml:3:47: rule "R": `, "expected ')'"},
		{"syntax error with exceptions", []string{"- rule: R\n  desc: d\n  condition: evt.type = open and (proc.name = x\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: proc.name\n      values: [a]\n"},
			`a.yaml:3:47: rule "R": `, "expected ')'"},
		{"syntax error in a macro", []string{"- macro: m\n  condition: proc.name ==\n"},
			`a.yaml:2:`, `macro "m": `},
		{"undefined macro", []string{strings.ReplaceAll(rule(""), "evt.type = open", "evt.type = open and nosuch")},
			`a.yaml:3:34: rule "R": `, "nosuch"},
		{"unknown key warns", []string{rule("  foo: bar\n")},
			`a.yaml:6:3: warning: rule "R": unknown key "foo", ignored`, ""},
		{"unknown exception key warns", []string{rule("  exceptions:\n    - name: e\n      fields: proc.name\n      valuez: [a]\n")},
			`a.yaml:9:7: warning: rule "R": unknown exception key "valuez"`, ""},
		{"engine too new", []string{"- required_engine_version: 0.99.0\n"},
			`a.yaml:1:28: rules require engine version 0.99.0, but Harrier's engine version is 0.57.0`, ""},
		{"legacy engine too new", []string{"- required_engine_version: 99\n"},
			`a.yaml:1:28: rules require engine version 0.99.0`, ""},
		{"bad engine version", []string{"- required_engine_version: banana\n"},
			`a.yaml:1:28: required_engine_version: `, ""},
		{"unknown plugin", []string{"- required_plugin_versions:\n  - name: cloudtrail\n    version: 0.1.0\n"},
			`a.yaml:2:5: rules require plugin "cloudtrail"`, ""},
		{"append to a missing rule", []string{"- rule: R\n  condition: and x\n  append: true\n"},
			`a.yaml:1:3: rule "R": rule has append but no rule of that name is defined before it`, ""},
		{"append to a missing list", []string{"- list: L\n  items: [a]\n  append: true\n"},
			`a.yaml:1:3: list "L": list has append but no list of that name is defined before it`, ""},
		{"append to a missing macro", []string{"- macro: M\n  condition: and x\n  append: true\n"},
			`a.yaml:1:3: macro "M": macro has append but no macro`, ""},
		{"override of a missing rule", []string{"- rule: R\n  output: x\n  override:\n    output: append\n"},
			`a.yaml:1:3: rule "R": rule has override but no rule`, ""},
		{"override key without value", []string{rule(""), "- rule: R\n  override:\n    output: append\n"},
			`b.yaml:3:5: rule "R": an append override for "output" was specified but "output" is not defined`, ""},
		{"value without override entry", []string{rule(""), "- rule: R\n  output: x\n  desc: y\n  override:\n    output: append\n"},
			`b.yaml:3:3: rule "R": unexpected key "desc": no corresponding entry under override`, ""},
		{"override mode not allowed", []string{rule(""), "- rule: R\n  priority: ERROR\n  override:\n    priority: append\n"},
			`b.yaml:4:15: rule "R": key "priority" cannot be appended to, use replace instead`, ""},
		{"append and override together", []string{rule(""), "- rule: R\n  output: x\n  append: true\n  override:\n    output: append\n"},
			`b.yaml:4:3: rule "R": append and override cannot be used together`, ""},
		{"enabled-only for a missing rule", []string{"- rule: R\n  enabled: false\n"},
			`a.yaml:1:3: rule "R": rule has only enabled but no rule`, ""},
		{"enabled not a bool", []string{rule("  enabled: maybe\n")},
			`a.yaml:6:12: rule "R": enabled must be true or false`, ""},
		{"tags not a list", []string{rule("  tags: {a: b}\n")},
			`a.yaml:6:9: rule "R": tags must be a list of strings`, ""},
		{"exception fields and comps differ", []string{rule("  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=]\n")},
			`a.yaml:7:7: rule "R": exception "e": fields and comps lists must have equal length`, ""},
		{"exception single field with scalar comp", []string{rule("  exceptions:\n    - name: e\n      fields: proc.name\n      comps: =\n")},
			`a.yaml:7:7: rule "R": exception "e": with a single field, comps must be in, intersects or pmatch`, ""},
		{"exception value arity", []string{rule("  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      values: [[a]]\n")},
			`a.yaml:7:7: rule "R": exception "e": each value must be a list of 2 items`, ""},
		{"exception bad operator", []string{rule("  exceptions:\n    - name: e\n      fields: [proc.name]\n      comps: [like]\n")},
			`a.yaml:7:7: rule "R": exception "e": "like" is not a comparison operator`, ""},
		{"exception without fields", []string{rule("  exceptions:\n    - name: e\n      values: [a]\n")},
			`a.yaml:7:7: rule "R": exception "e" has no fields`, ""},
		{"exception unknown field", []string{rule("  exceptions:\n    - name: e\n      fields: [proc.nam]\n      values: [[a]]\n")},
			`a.yaml:7:7: rule "R": `, "proc.nam"},
		{"appending fields to an exception", []string{rule("  exceptions:\n    - name: e\n      fields: proc.name\n"), "- rule: R\n  exceptions:\n    - name: e\n      fields: fd.name\n  append: true\n"},
			`b.yaml:3:7: rule "R": exception "e" exists already: an append may only add values`, ""},
		{"duplicate exception", []string{rule("  exceptions:\n    - name: e\n      fields: proc.name\n    - name: e\n      fields: fd.name\n")},
			`a.yaml:9:7: warning: rule "R": multiple definitions of exception "e" in the same rule`, ""},
		{"bad output field", []string{"- rule: R\n  desc: d\n  condition: evt.type = open\n  output: file %fd.nme opened\n  priority: INFO\n"},
			`a.yaml:4:16: rule "R": `, "fd.nme"},
		{"skip-if-unknown-filter", []string{strings.ReplaceAll(rule("  skip-if-unknown-filter: true\n"), "evt.type = open", "evt.type = open and x.y = 1")},
			`a.yaml:3:34: warning: rule "R": rule skipped (skip-if-unknown-filter)`, "x.y"},
		{"unknown source", []string{rule("  source: aws_cloudtrail\n")},
			`a.yaml:1:3: warning: rule "R": unknown source "aws_cloudtrail", rule skipped`, ""},
		{"matches all event types", []string{strings.ReplaceAll(rule(""), "evt.type = open", "proc.name = x")},
			`a.yaml:1:3: warning: rule "R": rule matches all event types`, ""},
		{"warn_evttypes false silences it", []string{strings.ReplaceAll(rule("  warn_evttypes: false\n"), "evt.type = open", "proc.name = x"), "- rule: Z\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  tagz: []\n"},
			`b.yaml:6:3: warning: rule "Z": unknown key "tagz"`, ""},
		{"unused list and macro warn", []string{"- list: l\n  items: [a]\n- macro: m\n  condition: proc.name = a\n"},
			`a.yaml:3:3: warning: macro "m": macro not referenced`, ""},
		{"list cycle", []string{"- list: a\n  items: [b]\n- list: b\n  items: [a]\n"},
			`a.yaml:`, "list cycle"},
		{"YAML syntax", []string{"- rule: R\n  desc: [unclosed\n"},
			`a.yaml:`, "invalid YAML"},
		{"not a sequence", []string{"rule: R\n"},
			`a.yaml:1:1: rules content is not a YAML sequence`, ""},
		{"item not a mapping", []string{"- just a string\n"},
			`a.yaml:1:3: item is not a YAML mapping`, ""},
		{"unknown top-level item warns", []string{"- rulez: R\n"},
			`a.yaml:1:3: warning: unknown top-level item with keys rulez`, ""},
		{"duplicate key", []string{rule("  desc: again\n")},
			`a.yaml:`, "appears twice"},
		{"append is deprecated", []string{rule(""), "- rule: R\n  condition: and proc.name = x\n  append: true\n"},
			`b.yaml:3:3: warning: rule "R": append: true is deprecated`, ""},
		{"enabled-only is deprecated", []string{rule(""), "- rule: R\n  enabled: false\n"},
			`b.yaml:2:3: warning: rule "R": an item with only enabled is deprecated`, ""},
		{"nothing to define", []string{rule(""), "- rule: R\n  tags: [x]\n"},
			`b.yaml:1:3: rule "R": rule has no condition, output, desc or priority`, ""},
		{"source cannot be overridden", []string{rule(""), "- rule: R\n  source: k8s_audit\n  override:\n    source: replace\n"},
			`b.yaml:4:5: rule "R": key "source" cannot be overridden`, ""},
		{"invalid macro name", []string{"- macro: not valid\n  condition: proc.name = a\n"},
			`a.yaml:1:3: warning: macro "not valid": macro has an invalid name`, ""},
		{"invalid list name", []string{"- list: \"a,b\"\n  items: [x]\n"},
			`a.yaml:1:3: warning: list "a,b": list has an invalid name`, ""},
		{"appended exception without values warns", []string{rule("  exceptions:\n    - name: e\n      fields: proc.name\n      values: [a]\n"), "- rule: R\n  exceptions:\n    - name: e\n  override:\n    exceptions: append\n"},
			`b.yaml:3:7: warning: rule "R": overriding/appending exception "e" with no values`, ""},
		{"list bomb", []string{"- list: l0\n  items: [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]\n- list: l1\n  items: [l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0, l0]\n- list: l2\n  items: [l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1, l1]\n- list: l3\n  items: [l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2, l2]\n- list: l4\n  items: [l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3, l3]\n"},
			`a.yaml:`, "more than 1048576 items"},
		{"empty condition", []string{"- rule: R\n  desc: d\n  condition: \"\"\n  output: o\n  priority: INFO\n"},
			`a.yaml:1:3: rule "R": rule has an empty condition`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ds, err := Load(files(tt.docs...), Options{Registries: testRegs()})
			found := false
			for _, d := range ds {
				s := d.String()
				if strings.HasPrefix(s, tt.want) && strings.Contains(s, tt.has) {
					found = true
				}
			}
			if !found {
				t.Errorf("no diagnostic %q...%q in:\n%v", tt.want, tt.has, ds)
			}
			isWarning := strings.Contains(tt.want, "warning:")
			if isWarning && len(ds.Errors()) > 0 {
				t.Errorf("unexpected errors: %v", ds.Errors())
			}
			if !isWarning && err == nil {
				t.Errorf("Load returned no error")
			}
		})
	}
}
