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
// it warns and writes the container's id and name in its place (what its
// container plugin adds to every syscall alert).
const (
	containerInfoFmt  = "%container.info"
	containerInfoText = "container_id=%container.id container_name=%container.name"
)

func (k *compiler) containerInfo(r *ruleDef, reg *fields.Registry, out string) string {
	if !strings.Contains(out, containerInfoFmt) {
		return out
	}
	p := r.pos
	if r.outputAt != nil {
		p = r.outputAt.file.pos(r.outputAt.node)
	}
	k.d.warnc(WarnDeprecatedItem, p, itemRef{kindRule, r.name}, "%s is deprecated and will be dropped by Falco 1.0.0; it is replaced by %q", containerInfoFmt, containerInfoText)
	repl := containerInfoText
	if _, _, ok := reg.Lookup("container.id"); !ok {
		repl = "" // a source without containers
	}
	return strings.TrimSpace(strings.ReplaceAll(out, containerInfoFmt, repl))
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
			case listOp(op):
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

// quoteValue quotes a value that would not read back as one token; bare
// names stay bare so that they can still name lists, as in Falco.
func quoteValue(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n(),\"'\\") {
		return s
	}
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s // already quoted by the author
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
	if err != nil {
		var um *filter.UndefinedMacroError
		if errors.As(err, &um) && k.broken[um.Name] {
			return nil // the macro's own error is reported already
		}
		p, msg := locate(err, cond, r.pos, k.c.macros)
		var uf *filter.UnknownFieldError
		if errors.As(err, &uf) && r.skipUnknown {
			k.d.warnc(WarnUnknownFilter, p, ref, "rule skipped (skip-if-unknown-filter): %s", msg)
			return nil
		}
		k.d.errorc(ErrCompileCondition, p, ref, "%s", msg)
		return nil
	}
	outText := k.containerInfo(r, reg, strings.TrimSpace(r.output))
	out, err := alertfmt.Compile(outText, reg)
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
				if x.List {
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
				if ch, ok := n.(*filter.Check); ok && ch.List {
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
