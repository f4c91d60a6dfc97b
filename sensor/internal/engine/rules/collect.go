package rules

// Stage 2 of loading: collect the items of every file in order. A later
// item changes an earlier one of the same name: it redefines it, appends to
// it (append: true, or override: {key: append}), replaces some of its keys
// (override: {key: replace}) or only switches it on or off (a rule item with
// nothing but enabled).

import (
	"slices"
	"strings"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

type listDef struct {
	name  string
	items []string
	pos   Pos
	used  bool
}

type macroDef struct {
	name string
	cond condText
	pos  Pos
	used bool
}

type ruleDef struct {
	name         string
	pos          Pos
	cond         condText
	output       string
	outputAt     *text // the first output text, for error positions
	desc         string
	priority     harrierv1.Priority
	source       string
	enabled      bool
	tags         []string
	exceptions   []*exceptionItem
	warnEvttypes bool
	skipUnknown  bool
}

type collector struct {
	d      *diags
	lists  map[string]*listDef
	macros map[string]*macroDef
	rules  map[string]*ruleDef
	lorder []*listDef
	morder []*macroDef
	rorder []*ruleDef
}

func newCollector(d *diags) *collector {
	return &collector{d: d, lists: map[string]*listDef{}, macros: map[string]*macroDef{}, rules: map[string]*ruleDef{}}
}

func (c *collector) add(it *item) {
	switch it.kind {
	case keyEngine:
		checkEngineVersion(it, c.d)
	case keyPlugins:
		checkPlugins(it, c.d)
	case kindList:
		if li, ok := decodeList(it, c.d); ok {
			c.addList(li)
		}
	case kindMacro:
		if mi, ok := decodeMacro(it, c.d); ok {
			c.addMacro(mi)
		}
	case kindRule:
		if ri, ok := decodeRule(it, c.d); ok {
			c.addRule(ri)
		}
	}
}

func (c *collector) addList(li *listItem) {
	prev := c.lists[li.name]
	switch {
	case li.appendFlag || li.override["items"] == "append":
		if prev == nil {
			c.d.errorf(li.pos, li.ref(), "list has append but no list of that name is defined before it")
			return
		}
		prev.items = append(prev.items, li.items...)
	case li.override["items"] == "replace" && prev != nil:
		prev.items = li.items
	case prev != nil:
		prev.items, prev.pos = li.items, li.pos
	default:
		l := &listDef{name: li.name, items: li.items, pos: li.pos}
		c.lists[li.name] = l
		c.lorder = append(c.lorder, l)
	}
}

func (c *collector) addMacro(mi *macroItem) {
	prev := c.macros[mi.name]
	seg := segment{s: mi.cond.s, src: mi.cond}
	switch {
	case mi.appendFlag || mi.override["condition"] == "append":
		if prev == nil {
			c.d.errorf(mi.pos, mi.ref(), "macro has append but no macro of that name is defined before it")
			return
		}
		prev.cond = append(prev.cond, segment{s: " ", at: mi.pos}, seg)
	case mi.override["condition"] == "replace" && prev != nil:
		prev.cond = condText{seg}
	case prev != nil:
		prev.cond, prev.pos = condText{seg}, mi.pos
	default:
		m := &macroDef{name: mi.name, cond: condText{seg}, pos: mi.pos}
		c.macros[mi.name] = m
		c.morder = append(c.morder, m)
	}
}

func (c *collector) addRule(ri *ruleItem) {
	prev := c.rules[ri.name]
	switch {
	case ri.appendFlag:
		c.appendRule(prev, ri)
	case ri.override != nil:
		c.overrideRule(prev, ri)
	case !ri.has("condition") && !ri.has("output") && !ri.has("desc") && !ri.has("priority"):
		// The enabled-only form switches an existing rule on or off.
		if ri.enabled == nil {
			if !ri.has("enabled") {
				c.d.errorf(ri.pos, ri.ref(), "rule has no condition, output, desc or priority (to switch an earlier rule on or off, give enabled)")
			}
			return
		}
		c.d.warnc(WarnDeprecatedItem, ri.keyPos("enabled"), ri.ref(), "an item with only enabled is deprecated; use override: {enabled: replace}")
		if prev == nil {
			c.d.errorf(ri.pos, ri.ref(), "rule has only enabled but no rule of that name is defined before it")
			return
		}
		prev.enabled = *ri.enabled
	default:
		r, ok := c.defineRule(ri)
		if !ok {
			return
		}
		if prev != nil {
			if prev.source != r.source {
				// Falco refuses this: the rule would silently move to
				// another event stream.
				c.d.errorf(ri.pos, ri.ref(), "rule has been re-defined with a different source (%q, first defined at %s with source %q)", r.source, prev.pos, prev.source)
				return
			}
			*prev = *r // a redefinition keeps the rule's place in the order
			return
		}
		c.rules[r.name] = r
		c.rorder = append(c.rorder, r)
	}
}

func (c *collector) defineRule(ri *ruleItem) (*ruleDef, bool) {
	var missing []string
	for _, k := range []string{"condition", "output", "desc", "priority"} {
		if !ri.has(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		c.d.errorf(ri.pos, ri.ref(), "rule has no %s", strings.Join(missing, ", "))
		return nil, false
	}
	r := &ruleDef{name: ri.name, pos: ri.pos, enabled: true, warnEvttypes: true, source: "syscall"}
	r.cond = condText{{s: ri.cond.s, src: ri.cond}}
	r.output, r.outputAt = ri.output.s, ri.output
	r.desc = ri.desc.s
	if !c.setPriority(r, ri) {
		return nil, false
	}
	if ri.source != nil && strings.TrimSpace(ri.source.s) != "" {
		r.source = strings.TrimSpace(ri.source.s)
	}
	if ri.enabled != nil {
		r.enabled = *ri.enabled
	}
	if ri.warnEvttypes != nil {
		r.warnEvttypes = *ri.warnEvttypes
	}
	if ri.skipUnknown != nil {
		r.skipUnknown = *ri.skipUnknown
	}
	r.tags = tagSet(ri.tags)
	if !c.mergeExceptions(r, ri, false) {
		return nil, false
	}
	return r, true
}

func (c *collector) setPriority(r *ruleDef, ri *ruleItem) bool {
	p, err := harrierv1.ParsePriority(ri.priority.s)
	if err != nil {
		c.d.errorf(ri.valPos("priority"), ri.ref(), "%v", err)
		return false
	}
	r.priority = p
	return true
}

// appendRule implements the legacy append: true, which appends to the
// condition and the exceptions only.
func (c *collector) appendRule(prev *ruleDef, ri *ruleItem) {
	if prev == nil {
		c.d.errorf(ri.pos, ri.ref(), "rule has append but no rule of that name is defined before it")
		return
	}
	if ri.cond == nil && !ri.hasExceptions {
		c.d.warnf(ri.pos, ri.ref(), "appended rule has no condition or exceptions: nothing to append")
		return
	}
	for k := range ri.keys {
		switch k {
		case "rule", "append", "condition", "exceptions":
		default:
			if knownKeys[kindRule][k] {
				c.d.warnf(ri.keyPos(k), ri.ref(), "key %q is ignored with append: true (it appends condition and exceptions only; use override)", k)
			}
		}
	}
	if !c.mergeExceptions(prev, ri, true) {
		return
	}
	if ri.cond != nil {
		prev.cond = append(prev.cond, segment{s: " ", at: ri.pos}, segment{s: ri.cond.s, src: ri.cond})
	}
}

func (c *collector) overrideRule(prev *ruleDef, ri *ruleItem) {
	if prev == nil {
		c.d.errorf(ri.pos, ri.ref(), "rule has override but no rule of that name is defined before it")
		return
	}
	// Validate everything before changing the rule, so a bad override
	// leaves it as it was.
	next := *prev
	next.cond = slices.Clone(prev.cond)
	next.tags = slices.Clone(prev.tags)
	next.exceptions = cloneExceptions(prev.exceptions)
	for key, mode := range ri.override {
		app := mode == "append"
		switch key {
		case "condition":
			seg := segment{s: ri.cond.s, src: ri.cond}
			if app {
				next.cond = append(next.cond, segment{s: " ", at: ri.keyPos("condition")}, seg)
			} else {
				next.cond = condText{seg}
			}
		case "output":
			if app {
				next.output += " " + ri.output.s
			} else {
				next.output, next.outputAt = ri.output.s, ri.output
			}
		case "desc":
			if app {
				next.desc += " " + ri.desc.s
			} else {
				next.desc = ri.desc.s
			}
		case "tags":
			if app {
				next.tags = tagSet(append(next.tags, ri.tags...))
			} else {
				next.tags = tagSet(ri.tags)
			}
		case "exceptions":
			if !app {
				next.exceptions = nil
			}
			if !c.mergeExceptions(&next, ri, app) {
				return
			}
		case "priority":
			if !c.setPriority(&next, ri) {
				return
			}
		case "enabled":
			next.enabled = *ri.enabled
		case "warn_evttypes":
			next.warnEvttypes = *ri.warnEvttypes
		case "skip-if-unknown-filter":
			next.skipUnknown = *ri.skipUnknown
		}
	}
	*prev = next
}

func cloneExceptions(exs []*exceptionItem) []*exceptionItem {
	out := make([]*exceptionItem, len(exs))
	for i, e := range exs {
		cp := *e
		cp.values = slices.Clone(e.values)
		out[i] = &cp
	}
	return out
}

// validOps are the comparison operators an exception may use.
var validOps = map[string]bool{
	"=": true, "==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"contains": true, "icontains": true, "bcontains": true, "startswith": true, "bstartswith": true,
	"endswith": true, "glob": true, "iglob": true, "regex": true, "in": true, "intersects": true, "pmatch": true,
}

func listOp(op string) bool { return op == "in" || op == "intersects" || op == "pmatch" }

// mergeExceptions adds ri's exceptions to r. An exception named like one r
// has already only adds values (appending); a new one must be complete.
func (c *collector) mergeExceptions(r *ruleDef, ri *ruleItem, appending bool) bool {
	for _, ex := range ri.exceptions {
		idx := -1
		if appending {
			idx = slices.IndexFunc(r.exceptions, func(e *exceptionItem) bool { return e.name == ex.name })
		}
		// A definition keeps exceptions of the same name side by side
		// (the reader warned); an append adds values to the first.
		if idx >= 0 {
			prevEx := r.exceptions[idx]
			if !ex.hasVal {
				c.d.warnc(WarnAppendNoValues, ex.pos, ri.ref(), "overriding/appending exception %q with no values", ex.name)
			}
			if ex.fields.set || ex.comps.set {
				c.d.errorf(ex.pos, ri.ref(), "exception %q exists already: an append may only add values, not fields or comps", ex.name)
				return false
			}
			if !c.checkValues(prevEx, ex.values, ex.pos, ri) {
				return false
			}
			cp := *prevEx
			cp.values = append(slices.Clone(prevEx.values), ex.values...)
			r.exceptions[idx] = &cp
			continue
		}
		if !c.checkException(ex, ri) {
			return false
		}
		r.exceptions = append(r.exceptions, ex)
	}
	return true
}

func (c *collector) checkException(ex *exceptionItem, ri *ruleItem) bool {
	ref := ri.ref()
	if !ex.fields.set {
		c.d.errorf(ex.pos, ref, "exception %q has no fields", ex.name)
		return false
	}
	if ex.fields.isList {
		if len(ex.fields.items) == 0 {
			c.d.errorf(ex.pos, ref, "exception %q has an empty fields list", ex.name)
			return false
		}
		switch {
		case !ex.comps.set:
			ex.comps = strOrList{set: true, isList: true, items: slices.Repeat([]string{"="}, len(ex.fields.items))}
		case !ex.comps.isList:
			c.d.errorf(ex.pos, ref, "exception %q: comps must be a list like fields", ex.name)
			return false
		case len(ex.comps.items) != len(ex.fields.items):
			c.d.errorf(ex.pos, ref, "exception %q: fields and comps lists must have equal length", ex.name)
			return false
		}
		for _, op := range ex.comps.items {
			if !validOps[op] {
				c.d.errorf(ex.pos, ref, "exception %q: %q is not a comparison operator", ex.name, op)
				return false
			}
		}
	} else {
		switch {
		case !ex.comps.set:
			ex.comps = strOrList{set: true, item: "in"}
		case ex.comps.isList:
			c.d.errorf(ex.pos, ref, "exception %q: comps must be a single operator when fields is a single field", ex.name)
			return false
		case !listOp(ex.comps.item):
			c.d.errorf(ex.pos, ref, "exception %q: with a single field, comps must be in, intersects or pmatch (got %q)", ex.name, ex.comps.item)
			return false
		}
	}
	return c.checkValues(ex, ex.values, ex.pos, ri)
}

func (c *collector) checkValues(ex *exceptionItem, values []exValue, p Pos, ri *ruleItem) bool {
	for _, v := range values {
		if ex.fields.isList {
			if !v.isList || len(v.items) != len(ex.fields.items) {
				c.d.errorf(p, ri.ref(), "exception %q: each value must be a list of %d items, one per field", ex.name, len(ex.fields.items))
				return false
			}
			for _, it := range v.items {
				for _, sub := range it.items {
					if sub.isList {
						c.d.errorf(p, ri.ref(), "exception %q: a value list may hold strings only", ex.name)
						return false
					}
				}
			}
		} else if v.isList {
			c.d.errorf(p, ri.ref(), "exception %q: with a single field, values must be a list of strings", ex.name)
			return false
		}
	}
	return true
}

// tagSet returns the tags sorted and without duplicates: Falco keeps a
// rule's tags in a set, so its JSON lists them in this order.
func tagSet(tags []string) []string {
	out := dedupe(tags)
	slices.Sort(out)
	return out
}

func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
