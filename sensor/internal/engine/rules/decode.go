package rules

// Decoding of read items into typed lists, macros, rules and exceptions
// (still stage 1: one file at a time).

import (
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

type listItem struct {
	*item
	items      []string
	appendFlag bool
	override   map[string]string
}

type macroItem struct {
	*item
	cond       *text
	appendFlag bool
	override   map[string]string
}

type ruleItem struct {
	*item
	cond, output, desc *text
	priority, source   *text
	enabled            *bool
	warnEvttypes       *bool
	skipUnknown        *bool
	tags               []string
	hasTags            bool
	exceptions         []*exceptionItem
	hasExceptions      bool
	appendFlag         bool
	override           map[string]string
}

// strOrList is an exception's fields or comps: one string or a list.
type strOrList struct {
	set    bool
	isList bool
	item   string
	items  []string
}

// exValue is one exception value: a string, or a list of values.
type exValue struct {
	isList bool
	item   string
	items  []exValue
}

type exceptionItem struct {
	name   string
	pos    Pos
	fields strOrList
	comps  strOrList
	values []exValue
	hasVal bool
	dup    bool // a second exception of this name in the same item
}

func (it *item) appendAndOverride(d *diags, allowed map[string]string) (appendFlag bool, override map[string]string, ok bool) {
	ok = true
	if it.has("append") {
		appendFlag, ok = it.boolean("append", d)
		if !ok {
			return false, nil, false
		}
		if appendFlag {
			d.warnc(WarnDeprecatedItem, it.keyPos("append"), it.ref(), "append: true is deprecated; use override with append for the keys to extend")
		}
	}
	kv, has := it.keys["override"]
	if !has {
		return appendFlag, nil, true
	}
	if appendFlag {
		d.errorf(it.keyPos("override"), it.ref(), "append and override cannot be used together; use override alone")
		return false, nil, false
	}
	if kv.val.Kind != yaml.MappingNode {
		d.errorf(it.file.pos(kv.val), it.ref(), "override must be a mapping of keys to append or replace")
		return false, nil, false
	}
	override = map[string]string{}
	mentioned := map[string]bool{}
	for i := 0; i+1 < len(kv.val.Content); i += 2 {
		k, v := resolve(kv.val.Content[i]), resolve(kv.val.Content[i+1])
		mentioned[k.Value] = true
		mode := v.Value
		if v.Kind != yaml.ScalarNode || (mode != "append" && mode != "replace") {
			d.errorf(it.file.pos(v), it.ref(), "override for %q must be append or replace", k.Value)
			ok = false
			continue
		}
		modes, known := allowed[k.Value]
		if !known {
			d.errorf(it.file.pos(k), it.ref(), "key %q cannot be overridden (only %s)", k.Value, strings.Join(sortedKeys(allowed), ", "))
			ok = false
			continue
		}
		if !strings.Contains(modes, mode) {
			if mode == "append" {
				d.errorf(it.file.pos(v), it.ref(), "key %q cannot be appended to, use replace instead", k.Value)
			} else {
				d.errorf(it.file.pos(v), it.ref(), "key %q cannot be replaced", k.Value)
			}
			ok = false
			continue
		}
		if !it.has(k.Value) {
			d.errorf(it.file.pos(k), it.ref(), "an %s override for %q was specified but %q is not defined", mode, k.Value, k.Value)
			ok = false
			continue
		}
		override[k.Value] = mode
	}
	// Every overridable value the item carries must say how it combines.
	for k, kv := range it.keys {
		if _, overridable := allowed[k]; !overridable {
			continue
		}
		if !mentioned[k] {
			d.errorf(it.file.pos(kv.key), it.ref(), "unexpected key %q: no corresponding entry under override is defined (say append or replace)", k)
			ok = false
		}
	}
	return false, override, ok
}

func decodeList(it *item, d *diags) (*listItem, bool) {
	it.warnUnknownKeys(d)
	li := &listItem{item: it}
	ok := true
	li.appendFlag, li.override, ok = it.appendAndOverride(d, map[string]string{"items": "append replace"})
	if !it.has("items") {
		d.errorf(it.pos, it.ref(), "list has no items key")
		return nil, false
	}
	items, iok := it.strList("items", d)
	if !iok {
		return nil, false
	}
	li.items = items
	return li, ok
}

func decodeMacro(it *item, d *diags) (*macroItem, bool) {
	it.warnUnknownKeys(d)
	mi := &macroItem{item: it}
	ok := true
	mi.appendFlag, mi.override, ok = it.appendAndOverride(d, map[string]string{"condition": "append replace"})
	if !it.has("condition") {
		d.errorf(it.pos, it.ref(), "macro has no condition")
		return nil, false
	}
	c, cok := it.str("condition", d)
	if !cok {
		return nil, false
	}
	mi.cond = c
	return mi, ok
}

var ruleOverrides = map[string]string{
	"condition": "append replace", "output": "append replace", "desc": "append replace",
	"tags": "append replace", "exceptions": "append replace", "priority": "replace",
	"enabled": "replace", "warn_evttypes": "replace", "skip-if-unknown-filter": "replace",
	"capture": "replace", "capture_duration": "replace",
}

func decodeRule(it *item, d *diags) (*ruleItem, bool) {
	it.warnUnknownKeys(d)
	ri := &ruleItem{item: it}
	ok := true
	ri.appendFlag, ri.override, ok = it.appendAndOverride(d, ruleOverrides)
	for _, k := range []struct {
		key string
		dst **text
	}{{"condition", &ri.cond}, {"output", &ri.output}, {"desc", &ri.desc}, {"priority", &ri.priority}, {"source", &ri.source}} {
		if it.has(k.key) {
			t, tok := it.str(k.key, d)
			if !tok {
				ok = false
			}
			*k.dst = t
		}
	}
	for _, k := range []struct {
		key string
		dst **bool
	}{{"enabled", &ri.enabled}, {"warn_evttypes", &ri.warnEvttypes}, {"skip-if-unknown-filter", &ri.skipUnknown}} {
		if it.has(k.key) {
			b, bok := it.boolean(k.key, d)
			if !bok {
				ok = false
				continue
			}
			*k.dst = &b
		}
	}
	if it.has("tags") {
		ri.tags, ri.hasTags = it.strList("tags", d)
		if !ri.hasTags {
			ok = false
		}
	}
	if kv, has := it.keys["exceptions"]; has {
		ri.hasExceptions = true
		exs, eok := decodeExceptions(it, kv.val, d)
		if !eok {
			ok = false
		}
		ri.exceptions = exs
	}
	return ri, ok
}

func decodeExceptions(it *item, n *yaml.Node, d *diags) ([]*exceptionItem, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(it.file.pos(n), it.ref(), "exceptions must be a list")
		return nil, false
	}
	ok := true
	var out []*exceptionItem
	seen := map[string]bool{}
	for _, en := range n.Content {
		en = resolve(en)
		if en.Kind != yaml.MappingNode {
			d.errorf(it.file.pos(en), it.ref(), "exception must be a mapping with name, fields, comps and values")
			ok = false
			continue
		}
		ex := &exceptionItem{pos: it.file.pos(en)}
		eok := true
		for i := 0; i+1 < len(en.Content); i += 2 {
			k, v := resolve(en.Content[i]), resolve(en.Content[i+1])
			switch k.Value {
			case "name":
				if v.Kind != yaml.ScalarNode || v.Value == "" {
					d.errorf(it.file.pos(v), it.ref(), "exception name must be a non-empty string")
					eok = false
				}
				ex.name = v.Value
			case "fields", "comps":
				sl := strOrList{set: true}
				switch v.Kind {
				case yaml.ScalarNode:
					sl.item = v.Value
				case yaml.SequenceNode:
					sl.isList = true
					var sok bool
					sl.items, sok = seqOfStrings(it, v, "exception "+k.Value, d)
					eok = eok && sok
				default:
					d.errorf(it.file.pos(v), it.ref(), "exception %s must be a string or a list of strings", k.Value)
					eok = false
				}
				if k.Value == "fields" {
					ex.fields = sl
				} else {
					ex.comps = sl
				}
			case "values":
				ex.hasVal = true
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					continue
				}
				if v.Kind != yaml.SequenceNode {
					d.errorf(it.file.pos(v), it.ref(), "exception values must be a list")
					eok = false
					continue
				}
				for _, vn := range v.Content {
					val, vok := decodeExValue(it, resolve(vn), 0, d)
					if !vok {
						eok = false
						continue
					}
					ex.values = append(ex.values, val)
				}
			default:
				d.warnf(it.file.pos(k), it.ref(), "unknown exception key %q, ignored", k.Value)
			}
		}
		if ex.name == "" && eok {
			d.errorf(ex.pos, it.ref(), "exception has no name")
			eok = false
		}
		if eok && seen[ex.name] {
			// Falco warns and keeps both: each adds its own clause.
			d.warnc(WarnExceptionNotUnique, ex.pos, it.ref(), "multiple definitions of exception %q in the same rule", ex.name)
			ex.dup = true
		}
		seen[ex.name] = true
		if !eok {
			ok = false
			continue
		}
		out = append(out, ex)
	}
	return out, ok
}

func decodeExValue(it *item, n *yaml.Node, depth int, d *diags) (exValue, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		return exValue{item: n.Value}, true
	case yaml.SequenceNode:
		if depth >= 2 {
			d.errorf(it.file.pos(n), it.ref(), "exception values nest too deep")
			return exValue{}, false
		}
		v := exValue{isList: true}
		for _, e := range n.Content {
			sub, ok := decodeExValue(it, resolve(e), depth+1, d)
			if !ok {
				return exValue{}, false
			}
			v.items = append(v.items, sub)
		}
		return v, true
	}
	d.errorf(it.file.pos(n), it.ref(), "exception value must be a string or a list")
	return exValue{}, false
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
