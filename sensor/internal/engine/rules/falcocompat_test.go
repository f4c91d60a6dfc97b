package rules

import (
	"strings"
	"testing"
)

// TestFalcoLoaderBehaviour holds the loader to Falco's behaviour on points
// where a stricter or looser reading would reject (or accept) rules files
// Falco users run. Each case names the Falco behaviour it follows.
func TestFalcoLoaderBehaviour(t *testing.T) {
	const rule = "- rule: R\n  desc: d\n  condition: evt.type = open and proc.name = cat\n  output: o\n  priority: INFO\n"
	tests := []struct {
		name string
		// falco says what Falco does (rule_loader_reader.cpp,
		// rule_loader_collector.cpp, rule_loader_compiler.cpp).
		falco     string
		docs      []string
		wantErr   string   // an error containing this; "" for none
		wantWarn  []string // codes of warnings that must be present
		wantCond  string   // the compiled condition of R, when set
		wantRules int      // rules compiled, when >= 0
	}{
		{
			name:     "macro name with spaces",
			falco:    "reader: LOAD_INVALID_MACRO_NAME warning, the macro is still defined",
			docs:     []string{"- macro: my macro\n  condition: proc.name = cat\n" + rule},
			wantWarn: []string{WarnInvalidMacroName, WarnUnusedMacro}, wantRules: 1,
		},
		{
			name:     "list name with spaces",
			falco:    "reader: LOAD_INVALID_LIST_NAME warning, the list is still defined",
			docs:     []string{"- list: my list\n  items: [cat]\n" + rule},
			wantWarn: []string{WarnInvalidListName, WarnUnusedList}, wantRules: 1,
		},
		{
			name:  "duplicate exception names",
			falco: "reader: LOAD_EXCEPTION_NAME_NOT_UNIQUE warning; both exceptions apply",
			docs: []string{rule + "  exceptions:\n    - name: e\n      fields: proc.name\n      values: [cat]\n" +
				"    - name: e\n      fields: fd.name\n      values: [/tmp/x]\n"},
			wantWarn:  []string{WarnExceptionNotUnique},
			wantCond:  `(evt.type = open and proc.name = cat) and not (proc.name in (cat)) and not (fd.name in (/tmp/x))`,
			wantRules: 1,
		},
		{
			name:  "override replace of an undefined macro defines it",
			falco: "unit test macro_override_replace_before_macro_definition: the first item defines the macro",
			docs: []string{"- macro: m\n  condition: proc.name = ls\n  override:\n    condition: replace\n" +
				"- macro: m\n  condition: proc.name = cat\n" + strings.Replace(rule, "proc.name = cat", "m", 1)},
			wantCond: "evt.type = open and m", wantRules: 1,
		},
		{
			name:  "override replace of an undefined list defines it",
			falco: "unit test list_override_replace_before_list_definition",
			docs: []string{"- list: l\n  items: [ls]\n  override:\n    items: replace\n" +
				strings.Replace(rule, "proc.name = cat", "proc.name in (l)", 1)},
			wantRules: 1,
		},
		{
			name:    "override append of an undefined macro is an error",
			falco:   "unit test macro_override_append_before_macro_definition: ERROR_NO_PREVIOUS_MACRO",
			docs:    []string{"- macro: m\n  condition: or proc.name = ls\n  override:\n    condition: append\n"},
			wantErr: "no macro of that name",
		},
		{
			name:      "override of capture",
			falco:     "reader: capture and capture_duration are replaceable keys",
			docs:      []string{rule, "- rule: R\n  capture: true\n  capture_duration: 3000\n  override:\n    capture: replace\n    capture_duration: replace\n"},
			wantRules: 1,
		},
		{
			name:    "rule redefined under another source",
			falco:   "collector::define: \"Rule has been re-defined with a different source\" error",
			docs:    []string{rule, strings.Replace(rule, "evt.type = open and proc.name = cat", "ka.verb = create", 1) + "  source: k8s_audit\n"},
			wantErr: "re-defined with a different source",
		},
		{
			name:    "exception field checked without values",
			falco:   "collector validate_exception_info: every exception field must exist, values or not",
			docs:    []string{rule + "  exceptions:\n    - name: e\n      fields: [proc.name, proc.nosuch]\n"},
			wantErr: `"proc.nosuch" is not a supported filter field`,
		},
		{
			name:  "generic evt fields on the k8s_audit source",
			falco: "libsinsp's evt.* fields exist for every source, plugin events included",
			docs: []string{"- rule: A\n  desc: d\n  condition: ka.verb = create and evt.source = k8s_audit and evt.rawtime > 0\n" +
				"  output: at %evt.time on %evt.hostname user=%ka.user.name\n  priority: INFO\n  source: k8s_audit\n"},
			wantRules: 1,
		},
		{
			name:     "rule without event type warns",
			falco:    "compiler: LOAD_NO_EVTTYPE when a syscall rule matches no or too many event types",
			docs:     []string{strings.Replace(rule, "evt.type = open and ", "", 1)},
			wantWarn: []string{WarnNoEvttype}, wantRules: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, ds, err := Load(files(tt.docs...), Options{Registries: testRegs()})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Falco: %s\nwant error containing %q, got %v", tt.falco, tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Falco: %s\nunexpected error: %v", tt.falco, err)
			}
			for _, code := range tt.wantWarn {
				found := false
				for _, d := range ds.Warnings() {
					found = found || d.Code == code
				}
				if !found {
					t.Errorf("Falco: %s\nno %s warning in %v", tt.falco, code, ds)
				}
			}
			if tt.wantRules > 0 && len(rs.Rules()) != tt.wantRules {
				t.Errorf("compiled %d rules, want %d (%v)", len(rs.Rules()), tt.wantRules, ds)
			}
			if tt.wantCond != "" {
				if r := ruleByName(rs, "R"); r == nil || r.Condition != tt.wantCond {
					t.Errorf("condition of R = %v, want %q", r, tt.wantCond)
				}
			}
		})
	}
}

// TestExceptionValuesAsFalcoWritesThem checks that exception values are
// spliced into the condition as Falco's compiler writes them
// (build_rule_exception_infos with quote_item/paren_item): a transformer
// compares field to field, a bare word names a list, a value with a space
// is one quoted string.
func TestExceptionValuesAsFalcoWritesThem(t *testing.T) {
	const head = "- list: admins\n  items: [alice, bob]\n" +
		"- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  exceptions:\n"
	tests := []struct {
		name      string
		exception string
		ev        *testEvent
		fires     bool
	}{
		{"transformer value compares two fields",
			"    - name: self\n      fields: [proc.name, fd.name]\n      comps: [=, =]\n      values: [[tolower(user.name), /x]]\n",
			&testEvent{typ: 0, proc: "root", file: "/x", user: "ROOT"}, false},
		{"transformer value, other user",
			"    - name: self\n      fields: [proc.name, fd.name]\n      comps: [=, =]\n      values: [[tolower(user.name), /x]]\n",
			&testEvent{typ: 0, proc: "cat", file: "/x", user: "ROOT"}, true},
		{"bare word with a list operator names a list",
			"    - name: who\n      fields: [user.name, fd.name]\n      comps: [in, =]\n      values: [[admins, /x]]\n",
			&testEvent{typ: 0, proc: "cat", file: "/x", user: "bob"}, false},
		{"value with a space is one string",
			"    - name: spaced\n      fields: fd.name\n      values: [/a b]\n",
			&testEvent{typ: 0, proc: "cat", file: "/a b", user: "bob"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, _ := load(t, MatchAll, head+tt.exception)
			got := len(fired(rs, tt.ev)) > 0
			if got != tt.fires {
				t.Errorf("fires = %v, want %v; condition %q", got, tt.fires, ruleByName(rs, "R").Condition)
			}
		})
	}
}

// TestExceptionCompsWithModifiers: comps take any operator of the condition
// language (collector validate_exception_info checks them against the
// parser's operators), including a list modifier after a string operator.
func TestExceptionCompsWithModifiers(t *testing.T) {
	doc := "- list: tmpdirs\n  items: [/tmp, /var/tmp]\n" +
		"- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  exceptions:\n" +
		"    - name: tmp\n      fields: [proc.name, fd.name]\n      comps: [=, startswith anyof]\n      values: [[cat, tmpdirs], [ls, [/home, /root]]]\n"
	rs, _ := load(t, MatchAll, doc)
	for _, tt := range []struct {
		proc, file string
		fires      bool
	}{
		{"cat", "/var/tmp/x", false},
		{"cat", "/home/x", true},
		{"ls", "/root/.ssh", false},
		{"ls", "/etc/passwd", true},
	} {
		if got := len(fired(rs, ev("open", tt.proc, tt.file))) > 0; got != tt.fires {
			t.Errorf("%s %s: fires = %v, want %v (condition %q)", tt.proc, tt.file, got, tt.fires, ruleByName(rs, "R").Condition)
		}
	}
	_, _, err := Load(files(strings.Replace(doc, "startswith anyof", "startswith sometimes", 1)), Options{Registries: testRegs()})
	if err == nil || !strings.Contains(err.Error(), "not a comparison operator") {
		t.Errorf("bad modifier: %v", err)
	}
}

// TestValidationAsFalco checks the problems Falco's loader finds, each at
// its file:line:col, all of them in one run.
func TestValidationAsFalco(t *testing.T) {
	const r = "- rule: R\n  desc: d\n  condition: %s\n  output: %s\n  priority: INFO\n"
	rule := func(cond, out string) string {
		return strings.Replace(strings.Replace(r, "%s", cond, 1), "%s", out, 1)
	}
	tests := []struct {
		name  string
		falco string // the Falco behaviour followed
		docs  []string
		want  []string // diagnostics (String() prefix + "|" + code), all present
	}{
		{"every error of a condition",
			"Harrier reports all (Falco stops at the first error of a file); each at its line:col",
			[]string{rule("evt.type = open and proc.nosuch = 1 and fd.nosuch = 2", "o")},
			[]string{`a.yaml:3:34: rule "R": unknown field proc.nosuch|LOAD_ERR_COMPILE_CONDITION`,
				`a.yaml:3:54: rule "R": unknown field fd.nosuch|LOAD_ERR_COMPILE_CONDITION`}},
		{"errors of several rules and of the output",
			"compiler: LOAD_ERR_COMPILE_OUTPUT for a bad output, LOAD_ERR_COMPILE_CONDITION for a bad condition",
			[]string{rule("evt.type = open and proc.nosuch = 1", "x %fd.nosuch"), strings.Replace(rule("evt.type = opne", "o"), "rule: R", "rule: S", 1)},
			[]string{`a.yaml:3:34: rule "R": unknown field proc.nosuch|LOAD_ERR_COMPILE_CONDITION`,
				`a.yaml:4:13: rule "R": |LOAD_ERR_COMPILE_OUTPUT`,
				`b.yaml:3:25: rule "S": unknown event type "opne"|LOAD_ERR_COMPILE_CONDITION`}},
		{"macro loop",
			"filter_macro_resolver: a macro that reaches itself is an error, used or not",
			[]string{"- macro: a\n  condition: proc.name = x\n- macro: b\n  condition: a\n- macro: a\n  condition: or b\n  override:\n    condition: append\n"},
			[]string{`a.yaml:2:14: macro "a": macro cycle: a -> b -> a|LOAD_ERR_COMPILE_CONDITION`}},
		{"macro used before its definition",
			"compile_macros_infos: a macro resolves only macros of a lower index than its visibility",
			[]string{"- macro: a\n  condition: b and proc.name = x\n- macro: b\n  condition: proc.name = y\n"},
			[]string{`a.yaml:2:14: macro "a": undefined macro "b" used in macro "a"|LOAD_ERR_COMPILE_CONDITION`}},
		{"undefined macro inside an unused macro",
			"compile_macros_infos resolves every macro: \"Undefined macro 'x' used in filter\"",
			[]string{"- macro: unused\n  condition: proc.name = y and nosuch\n"},
			[]string{`a.yaml:2:32: macro "unused": undefined macro "nosuch"|LOAD_ERR_COMPILE_CONDITION`}},
		{"exception field without values",
			"collector validate_exception_info: \"'x' is not a supported filter field\"",
			[]string{rule("evt.type = open", "o") + "  exceptions:\n    - name: e\n      fields: proc.nosuch\n"},
			[]string{`a.yaml:7:7: rule "R": exception "e": "proc.nosuch" is not a supported filter field|LOAD_ERR_VALIDATE`}},
		{"<NA> comparison",
			"filter_warning_resolver: LOAD_UNSAFE_NA_CHECK for ka.*/jevt.* equality with <NA>",
			[]string{rule("ka.verb = create and ka.target.name in (x, <NA>)", "o") + "  source: k8s_audit\n"},
			[]string{`a.yaml:1:3: warning: rule "R": comparing a field value with <NA> is unsafe|LOAD_UNSAFE_NA_CHECK`}},
		{"evt.dir in a macro of the condition",
			"filter_warning_resolver: deprecated evt.dir (LOAD_DEPRECATED_ITEM), macros expanded",
			[]string{"- macro: m\n  condition: evt.dir = <\n" + rule("evt.type = open and m", "o")},
			[]string{`a.yaml:3:3: warning: rule "R": usage of deprecated field 'evt.dir' has been detected in the rule condition|LOAD_DEPRECATED_ITEM`}},
		{"evt.dir in the output",
			"compiler check_deprecated_fields_in_output",
			[]string{rule("evt.type = open", "dir=%evt.dir")},
			[]string{`a.yaml:4:11: warning: rule "R": usage of deprecated field 'evt.dir' has been detected in the rule output|LOAD_DEPRECATED_ITEM`}},
		{"%container.info",
			"compiler: LOAD_DEPRECATED_ITEM warning, the placeholder is replaced",
			[]string{rule("evt.type = open", "x %container.info")},
			[]string{`a.yaml:4:11: warning: rule "R": %container.info is deprecated|LOAD_DEPRECATED_ITEM`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			regs := testRegs()
			// evt.dir, as the syscall source has it.
			regs["syscall"].MustAdd(strField("evt.dir", func(*testEvent) string { return "<" }))
			_, ds, _ := Load(files(tt.docs...), Options{Registries: regs})
			for _, w := range tt.want {
				prefix, code, _ := strings.Cut(w, "|")
				found := false
				for _, d := range ds {
					found = found || (strings.HasPrefix(d.String(), prefix) && (code == "" || d.Code == code))
				}
				if !found {
					t.Errorf("Falco: %s\nno diagnostic %q [%s] in:\n%v", tt.falco, prefix, code, ds)
				}
			}
		})
	}
}

// TestMacroVisibility: a macro changed (appended, overridden) after
// another macro's definition sees it (Falco's visibility index); rules see
// every macro wherever they are defined.
func TestMacroVisibility(t *testing.T) {
	rs, ds := load(t, MatchAll, `
- rule: R
  desc: d
  condition: evt.type = open and a
  output: o
  priority: INFO
- macro: a
  condition: proc.name = cat
- macro: b
  condition: fd.name = /x
- macro: a
  condition: and b
  override:
    condition: append
`)
	if len(ds.Errors()) > 0 || len(rs.Rules()) != 1 {
		t.Fatalf("diagnostics %v", ds)
	}
	if got := fired(rs, ev("open", "cat", "/x")); len(got) != 1 {
		t.Errorf("fired %v, want R", got)
	}
	if got := fired(rs, ev("open", "cat", "/y")); len(got) != 0 {
		t.Errorf("fired %v without b", got)
	}
}
