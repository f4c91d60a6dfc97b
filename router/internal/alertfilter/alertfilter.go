// Package alertfilter selects alerts for an output or a subscriber. Each
// criterion is an allow-list: an empty list allows everything, otherwise
// any one entry must match; all criteria must hold. It is compiled once into
// sets so matching costs a few map lookups.
package alertfilter

import (
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Filter is an immutable, compiled AlertFilter. The nil *Filter matches all.
type Filter struct {
	min       harrierv1.Priority
	rules     set
	sources   set
	tags      set
	hostnames set
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

// New compiles f; a nil f matches everything.
func New(f *harrierv1.AlertFilter) *Filter {
	if f == nil {
		return &Filter{}
	}
	return &Filter{
		min:       f.GetMinPriority(),
		rules:     newSet(f.GetRules()),
		sources:   newSet(f.GetSources()),
		tags:      newSet(f.GetTags()),
		hostnames: newSet(f.GetHostnames()),
	}
}

// Match reports whether a passes every criterion.
func (f *Filter) Match(a *harrierv1.Alert) bool {
	if f == nil {
		return true
	}
	if !a.GetPriority().AtLeast(f.min) {
		return false
	}
	if !f.rules.allows(a.GetRule()) || !f.sources.allows(a.GetSource()) || !f.hostnames.allows(a.GetHostname()) {
		return false
	}
	if f.tags != nil {
		for _, t := range a.GetTags() {
			if _, ok := f.tags[t]; ok {
				return true
			}
		}
		return false
	}
	return true
}
