package rules

// Stage 3 of loading: expand lists, parse macros once, compile each rule's
// condition (with its exceptions) against its source's field registry and
// its output into a formatter, and index the rules by event type.

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/engine/alertfmt"
	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// maxListItems bounds a list after expansion.
const maxListItems = 1 << 20

// maxEventTypes is how many event types a rule may match before Falco
// warns that it matches too many.
const maxEventTypes = 100

// containerInfoFmt is the legacy output placeholder Falco still accepts:
// it warns and drops it, since the container's id and name are appended to
// every syscall alert as suggested output fields (append_output), as
// Falco's container plugin does.
const containerInfoFmt = "%container.info"

func (k *compiler) containerInfo(r *ruleDef, out string) string {
	if !strings.Contains(out, containerInfoFmt) {
		return out
	}
	p := r.pos
	if r.outputAt != nil {
		p = r.outputAt.file.pos(r.outputAt.node)
	}
	k.d.warnc(WarnDeprecatedItem, p, itemRef{kindRule, r.name}, "%s is deprecated and no longer needed (the container's id and name are appended to alerts as suggested output fields); it is dropped", containerInfoFmt)
	return strings.TrimSpace(strings.ReplaceAll(out, containerInfoFmt, ""))
}

type compiler struct {
	c      *collector
	d      *diags
	regs   map[string]*fields.Registry
	lists  map[string][]string
	macros map[string]filter.Expr
	broken map[string]bool // macros that failed to parse
}

func (c *collector) compile(regs map[string]*fields.Registry) []*Rule {
	k := &compiler{c: c, d: c.d, regs: regs, lists: map[string][]string{}, macros: map[string]filter.Expr{}, broken: map[string]bool{}}
	k.expandLists()
	k.parseMacros()
	var out []*Rule
	ruleExprs := map[*ruleDef]filter.Expr{}
	for _, r := range c.rorder {
		e, cond, ok := k.parseRule(r)
		if !ok {
			continue
		}
		ruleExprs[r] = e
		if rule := k.compileRule(r, e, cond); rule != nil {
			out = append(out, rule)
		}
	}
	k.warnUnused(ruleExprs)
	return out
}

// expandLists resolves list items that name other lists, recursively.
func (k *compiler) expandLists() {
	var expand func(l *listDef, stack []string) []string
	expand = func(l *listDef, stack []string) []string {
		if v, ok := k.lists[l.name]; ok {
			return v
		}
		for _, s := range stack {
			if s == l.name {
				k.d.errorf(l.pos, itemRef{kindList, l.name}, "list cycle: %s -> %s", strings.Join(stack, " -> "), l.name)
				return nil
			}
		}
		stack = append(stack, l.name)
		out := make([]string, 0, len(l.items))
		for _, it := range l.items {
			if sub := k.c.lists[it]; sub != nil && sub != l {
				sub.used = true
				out = append(out, expand(sub, stack)...)
			} else {
				out = append(out, it)
			}
			if len(out) > maxListItems {
				// Lists of lists can multiply: refuse before memory runs out.
				k.d.errorf(l.pos, itemRef{kindList, l.name}, "list has more than %d items after expanding the lists it names", maxListItems)
				out = out[:0]
				break
			}
		}
		k.lists[l.name] = out
		return out
	}
	for _, l := range k.c.lorder {
		expand(l, nil)
	}
}

func (k *compiler) parseMacros() {
	for _, m := range k.c.morder {
		src := m.cond.String()
		if strings.TrimSpace(src) == "" {
			k.d.errorf(m.pos, itemRef{kindMacro, m.name}, "macro has an empty condition")
			k.broken[m.name] = true
			continue
		}
		e, err := filter.Parse(src)
		if err != nil {
			p, msg := locate(err, m.cond, m.pos, nil)
			k.d.errorc(ErrCompileCondition, p, itemRef{kindMacro, m.name}, "%s", msg)
			k.broken[m.name] = true
			continue
		}
		k.macros[m.name] = e
	}
	k.checkMacroRefs()
}

// checkMacroRefs checks every macro, used or not, as Falco's compiler
// resolves each macro on its own: a reference to an undefined macro and a
// cycle of macros are errors of the macro, reported once.
func (k *compiler) checkMacroRefs() {
	refs := func(name string) []*filter.Ident {
		var out []*filter.Ident
		filter.Walk(k.macros[name], func(n filter.Expr) bool {
			if id, ok := n.(*filter.Ident); ok {
				out = append(out, id)
			}
			return true
		})
		return out
	}
	for _, m := range k.c.morder {
		if k.macros[m.name] == nil {
			continue
		}
		for _, id := range refs(m.name) {
			// A macro sees only the macros defined before its latest
			// definition or change (rules see all), as in Falco.
			if ref, defined := k.c.macros[id.Name]; !defined || ref.index >= m.visibility {
				k.d.errorc(ErrCompileCondition, m.cond.posAt(id.Offset), itemRef{kindMacro, m.name}, "undefined macro %q used in macro %q (a macro can use only macros defined before it)", id.Name, m.name)
				k.broken[m.name] = true
			}
		}
	}
	// Cycles, by depth-first search in definition order.
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = onStack
		stack = append(stack, name)
		vis := k.c.macros[name].visibility
		for _, id := range refs(name) {
			if ref := k.c.macros[id.Name]; k.macros[id.Name] == nil || ref.index >= vis {
				continue // reported as undefined above
			}
			switch state[id.Name] {
			case unvisited:
				visit(id.Name)
			case onStack:
				i := len(stack) - 1
				for i > 0 && stack[i] != id.Name {
					i--
				}
				cycle := append(append([]string{}, stack[i:]...), id.Name)
				first := k.c.macros[id.Name]
				k.d.errorc(ErrCompileCondition, first.cond.posAt(0), itemRef{kindMacro, id.Name}, "macro cycle: %s", strings.Join(cycle, " -> "))
				for _, n := range cycle {
					k.broken[n] = true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, m := range k.c.morder {
		if k.macros[m.name] != nil && state[m.name] == unvisited {
			visit(m.name)
		}
	}
}

// ruleCondition assembles a rule's full condition: its own (with appends)
// followed by its exceptions, as Falco does:
// (cond) and not (exception 1) and not (exception 2) ...
func ruleCondition(r *ruleDef) condText {
	var clauses []segment
	for _, ex := range r.exceptions {
		if clause := exceptionClause(ex); clause != "" {
			clauses = append(clauses, segment{s: " and not " + clause, at: ex.pos})
		}
	}
	if len(clauses) == 0 {
		return r.cond
	}
	cond := condText{{s: "(", at: r.pos}}
	cond = append(cond, r.cond...)
	cond = append(cond, segment{s: ")", at: r.pos})
	return append(cond, clauses...)
}

// exceptionClause writes one exception as a condition.
func exceptionClause(ex *exceptionItem) string {
	if len(ex.values) == 0 {
		return ""
	}
	var b strings.Builder
	if !ex.fields.isList {
		// fields: proc.name, comps: in, values: [a, b] → proc.name in (a, b)
		b.WriteString("(" + ex.fields.item + " " + ex.comps.item + " (")
		for i, v := range ex.values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteValue(v.item))
		}
		b.WriteString("))")
		return b.String()
	}
	b.WriteString("(")
	for i, tuple := range ex.values {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("(")
		for j, field := range ex.fields.items {
			if j > 0 {
				b.WriteString(" and ")
			}
			op := ex.comps.items[j]
			b.WriteString(field + " " + op + " ")
			v := tuple.items[j]
			switch {
			case v.isList:
				b.WriteString("(")
				for n, s := range v.items {
					if n > 0 {
						b.WriteString(", ")
					}
					b.WriteString(quoteValue(s.item))
				}
				b.WriteString(")")
			case takesList(op):
				// A bare name with a list operator names a list.
				if strings.HasPrefix(v.item, "(") {
					b.WriteString(v.item)
				} else {
					b.WriteString("(" + v.item + ")")
				}
			default:
				b.WriteString(quoteValue(v.item))
			}
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}

// quoteValue writes an exception value into the condition as Falco's
// compiler does (quote_item): a value with a space is quoted, any other is
// written as is, so that a bare word can name a list and a transformer
// (tolower(proc.pname), val(fd.name)) compares field to field. Harrier
// escapes what it quotes, where Falco's text splicing would break.
func quoteValue(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s // already quoted by the author
	}
	if s != "" && !strings.ContainsAny(s, " \t\n\r\"'\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (k *compiler) parseRule(r *ruleDef) (filter.Expr, condText, bool) {
	ref := itemRef{kindRule, r.name}
	if r.cond.empty() {
		k.d.errorf(r.pos, ref, "rule has an empty condition")
		return nil, nil, false
	}
	cond := ruleCondition(r)
	if len(cond) != len(r.cond) {
		// Report syntax errors against the rule's own text first: in the
		// assembled condition they could surface at the added parentheses.
		if _, err := filter.Parse(r.cond.String()); err != nil {
			p, msg := locate(err, r.cond, r.pos, nil)
			k.d.errorc(ErrCompileCondition, p, ref, "%s", msg)
			return nil, nil, false
		}
	}
	e, err := filter.Parse(cond.String())
	if err != nil {
		p, msg := locate(err, cond, r.pos, nil)
		k.d.errorc(ErrCompileCondition, p, ref, "%s", msg)
		return nil, nil, false
	}
	return e, cond, true
}

func (k *compiler) compileRule(r *ruleDef, e filter.Expr, cond condText) *Rule {
	ref := itemRef{kindRule, r.name}
	reg := k.regs[r.source]
	if reg == nil {
		k.d.warnc(WarnUnknownSource, r.pos, ref, "unknown source %q, rule skipped", r.source)
		return nil
	}
	if !k.checkExceptionFields(r, reg) {
		return nil
	}
	f, err := filter.Compile(e, filter.Env{Registry: reg, Macros: k.macros, Lists: k.lists})
	failed := false
	if err != nil {
		errs := filter.AllErrors(err)
		if r.skipUnknown && allUnknownFields(errs) {
			p, msg := locate(errs[0], cond, r.pos, k.c.macros)
			k.d.warnc(WarnUnknownFilter, p, ref, "rule skipped (skip-if-unknown-filter): %s", msg)
			return nil
		}
		// Every error of the condition is reported, except those inside
		// macros whose own errors are reported already.
		for _, err := range errs {
			if k.throughBroken(err) {
				continue
			}
			p, msg := locate(err, cond, r.pos, k.c.macros)
			k.d.errorc(ErrCompileCondition, p, ref, "%s", msg)
		}
		failed = true
	}
	outText := k.containerInfo(r, strings.TrimSpace(r.output))
	out, err := alertfmt.Compile(outText, reg)
	if err == nil && failed {
		return nil
	}
	if !failed {
		k.conditionWarnings(r, e)
	}
	if err == nil && strings.Contains(outText, deprecatedDir) {
		p := r.pos
		if r.outputAt != nil {
			p = r.outputAt.file.pos(r.outputAt.node)
		}
		k.d.warnc(WarnDeprecatedItem, p, ref, "usage of deprecated field '%s' has been detected in the rule output", deprecatedDir)
	}
	if err != nil {
		p := r.pos
		if r.outputAt != nil {
			p = r.outputAt.file.pos(r.outputAt.node)
			var fe *alertfmt.Error
			if errors.As(err, &fe) && r.outputAt.s == r.output {
				lead := len(r.output) - len(strings.TrimLeft(r.output, " \t\r\n"))
				p = r.outputAt.posAt(fe.Offset + lead)
			}
		}
		var uf *filter.UnknownFieldError
		if errors.As(err, &uf) && r.skipUnknown {
			k.d.warnc(WarnUnknownFilter, p, ref, "rule skipped (skip-if-unknown-filter): %v", err)
			return nil
		}
		k.d.errorc(ErrCompileOutput, p, ref, "%v", err)
		return nil
	}
	ids, anyType := f.EventTypes()
	rule := &Rule{
		Name: r.name, Desc: r.desc, Source: r.source, Priority: r.priority,
		Tags: r.tags, Enabled: r.enabled, Condition: cond.String(), Output: out,
		Pos: r.pos, filter: f, anyType: anyType,
		expr: e, env: &filter.Env{Registry: reg, Macros: k.macros, Lists: k.lists},
	}
	if !anyType {
		rule.typeIDs = ids
		names := reg.EventTypes()
		for _, id := range ids {
			if int(id) < len(names) && names[id] != "" {
				rule.EventTypes = append(rule.EventTypes, names[id])
			}
		}
		sort.Strings(rule.EventTypes)
		rule.EventTypes = dedupe(rule.EventTypes)
	}
	// Falco warns when a rule of an event-typed source matches no
	// specific type or more than 100 of them.
	if reg.TypeField != "" && r.warnEvttypes && (anyType || len(ids) > maxEventTypes) {
		k.d.warnc(WarnNoEvttype, r.pos, ref, "rule matches all event types or too many of them (no narrow %s condition): every such event is checked against it, which costs performance", reg.TypeField)
	}
	return rule
}

// deprecatedDir is the field Falco deprecates (every event is an exit
// event now); its use draws a LOAD_DEPRECATED_ITEM warning.
const deprecatedDir = "evt.dir"

// conditionWarnings gives Falco's warnings about a compiled condition,
// macros expanded (filter_warning_resolver): an equality test of a ka.* or
// jevt.* field against "<NA>", and the deprecated evt.dir.
func (k *compiler) conditionWarnings(r *ruleDef, e filter.Expr) {
	var na, dir bool
	filter.Checks(e, func(m string) filter.Expr { return k.macros[m] }, func(x *filter.Check) bool {
		if x.Field == nil {
			return true
		}
		name := x.Field.Name
		dir = dir || name == deprecatedDir
		unsafe := strings.HasPrefix(name, "ka.") || strings.HasPrefix(name, "jevt.")
		switch x.Op {
		case "=", "!=", "in", "intersects", "pmatch":
		default:
			unsafe = false
		}
		for _, v := range x.Values {
			na = na || (unsafe && v != nil && v.Field == nil && v.Text == "<NA>")
		}
		return true
	})
	ref := itemRef{kindRule, r.name}
	if na {
		k.d.warnc(WarnUnsafeNACheck, r.pos, ref, "comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule condition; to check that a field exists, use the exists operator")
	}
	if dir {
		k.d.warnc(WarnDeprecatedItem, r.pos, ref, "usage of deprecated field '%s' has been detected in the rule condition", deprecatedDir)
	}
}

func allUnknownFields(errs []error) bool {
	for _, err := range errs {
		var uf *filter.UnknownFieldError
		if !errors.As(err, &uf) {
			return false
		}
	}
	return len(errs) > 0
}

// throughBroken reports whether err was found inside (or is the absence
// of) a macro that failed on its own.
func (k *compiler) throughBroken(err error) bool {
	var um *filter.UndefinedMacroError
	if errors.As(err, &um) && k.broken[um.Name] {
		return true
	}
	var fe *filter.Error
	if !errors.As(err, &fe) {
		return false
	}
	for msg := fe.Msg; ; {
		name, rest, ok := macroPrefix(msg)
		if !ok {
			return false
		}
		if k.broken[name] {
			return true
		}
		msg = rest
	}
}

// checkExceptionFields checks that every exception names fields of the
// rule's source, as Falco's collector does even for exceptions without
// values (which add nothing to the condition).
func (k *compiler) checkExceptionFields(r *ruleDef, reg *fields.Registry) bool {
	ok := true
	for _, ex := range r.exceptions {
		names := ex.fields.items
		if !ex.fields.isList {
			names = []string{ex.fields.item}
		}
		for _, name := range names {
			e, err := filter.Parse(name + " exists")
			if err == nil {
				_, err = filter.Compile(e, filter.Env{Registry: reg})
			}
			if err != nil {
				k.d.errorf(ex.pos, itemRef{kindRule, r.name}, "exception %q: %q is not a supported filter field", ex.name, name)
				ok = false
			}
		}
	}
	return ok
}

// locate maps a filter error to the file: through the chain of macros it
// was found in ("in macro X: ...") down to the text that holds it.
func locate(err error, cond condText, fallback Pos, macros map[string]*macroDef) (Pos, string) {
	var fe *filter.Error
	if !errors.As(err, &fe) {
		return fallback, err.Error()
	}
	p, msg, prefix := cond.posAt(fe.Offset), fe.Msg, ""
	for {
		name, rest, ok := macroPrefix(fe.Msg)
		if !ok {
			break
		}
		var inner *filter.Error
		m := macros[name]
		if m == nil || !errors.As(fe.Err, &inner) {
			msg = rest
			prefix += "in macro " + strconv.Quote(name) + ": "
			break
		}
		prefix += "in macro " + strconv.Quote(name) + ": "
		p, msg, fe = m.cond.posAt(inner.Offset), inner.Msg, inner
	}
	if p.File == "" {
		p = fallback
	}
	return p, prefix + msg
}

func macroPrefix(msg string) (name, rest string, ok bool) {
	s, found := strings.CutPrefix(msg, "in macro ")
	if !found {
		return "", "", false
	}
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", false
	}
	name, err = strconv.Unquote(q)
	if err != nil {
		return "", "", false
	}
	return name, strings.TrimPrefix(s[len(q):], ": "), true
}

// warnUnused warns about macros and lists no rule, macro or list uses, as
// Falco does.
func (k *compiler) warnUnused(ruleExprs map[*ruleDef]filter.Expr) {
	var mark func(e filter.Expr)
	mark = func(e filter.Expr) {
		filter.Walk(e, func(n filter.Expr) bool {
			switch x := n.(type) {
			case *filter.Ident:
				if m := k.c.macros[x.Name]; m != nil && !m.used {
					m.used = true
					if body := k.macros[x.Name]; body != nil {
						mark(body)
					}
				}
			case *filter.Check:
				{
					for _, v := range x.Values {
						if v != nil && v.Field == nil && !v.Quoted {
							if l := k.c.lists[v.Text]; l != nil {
								l.used = true
							}
						}
					}
				}
			}
			return true
		})
	}
	for _, r := range k.c.rorder {
		if e := ruleExprs[r]; e != nil {
			mark(e)
		}
	}
	// Macros are referenced "by any rule or macro" in Falco's sense, so
	// also count uses from macros no rule reaches.
	for _, m := range k.c.morder {
		if body := k.macros[m.name]; body != nil {
			filter.Walk(body, func(n filter.Expr) bool {
				if id, ok := n.(*filter.Ident); ok && id.Name != m.name {
					if mm := k.c.macros[id.Name]; mm != nil {
						mm.used = true
					}
				}
				if ch, ok := n.(*filter.Check); ok {
					for _, v := range ch.Values {
						if v != nil && v.Field == nil && !v.Quoted {
							if l := k.c.lists[v.Text]; l != nil {
								l.used = true
							}
						}
					}
				}
				return true
			})
		}
	}
	for _, m := range k.c.morder {
		if !m.used && !k.broken[m.name] {
			k.d.warnc(WarnUnusedMacro, m.pos, itemRef{kindMacro, m.name}, "macro not referenced by any rule or macro")
		}
	}
	for _, l := range k.c.lorder {
		if !l.used {
			k.d.warnc(WarnUnusedList, l.pos, itemRef{kindList, l.name}, "list not referenced by any rule, macro or list")
		}
	}
}
