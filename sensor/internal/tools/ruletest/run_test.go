package ruletest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testRules = `
- required_engine_version: 0.50.0
- rule: Shadow Read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "shadow read by %proc.name"
  priority: WARNING
- rule: Disabled Exec
  desc: d
  condition: evt.type = execve and proc.name = nc
  output: "nc"
  priority: NOTICE
  enabled: false
- rule: Audit Create
  desc: d
  condition: ka.verb = create
  output: "create by %ka.user.name"
  priority: INFO
  source: k8s_audit
`

const auditLine = `{"kind":"Event","auditID":"a1","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"create","user":{"username":"bob"},"objectRef":{"resource":"configmaps"}}`

// writeTree writes files under a temporary directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunnerOutcomes(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"repo/rules/r.yaml":         testRules,
		"repo/data/two.json":        auditLine + "\n" + strings.Replace(auditLine, "bob", "carol", 1) + "\n",
		"repo/rules/tests/t.yaml":   "",
		"outside/placeholder.txt":   "",
		"repo/rules/tests/bad.yaml": "",
	})
	tests := `
base: ../..
rules: [rules/r.yaml]
templates:
  ev: {kind: Event, auditID: a2, stage: ResponseComplete, verb: create, user: {username: bob}}
cases:
  - name: pass fire
    syscall: {evt.type: openat, fd.name: /etc/shadow, proc.name: cat}
    fire: [Shadow Read]
  - name: pass nofire
    syscall: {evt.type: openat, fd.name: /etc/passwd}
    nofire: [Shadow Read]
  - name: fail missing
    syscall: {evt.type: openat, fd.name: /etc/passwd}
    fire: [Shadow Read]
  - name: fail unexpected
    syscall: {evt.type: openat, fd.name: /etc/shadow}
    nofire: [Shadow Read]
  - name: disabled rule is evaluated when named
    syscall: {evt.type: execve, proc.name: nc}
    fire: [Disabled Exec]
  - name: disabled rule is not reported otherwise
    syscall: {evt.type: execve, proc.name: nc}
    nofire: [Shadow Read]
  - name: counts over a file
    k8s_audit: {file: data/two.json}
    counts: {Audit Create: 2}
  - name: index picks one event
    k8s_audit: {file: data/two.json, index: 2}
    counts: {Audit Create: 1}
  - name: set changes the event
    k8s_audit: {template: ev, set: {/verb: get}}
    nofire: [Audit Create]
  - name: inline event
    k8s_audit: {event: {kind: Event, auditID: a3, verb: create, user: {username: eve}}}
    fire: [Audit Create]
  - name: missing data outside the repository is skipped
    k8s_audit: {file: ../outside/nope.json}
    fire: [Audit Create]
  - name: missing data inside the repository is an error
    k8s_audit: {file: data/nope.json}
    fire: [Audit Create]
  - name: unknown rule is an error
    syscall: {evt.type: openat}
    fire: [Shadow Reed]
  - name: wrong source is an error
    syscall: {evt.type: openat}
    nofire: [Audit Create]
  - name: bad syscall key is an error
    syscall: {evt.type: openat, fd.nmae: /etc/shadow}
    nofire: [Shadow Read]
`
	path := filepath.Join(dir, "repo", "rules", "tests", "t.yaml")
	if err := os.WriteFile(path, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rs, diags, err := LoadRules(f.Rules)
	if err != nil {
		t.Fatalf("load: %v %v", err, diags)
	}
	runner, err := NewRunner(rs)
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Results: runner.RunFile(f)}
	want := map[string]Status{
		"pass fire": Pass, "pass nofire": Pass, "fail missing": Fail, "fail unexpected": Fail,
		"disabled rule is evaluated when named": Pass, "disabled rule is not reported otherwise": Pass,
		"counts over a file": Pass, "index picks one event": Pass, "set changes the event": Pass,
		"inline event": Pass, "missing data outside the repository is skipped": Skip,
		"missing data inside the repository is an error": Error, "unknown rule is an error": Error,
		"wrong source is an error": Error, "bad syscall key is an error": Error,
	}
	for _, res := range rep.Results {
		if res.Status != want[res.Case] {
			t.Errorf("%s: %s (%s), want %s", res.Case, res.Status, res.Reason, want[res.Case])
		}
		if res.Case == "disabled rule is not reported otherwise" && res.Fired["Disabled Exec"] != 0 {
			t.Errorf("disabled rule fired in a case that does not name it")
		}
	}
	if rep.OK() {
		t.Error("report with failures says OK")
	}
	var out bytes.Buffer
	rep.Write(&out, false)
	text := out.String()
	for _, s := range []string{
		"FAIL  " + path + ":13: fail missing\n      - Shadow Read (expected to fire, did not)\n      fired on 1 event(s): (none)",
		"+ Shadow Read (fired 1 time(s), expected not to)",
		"SKIP", "not found (data outside the repository)",
		`rule "Shadow Reed" is not in the loaded rules`,
		"rule \"Audit Create\" has source k8s_audit but the case's event is syscall",
		"unsupported key(s) fd.nmae",
		"15 cases: 8 passed, 2 failed, 1 skipped, 4 errors",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("report lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "PASS") {
		t.Error("passing cases printed without verbose")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"cases: []", "no cases"},
		{"cases:\n  - name: a\n    fire: [x]\n", "needs an event"},
		{"cases:\n  - name: a\n    syscall: {evt.type: open}\n", "expects nothing"},
		{"cases:\n  - name: a\n    syscall: {evt.type: open}\n    k8s_audit: {template: t}\n    fire: [x]\n", "one event source"},
		{"cases:\n  - name: a\n    syscall: {evt.type: open}\n    fire: [x]\n    nofire: [x]\n", "both fire and nofire"},
		{"cases:\n  - name: a\n    syscall: {evt.type: open}\n    fire: [x]\n  - name: a\n    syscall: {evt.type: open}\n    fire: [x]\n", "already used by the case at line 2"},
		{"cases:\n  - name: a\n    syscall: {evt.type: open}\n    fires: [x]\n", "field fires not found"},
		{"cases:\n  - name: a\n    k8s_audit: {file: f, template: t}\n    fire: [x]\n", "exactly one of file, template, event"},
		{"cases:\n  - name: a\n    k8s_audit: {template: nope}\n    fire: [x]\n", `unknown template "nope"`},
		{"cases:\n  - name: a\n    syscall: {template: nope, evt.type: open}\n    fire: [x]\n", "unknown template nope"},
		{"cases:\n  - name: a\n    k8s_audit: {template: t, index: 2}\n    fire: [x]\n", "index must be positive and goes with file"},
		{"colour: red\ncases: []\n", "field colour not found"},
	} {
		_, err := Parse("t.yaml", []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.body, err, tc.want)
		}
	}
}

func TestSetPointer(t *testing.T) {
	doc := func() any {
		var v any
		_ = json.Unmarshal([]byte(`{"a":{"b":[1,2,3]},"x/y":1,"t~":2}`), &v)
		return v
	}
	for _, tc := range []struct {
		ptr  string
		val  any
		want string
	}{
		{"/a/b/1", "two", `{"a":{"b":[1,"two",3]},"t~":2,"x/y":1}`},
		{"/a/b/-", 4, `{"a":{"b":[1,2,3,4]},"t~":2,"x/y":1}`},
		{"/a/b/0", nil, `{"a":{"b":[2,3]},"t~":2,"x/y":1}`},
		{"/x~1y", nil, `{"a":{"b":[1,2,3]},"t~":2}`},
		{"/t~0", 3, `{"a":{"b":[1,2,3]},"t~":3,"x/y":1}`},
		{"/new/deep/key", true, `{"a":{"b":[1,2,3]},"new":{"deep":{"key":true}},"t~":2,"x/y":1}`},
		{"/gone/below", nil, `{"a":{"b":[1,2,3]},"t~":2,"x/y":1}`},
	} {
		got, err := setPointer(doc(), tc.ptr, tc.val)
		if err != nil {
			t.Errorf("%s: %v", tc.ptr, err)
			continue
		}
		b, _ := json.Marshal(got)
		if string(b) != tc.want {
			t.Errorf("%s = %s, want %s", tc.ptr, b, tc.want)
		}
	}
	for _, ptr := range []string{"a", "/a/b/9", "/a/b/x", "/a/b/0/c"} {
		if _, err := setPointer(doc(), ptr, 1); err == nil {
			t.Errorf("%s: no error", ptr)
		}
	}
}

// FuzzParse feeds arbitrary test files to the parser: errors are fine,
// panics are not. The seeds (Harrier's own test files and the error cases
// above) run under plain go test.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"k8s_audit.yaml", "syscall.yaml"} {
		if b, err := os.ReadFile(filepath.Join(repoRoot, "rules", "tests", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("cases:\n  - name: a\n    syscall: {evt.type: open}\n    fire: [x]\n"))
	f.Add([]byte("templates: {t: {a: 1}}\ncases:\n  - name: a\n    k8s_audit: {template: t, set: {/a: null}}\n    counts: {x: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, c := range file.Cases {
			if c.K8sAudit != nil && c.K8sAudit.File != "" {
				continue // a fuzzed path could name a device that never ends
			}
			_, _ = file.Events(c) // must not panic either
		}
	})
}

func TestSetOrder(t *testing.T) {
	f := &File{templates: map[string]map[string]any{"t": {"kind": "Event", "auditID": "x", "verb": "get"}}}
	for range 20 { // map order varies between runs; the result must not
		evs, err := f.k8sEvents(&K8sAuditSpec{Template: "t", Set: map[string]any{
			"/objectRef":           map[string]any{"resource": "pods"},
			"/objectRef/namespace": "shop",
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(evs[0].(interface{ Raw() []byte }).Raw()); !strings.Contains(got, `"objectRef":{"namespace":"shop","resource":"pods"}`) {
			t.Fatalf("event %s", got)
		}
	}
}

func TestBase(t *testing.T) {
	for base, want := range map[string]string{"": "dir", "../x": "x", "/abs/root": "/abs/root"} {
		f, err := Parse(filepath.Join("dir", "t.yaml"), []byte("base: "+base+"\nrules: [r.yaml]\ncases:\n  - name: a\n    syscall: {evt.type: open}\n    fire: [x]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if f.Base != want || f.Rules[0] != filepath.Join(want, "r.yaml") {
			t.Errorf("base %q: Base %q, rules %v; want %q", base, f.Base, f.Rules, want)
		}
	}
}
