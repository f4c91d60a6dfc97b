// Package alertfilter selects alerts for an output or a subscriber: with
// allow-lists, and with a condition in the rules' condition language
// (condition.go). Each list criterion is an allow-list: an empty list allows everything, otherwise
// any one entry must match; all criteria must hold. It is compiled once into
// sets so matching costs a few map lookups.
package alertfilter

import (
	"strings"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Filter is an immutable, compiled AlertFilter. The nil *Filter matches all.
type Filter struct {
	min       harrierv1.Priority
	rules     set
	sources   set
	tags      set
	hostnames set
	cond      *Condition // AlertFilter.condition; nil: none
	none      bool       // a condition that did not compile: matches nothing
}

type set map[string]struct{}

func newSet(vals []string) set {
	if len(vals) == 0 {
		return nil
	}
	s := make(set, len(vals))
	for _, v := range vals {
		s[v] = struct{}{}
	}
	return s
}

func (s set) allows(v string) bool {
	if s == nil {
		return true
	}
	_, ok := s[v]
	return ok
}

// New compiles f; a nil f matches everything. A condition that does not
// compile makes a filter that matches nothing (fail closed); callers that
// take a condition from a user call Compile and report its error.
func New(f *harrierv1.AlertFilter) *Filter {
	flt, err := Compile(f)
	if err != nil {
		return &Filter{none: true}
	}
	return flt
}

// Compile is New with the condition's error (a *condition.Error,
// located).
func Compile(f *harrierv1.AlertFilter) (*Filter, error) {
	if f == nil {
		return &Filter{}, nil
	}
	var cond *Condition
	if strings.TrimSpace(f.GetCondition()) != "" {
		c, err := CompileCondition(f.GetCondition())
		if err != nil {
			return nil, err
		}
		cond = c
	}
	return &Filter{
		cond:      cond,
		min:       f.GetMinPriority(),
		rules:     newSet(f.GetRules()),
		sources:   newSet(f.GetSources()),
		tags:      newSet(f.GetTags()),
		hostnames: newSet(f.GetHostnames()),
	}, nil
}

// Match reports whether a passes every criterion.
func (f *Filter) Match(a *harrierv1.Alert) bool {
	if f == nil {
		return true
	}
	if f.none || !a.GetPriority().AtLeast(f.min) {
		return false
	}
	if !f.rules.allows(a.GetRule()) || !f.sources.allows(a.GetSource()) || !f.hostnames.allows(a.GetHostname()) {
		return false
	}
	if f.tags != nil {
		found := false
		for _, t := range a.GetTags() {
			if _, ok := f.tags[t]; ok {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return f.cond.Match(a)
}
