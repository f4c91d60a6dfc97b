// Package rules loads Falco rules files (lists, macros, rules, exceptions,
// appends and overrides across several files) and compiles them into a
// Ruleset that evaluates events of any source against the rules that can
// fire on them.
//
// Loading runs in three stages, as Falco's engine does: read (YAML into
// positioned items, read.go), collect (merge items across files,
// collect.go) and compile (conditions into filters indexed by event type,
// compile.go). Every problem is a Diagnostic located in a file.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/engine/alertfmt"
	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// Rule is one compiled rule.
type Rule struct {
	Name     string
	Desc     string
	Source   string
	Priority harrierv1.Priority
	Tags     []string
	// Enabled is the rule's state after loading and selection.
	Enabled bool
	// Condition is the full condition as compiled, exceptions included.
	Condition string
	Output    *alertfmt.Format
	// EventTypes names the event types the rule can match (sorted); empty
	// when it matches all types of its source.
	EventTypes []string
	Pos        Pos // where the rule is defined

	filter  *filter.Filter
	expr    filter.Expr // the parsed condition, for analyses (prefilter)
	env     *filter.Env // its macros and lists
	typeIDs []uint16
	anyType bool
	order   int
}

// Parsed returns the rule's parsed condition (exceptions included) with
// the macros and lists it may reference, for analyses of the condition
// such as the kernel prefilter's derivation. Callers must not modify them.
func (r *Rule) Parsed() (filter.Expr, filter.Env) {
	if r.env == nil {
		return r.expr, filter.Env{}
	}
	return r.expr, *r.env
}

// Match reports whether ev satisfies the rule's condition.
func (r *Rule) Match(ev fields.Event) bool { return r.filter.Match(ev) }

// AlertRule is the rule as alertfmt needs it to build alerts.
func (r *Rule) AlertRule() *alertfmt.Rule {
	return &alertfmt.Rule{Name: r.Name, Priority: r.Priority, Source: r.Source, Tags: r.Tags, Output: r.Output}
}

// Matching says how many rules may fire for one event.
type Matching uint8

const (
	// MatchFirst stops at the first matching rule in load order (Falco's
	// default, rule_matching: first).
	MatchFirst Matching = iota
	// MatchAll fires every matching rule (rule_matching: all).
	MatchAll
)

// ParseMatching reads Falco's rule_matching setting.
func ParseMatching(s string) (Matching, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "first":
		return MatchFirst, nil
	case "all":
		return MatchAll, nil
	}
	return MatchFirst, fmt.Errorf("rule_matching %q: want first or all", s)
}

// Options configure a load.
type Options struct {
	// Registries maps a source name ("syscall", "k8s_audit") to its
	// fields. Rules of a source without a registry are skipped with a
	// warning, as Falco skips rules of sources it has no plugin for.
	Registries map[string]*fields.Registry
	Matching   Matching
}

// Ruleset is a loaded, compiled set of rules. It is immutable, so one
// Ruleset can evaluate events from many goroutines; Select derives a new
// one with other rules enabled.
type Ruleset struct {
	rules    []*Rule // all compiled rules, in load order
	sources  []*sourceIndex
	matching Matching
	version  string
	regs     map[string]*fields.Registry
}

// sourceIndex holds, for one source, the enabled rules that can fire on
// each event type id.
type sourceIndex struct {
	name   string
	byType [][]*Rule
}

// LoadFiles reads and loads rules files in order.
func LoadFiles(paths []string, opts Options) (*Ruleset, Diagnostics, error) {
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("rules: %w", err)
		}
		files = append(files, File{Name: p, Data: data})
	}
	return Load(files, opts)
}

// Load compiles rules files in order. It returns every diagnostic (errors
// and warnings); the error is non-nil (a *LoadError) when any diagnostic
// is an error, and the Ruleset is then nil.
func Load(files []File, opts Options) (*Ruleset, Diagnostics, error) {
	d := &diags{}
	c := newCollector(d)
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", path.Base(f.Name), len(f.Data))
		h.Write(f.Data)
		for _, it := range readFile(newSrcFile(f), d) {
			c.add(it)
		}
	}
	compiled := c.compile(opts.Registries)
	sortDiagnostics(d.list, files)
	if err := d.list.Err(); err != nil {
		return nil, d.list, err
	}
	for i, r := range compiled {
		r.order = i
	}
	rs := &Ruleset{rules: compiled, matching: opts.Matching, version: hex.EncodeToString(h.Sum(nil))[:16]}
	rs.index(opts.Registries)
	return rs, d.list, nil
}

func (rs *Ruleset) index(regs map[string]*fields.Registry) {
	bySource := map[string]*sourceIndex{}
	for _, r := range rs.rules {
		if !r.Enabled {
			continue
		}
		si := bySource[r.Source]
		if si == nil {
			n := len(regs[r.Source].EventTypes())
			si = &sourceIndex{name: r.Source, byType: make([][]*Rule, max(n, 1))}
			bySource[r.Source] = si
			rs.sources = append(rs.sources, si)
		}
		if r.anyType {
			for t := range si.byType {
				si.byType[t] = append(si.byType[t], r)
			}
			continue
		}
		for _, id := range r.typeIDs {
			if int(id) < len(si.byType) {
				si.byType[id] = append(si.byType[id], r)
			}
		}
	}
	rs.regs = regs
}

// sortDiagnostics orders diagnostics as the files were given, then by
// line and column, so that a report reads top to bottom.
func sortDiagnostics(ds Diagnostics, files []File) {
	order := make(map[string]int, len(files))
	for i, f := range files {
		if _, dup := order[f.Name]; !dup {
			order[f.Name] = i
		}
	}
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if oa, ob := order[a.File], order[b.File]; oa != ob {
			return oa - ob
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
}

// Version identifies the loaded content (a hash of the files' names and
// bytes), for Alert.ruleset_version.
func (rs *Ruleset) Version() string { return rs.version }

// Rules returns every compiled rule in load order, enabled or not.
func (rs *Ruleset) Rules() []*Rule { return rs.rules }

// Matching returns the ruleset's rule_matching mode.
func (rs *Ruleset) Matching() Matching { return rs.matching }

var scratchPool = sync.Pool{New: func() any { return new(filter.Scratch) }}

// Evaluate calls fn for the rules ev matches (the first only, with
// MatchFirst) and returns how many matched. It is safe for concurrent use.
func (rs *Ruleset) Evaluate(ev fields.Event, fn func(*Rule)) int {
	s := scratchPool.Get().(*filter.Scratch)
	n := rs.eval(ev, s, fn)
	scratchPool.Put(s)
	return n
}

// EvaluateScratch is Evaluate with caller-owned scratch space, for hot
// loops: with one Scratch per goroutine it does not allocate. The Scratch
// also carries each field's value from one rule to the next within the
// event, so a field many rules test is extracted once.
func (rs *Ruleset) EvaluateScratch(ev fields.Event, s *filter.Scratch, fn func(*Rule)) int {
	return rs.eval(ev, s, fn)
}

func (rs *Ruleset) eval(ev fields.Event, s *filter.Scratch, fn func(*Rule)) int {
	var si *sourceIndex
	src := ev.Source()
	for _, x := range rs.sources {
		if x.name == src {
			si = x
			break
		}
	}
	if si == nil {
		return 0
	}
	t := int(ev.TypeID())
	if t >= len(si.byType) {
		return 0
	}
	n := 0
	s.BeginEvent()
	for _, r := range si.byType[t] {
		if !r.filter.MatchScratch(ev, s) {
			continue
		}
		n++
		if fn != nil {
			fn(r)
		}
		if rs.matching == MatchFirst {
			break
		}
	}
	return n
}

// SelectOp is one step of a rule selection: enable or disable the rules
// named (a glob with *, as in Falco's rules: config) or carrying a tag.
type SelectOp struct {
	Enable bool
	Rule   string // a rule name or a glob ("*", "Write below*")
	Tag    string
}

// Selection chooses the rules that run, after loading: the ops apply in
// order to the rules' loaded enabled state, then rules less severe than
// MinPriority are left out (Falco's priority setting).
type Selection struct {
	Ops         []SelectOp
	MinPriority harrierv1.Priority
	Matching    *Matching // nil keeps the ruleset's
}

// Select returns a new Ruleset with the selection applied. Ops naming
// nothing are reported as errors (a typo would silently run other rules).
func (rs *Ruleset) Select(sel Selection) (*Ruleset, error) {
	enabled := make([]bool, len(rs.rules))
	for i, r := range rs.rules {
		enabled[i] = r.Enabled
	}
	for _, op := range sel.Ops {
		hit := false
		for i, r := range rs.rules {
			if (op.Rule != "" && globMatch(op.Rule, r.Name)) || (op.Tag != "" && slices.Contains(r.Tags, op.Tag)) {
				enabled[i] = op.Enable
				hit = true
			}
		}
		if !hit {
			what := "rule " + op.Rule
			if op.Rule == "" {
				what = "tag " + op.Tag
			}
			return nil, fmt.Errorf("rules selection: no rule matches %s", what)
		}
	}
	out := &Ruleset{matching: rs.matching, version: rs.version}
	if sel.Matching != nil {
		out.matching = *sel.Matching
	}
	for i, r := range rs.rules {
		cp := *r
		cp.Enabled = enabled[i] && r.Priority.AtLeast(sel.MinPriority)
		out.rules = append(out.rules, &cp)
	}
	out.index(rs.regs)
	return out, nil
}

// globMatch matches name against a pattern where * is any run of
// characters (Falco's rule name wildcards).
func globMatch(pattern, name string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == name
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for i, p := range parts[1:] {
		last := i == len(parts)-2
		if last {
			return strings.HasSuffix(name, p)
		}
		j := strings.Index(name, p)
		if j < 0 {
			return false
		}
		name = name[j+len(p):]
	}
	return true
}
