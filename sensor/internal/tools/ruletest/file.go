// Package ruletest runs rule test files: YAML files that describe events (a
// Kubernetes audit event, or a syscall event written as the fields a rule
// reads) and the rules that must and must not fire on them. It is what
// `harrier-sensor rules test` runs and what keeps Harrier's own rules
// honest under `make test`. The format is documented in docs/rule-tests.md.
package ruletest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"
)

// File is a parsed test file.
type File struct {
	Path string // as given
	// Base is the directory relative paths resolve against: the file's own
	// directory joined with its `base` key.
	Base string
	// Rules are the rules files the file asks for (resolved), used when the
	// caller names none.
	Rules     []string
	templates map[string]map[string]any
	Cases     []*Case
}

// Case is one test case.
type Case struct {
	Name string
	Line int // line of the case in the test file

	K8sAudit *K8sAuditSpec
	Syscall  map[string]any

	Fire   []string
	NoFire []string
	Counts map[string]int
}

// K8sAuditSpec describes the audit event(s) of a case: exactly one of File,
// Template or Event, then Set applied to each event.
type K8sAuditSpec struct {
	File     string         `yaml:"file"`
	Index    int            `yaml:"index"` // 1-based event number in File; 0 = every event
	Template string         `yaml:"template"`
	Event    map[string]any `yaml:"event"`
	// Set maps JSON pointers (RFC 6901) to new values; null removes.
	Set map[string]any `yaml:"set"`
}

type fileYAML struct {
	Base      string                    `yaml:"base"`
	Rules     []string                  `yaml:"rules"`
	Templates map[string]map[string]any `yaml:"templates"`
	Cases     []yaml.Node               `yaml:"cases"`
}

type caseYAML struct {
	Name     string         `yaml:"name"`
	K8sAudit *K8sAuditSpec  `yaml:"k8s_audit"`
	Syscall  map[string]any `yaml:"syscall"`
	Fire     []string       `yaml:"fire"`
	NoFire   []string       `yaml:"nofire"`
	Counts   map[string]int `yaml:"counts"`
}

// ParseFile reads and checks a test file. Errors name the file and line.
func ParseFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses test file content; path names it in errors and anchors
// relative paths.
func Parse(path string, data []byte) (*File, error) {
	var fy fileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fy); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	base := filepath.FromSlash(fy.Base)
	if !filepath.IsAbs(base) {
		base = filepath.Join(filepath.Dir(path), base)
	}
	f := &File{Path: path, Base: base, templates: fy.Templates}
	for _, r := range fy.Rules {
		f.Rules = append(f.Rules, f.resolve(r))
	}
	if len(fy.Cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", path)
	}
	seen := map[string]int{}
	for i := range fy.Cases {
		n := &fy.Cases[i]
		var cy caseYAML
		if err := decodeStrict(n, &cy); err != nil {
			return nil, fmt.Errorf("%s:%d: case %d: %w", path, n.Line, i+1, err)
		}
		c := &Case{Name: cy.Name, Line: n.Line, K8sAudit: cy.K8sAudit, Syscall: cy.Syscall,
			Fire: cy.Fire, NoFire: cy.NoFire, Counts: cy.Counts}
		if err := f.check(c, seen); err != nil {
			return nil, fmt.Errorf("%s:%d: case %q: %w", path, n.Line, c.Name, err)
		}
		f.Cases = append(f.Cases, c)
	}
	return f, nil
}

// decodeStrict decodes n into v rejecting unknown keys (yaml.v3 only
// checks known fields in Decoder.Decode, so re-encode the node).
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func (f *File) check(c *Case, seen map[string]int) error {
	if c.Name == "" {
		return fmt.Errorf("missing name")
	}
	if prev, dup := seen[c.Name]; dup {
		return fmt.Errorf("name already used by the case at line %d", prev)
	}
	seen[c.Name] = c.Line
	switch {
	case c.K8sAudit == nil && c.Syscall == nil:
		return fmt.Errorf("needs an event: k8s_audit or syscall")
	case c.K8sAudit != nil && c.Syscall != nil:
		return fmt.Errorf("has both k8s_audit and syscall; one event source per case")
	}
	if len(c.Fire)+len(c.NoFire)+len(c.Counts) == 0 {
		return fmt.Errorf("expects nothing: give fire, nofire or counts")
	}
	fire := map[string]bool{}
	for _, r := range c.Fire {
		fire[r] = true
	}
	for _, r := range c.NoFire {
		if fire[r] {
			return fmt.Errorf("rule %q is in both fire and nofire", r)
		}
	}
	for r, n := range c.Counts {
		if n < 0 {
			return fmt.Errorf("counts: %q: negative count", r)
		}
	}
	if k := c.K8sAudit; k != nil {
		n := 0
		for _, set := range []bool{k.File != "", k.Template != "", k.Event != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("k8s_audit: give exactly one of file, template, event")
		}
		if k.Index < 0 || (k.Index > 0 && k.File == "") {
			return fmt.Errorf("k8s_audit: index must be positive and goes with file")
		}
		if k.Template != "" && f.templates[k.Template] == nil {
			return fmt.Errorf("k8s_audit: unknown template %q", k.Template)
		}
	}
	if s := c.Syscall; s != nil {
		if t, ok := s["template"]; ok {
			name, _ := t.(string)
			if f.templates[name] == nil {
				return fmt.Errorf("syscall: unknown template %v", t)
			}
		}
	}
	return nil
}

// resolve makes a path from the test file absolute-ish: relative paths
// are taken from Base.
func (f *File) resolve(p string) string {
	p = filepath.FromSlash(p)
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.Base, p)
}

// outsideBase reports whether p (resolved) lies outside Base: data that a
// clone of the repository may not have (see docs/rule-tests.md).
func (f *File) outsideBase(p string) bool {
	rel, err := filepath.Rel(f.Base, p)
	return err != nil || rel == ".." || len(rel) > 3 && rel[:3] == ".."+string(filepath.Separator)
}

// RuleNames returns every rule name the file's cases mention, sorted.
func (f *File) RuleNames() []string {
	set := map[string]bool{}
	for _, c := range f.Cases {
		for _, r := range c.Fire {
			set[r] = true
		}
		for _, r := range c.NoFire {
			set[r] = true
		}
		for r := range c.Counts {
			set[r] = true
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
