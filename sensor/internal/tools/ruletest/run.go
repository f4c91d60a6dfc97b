package ruletest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// Status is the outcome of one case.
type Status uint8

const (
	Pass Status = iota
	Fail
	Skip  // the case's data is absent (e.g. shared audit files)
	Error // the case or its event is malformed
)

func (s Status) String() string {
	return [...]string{"PASS", "FAIL", "SKIP", "ERROR"}[s]
}

// MarshalText spells the status as in the report (PASS, FAIL, ...).
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Result is the outcome of one case with what differs from expected.
type Result struct {
	File   string         `json:"file"`
	Case   string         `json:"case"`
	Line   int            `json:"line"`
	Status Status         `json:"status"`
	Events int            `json:"events"` // events evaluated
	Fired  map[string]int `json:"fired"`  // rule -> alerts over the case's events
	// Missing: expected to fire, did not. Unexpected: in nofire, fired.
	Missing    []string `json:"missing,omitempty"`
	Unexpected []string `json:"unexpected,omitempty"`
	// CountDiffs: "rule: want N, got M".
	CountDiffs []string `json:"count_diffs,omitempty"`
	// Outputs are the alerts' output strings, "rule: text", in order.
	Outputs []string `json:"outputs,omitempty"`
	Reason  string   `json:"reason,omitempty"` // for Skip and Error
}

// WriteJSON prints one JSON object per case, for tools.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, res := range r.Results {
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return nil
}

// Report collects the results of a run.
type Report struct {
	Results []Result
}

// Counts returns how many cases ended with each status.
func (r *Report) Counts() (pass, fail, skip, errs int) {
	for _, res := range r.Results {
		switch res.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		case Error:
			errs++
		}
	}
	return
}

// OK reports whether no case failed or errored.
func (r *Report) OK() bool {
	_, f, _, e := r.Counts()
	return f == 0 && e == 0
}

// Runner evaluates cases against one loaded ruleset. It is not safe for
// concurrent use (it caches derived rulesets).
type Runner struct {
	rs     *rules.Ruleset
	byName map[string]*rules.Rule
	// selected caches rulesets with extra (disabled) rules enabled.
	selected map[string]*rules.Ruleset
}

// NewRunner wraps a loaded ruleset. Rules are evaluated with rule_matching
// all, so that every rule that matches an event is seen.
func NewRunner(rs *rules.Ruleset) (*Runner, error) {
	all := rules.MatchAll
	rs, err := rs.Select(rules.Selection{Matching: &all})
	if err != nil {
		return nil, err
	}
	r := &Runner{rs: rs, byName: map[string]*rules.Rule{}, selected: map[string]*rules.Ruleset{}}
	for _, rule := range rs.Rules() {
		r.byName[rule.Name] = rule
	}
	return r, nil
}

// LoadRules loads rules files for testing; diagnostics are returned so the
// caller can show warnings.
func LoadRules(paths []string) (*rules.Ruleset, rules.Diagnostics, error) {
	return rules.LoadFiles(paths, rules.Options{Registries: sources.Registries(), Matching: rules.MatchAll})
}

// RunFile runs every case of f.
func (r *Runner) RunFile(f *File) []Result {
	out := make([]Result, 0, len(f.Cases))
	for _, c := range f.Cases {
		out = append(out, r.RunCase(f, c))
	}
	return out
}

// RunCase builds the case's events, evaluates them and compares.
func (r *Runner) RunCase(f *File, c *Case) Result {
	res := Result{File: f.Path, Case: c.Name, Line: c.Line, Fired: map[string]int{}}
	evs, err := f.Events(c)
	var skip *errSkip
	switch {
	case errors.As(err, &skip):
		res.Status, res.Reason = Skip, skip.reason
		return res
	case err != nil:
		res.Status, res.Reason = Error, err.Error()
		return res
	}
	src := evs[0].Source()
	rs, err := r.rulesetFor(c, src)
	if err != nil {
		res.Status, res.Reason = Error, err.Error()
		return res
	}
	var buf []byte
	for _, ev := range evs {
		rs.Evaluate(ev, func(rule *rules.Rule) {
			res.Fired[rule.Name]++
			buf, _ = rule.Output.Render(buf[:0], ev)
			res.Outputs = append(res.Outputs, rule.Name+": "+string(buf))
		})
	}
	res.Events = len(evs)
	for _, name := range c.Fire {
		if res.Fired[name] == 0 {
			res.Missing = append(res.Missing, name)
		}
	}
	for _, name := range c.NoFire {
		if res.Fired[name] > 0 {
			res.Unexpected = append(res.Unexpected, name)
		}
	}
	names := make([]string, 0, len(c.Counts))
	for name := range c.Counts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if want, got := c.Counts[name], res.Fired[name]; want != got {
			res.CountDiffs = append(res.CountDiffs, fmt.Sprintf("%s: want %d, got %d", name, want, got))
		}
	}
	if len(res.Missing)+len(res.Unexpected)+len(res.CountDiffs) > 0 {
		res.Status = Fail
	}
	return res
}

// rulesetFor checks the rules a case names and returns a ruleset in which
// they are all enabled: a case that names a rule disabled by default tests
// its logic.
func (r *Runner) rulesetFor(c *Case, src string) (*rules.Ruleset, error) {
	var enable []string
	check := func(name string) error {
		rule := r.byName[name]
		if rule == nil {
			return fmt.Errorf("rule %q is not in the loaded rules", name)
		}
		if rule.Source != src {
			return fmt.Errorf("rule %q has source %s but the case's event is %s", name, rule.Source, src)
		}
		if !rule.Enabled {
			enable = append(enable, name)
		}
		return nil
	}
	for _, list := range [][]string{c.Fire, c.NoFire} {
		for _, name := range list {
			if err := check(name); err != nil {
				return nil, err
			}
		}
	}
	for name := range c.Counts {
		if err := check(name); err != nil {
			return nil, err
		}
	}
	if len(enable) == 0 {
		return r.rs, nil
	}
	sort.Strings(enable)
	enable = compactStrings(enable)
	key := strings.Join(enable, "\x00")
	if rs := r.selected[key]; rs != nil {
		return rs, nil
	}
	sel := rules.Selection{}
	for _, name := range enable {
		sel.Ops = append(sel.Ops, rules.SelectOp{Enable: true, Rule: name})
	}
	rs, err := r.rs.Select(sel)
	if err != nil {
		return nil, err
	}
	r.selected[key] = rs
	return rs, nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Events builds the events of a case.
func (f *File) Events(c *Case) ([]fields.Event, error) {
	if c.K8sAudit != nil {
		return f.k8sEvents(c.K8sAudit)
	}
	ev, err := f.syscallEvent(c.Syscall, 1)
	if err != nil {
		return nil, err
	}
	return []fields.Event{ev}, nil
}

// Write prints the report: failures with their diff, skips with the
// reason, then a summary line; verbose adds the passing cases and every
// alert's output.
func (r *Report) Write(w io.Writer, verbose bool) {
	for _, res := range r.Results {
		if res.Status == Pass && !verbose {
			continue
		}
		fmt.Fprintf(w, "%-5s %s:%d: %s\n", res.Status, res.File, res.Line, res.Case)
		switch res.Status {
		case Skip, Error:
			fmt.Fprintf(w, "      %s\n", res.Reason)
		case Fail:
			for _, name := range res.Missing {
				fmt.Fprintf(w, "      - %s (expected to fire, did not)\n", name)
			}
			for _, name := range res.Unexpected {
				fmt.Fprintf(w, "      + %s (fired %d time(s), expected not to)\n", name, res.Fired[name])
			}
			for _, d := range res.CountDiffs {
				fmt.Fprintf(w, "      # %s\n", d)
			}
			fmt.Fprintf(w, "      fired on %d event(s): %s\n", res.Events, firedList(res.Fired))
		}
		if verbose {
			for _, o := range res.Outputs {
				fmt.Fprintf(w, "      > %s\n", o)
			}
		}
	}
	p, f, s, e := r.Counts()
	fmt.Fprintf(w, "%d cases: %d passed, %d failed, %d skipped, %d errors\n", len(r.Results), p, f, s, e)
}

func firedList(m map[string]int) string {
	if len(m) == 0 {
		return "(none)"
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if m[n] > 1 {
			names[i] = fmt.Sprintf("%s (x%d)", n, m[n])
		}
	}
	return strings.Join(names, ", ")
}
