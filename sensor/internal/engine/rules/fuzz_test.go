package rules

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad loads arbitrary bytes as a rules file after a valid one (so
// that appends and overrides have something to change) and evaluates an
// event: the loader must never panic or hang, whatever it reads.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(exceptionRules))
	f.Add([]byte("- rule: Shell\n  condition: and proc.name != bash\n  append: true\n"))
	f.Add([]byte("- rule: Shell\n  output: x\n  tags: [a]\n  override:\n    output: append\n    tags: replace\n"))
	f.Add([]byte("- list: shells\n  items: [zsh, shells]\n  append: true\n- macro: spawned\n  condition: spawned\n  override:\n    condition: replace\n"))
	f.Add([]byte("- required_engine_version: 0.99.0\n- required_plugin_versions:\n  - name: x\n    alternatives: [{name: k8saudit}]\n"))
	f.Add([]byte("- rule: X\n  desc: d\n  condition: >\n    evt.type in (open, execve) and\n    not proc.name pmatch (a, b)\n  output: \"%proc.name %fd.name[0] %tolower(proc.name)\"\n  priority: info\n  exceptions:\n    - name: a\n      fields: [proc.name, fd.name]\n      comps: [in, glob]\n      values: [[[a, \"b c\"], \"/x*\"], [shells, y]]\n"))
	f.Add([]byte("a: &a [x, x]\nb: &b [*a, *a]\n- rule: &r R\n"))
	f.Add([]byte("- list: &l L\n  items: &i [*l, *i]\n"))
	f.Add([]byte("\t- rule: [\n"))
	if p := filepath.Join(sharedFalco, "rules/k8s_audit_rules.yaml"); true {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data[:min(len(data), 6000)])
		}
	}
	regs := testRegs()
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := []File{{Name: "base.yaml", Data: []byte(base)}, {Name: "fuzz.yaml", Data: data}}
		rs, ds, err := Load(fs, Options{Registries: regs, Matching: MatchAll})
		if err == nil {
			rs.Evaluate(ev("execve", "bash", "/x"), func(*Rule) {})
			if len(ds.Errors()) != 0 {
				t.Fatalf("errors without error: %v", ds)
			}
		} else if len(ds.Errors()) == 0 {
			t.Fatalf("error %v without error diagnostics", err)
		}
		for _, d := range ds {
			if d.File == "" || d.Line < 1 || d.Col < 1 {
				t.Fatalf("diagnostic without a place: %#v", d)
			}
		}
	})
}
