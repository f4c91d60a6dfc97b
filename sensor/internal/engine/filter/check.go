package filter

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

type kindClass uint8

const (
	classOther kindClass = iota
	classString
	classBytes
	classNumber
	classBool
	classIP
)

func classOf(k fields.Kind) kindClass {
	switch k {
	case fields.KindString:
		return classString
	case fields.KindBytes:
		return classBytes
	case fields.KindInt, fields.KindUint, fields.KindPort, fields.KindAbsTime, fields.KindRelTime:
		return classNumber
	case fields.KindBool:
		return classBool
	case fields.KindIP, fields.KindIPNet:
		return classIP
	}
	return classOther
}

// Operators each class of value supports.
var classOps = map[kindClass]string{
	classString: "= != < <= > >= contains icontains bcontains startswith bstartswith endswith glob iglob regex in intersects pmatch",
	classBytes:  "= != contains bcontains startswith bstartswith endswith in intersects",
	classNumber: "= != < <= > >= in intersects",
	classBool:   "= != in intersects",
	classIP:     "= != in intersects",
}

func opAllowed(class kindClass, op string) bool {
	for _, o := range strings.Fields(classOps[class]) {
		if o == op {
			return true
		}
	}
	return false
}

// literal is one right-hand-side value after list expansion, with the
// place to report errors about it.
type literal struct {
	text string
	src  *string
	off  int
}

func (c *compiler) check(n *Check) (matcher, typeSets, error) {
	if n.Field == nil {
		return nil, typeSets{}, c.errAt(n.src, n.Offset, "check without a field", nil)
	}
	if n.Op == "==" {
		n = &Check{Offset: n.Offset, Field: n.Field, Op: "=", OpOffset: n.OpOffset, Values: n.Values,
			Modifier: n.Modifier, List: n.List, bareList: n.bareList, src: n.src}
	}
	if !knownOp(n.Op) {
		return nil, typeSets{}, c.errAt(n.src, n.OpOffset, fmt.Sprintf("unknown operator %q", n.Op), nil)
	}
	if n.Op != "exists" && len(n.Values) == 0 && !n.List {
		return nil, typeSets{}, c.errAt(n.src, n.OpOffset, fmt.Sprintf("operator %s needs a value", n.Op), nil)
	}
	reg := c.env.Registry
	if n.Field.Func == "" && reg.TypeField != "" && n.Field.Name == reg.TypeField && !n.Field.HasArg && n.Modifier == "" {
		if m, ts, ok, err := c.typeCheck(n); ok || err != nil {
			return m, ts, err
		}
	}
	src, ex, info, err := c.source(n.Field, false)
	if err != nil {
		return nil, typeSets{}, err
	}
	g := c.getter(ex, src, info)
	if n.Op == "exists" {
		return &existsMatcher{getter: g, list: info.list}, c.all(), nil
	}
	class := classOf(info.kind)
	if !opAllowed(class, n.Op) {
		return nil, typeSets{}, c.errAt(n.src, n.OpOffset, fmt.Sprintf("operator %s is not supported for %s (%s)", n.Op, info.name, info.kind), nil)
	}
	if len(n.Values) == 1 && n.Values[0].Field != nil {
		m, err := c.fieldCompare(n, g, info, n.Values[0])
		return m, c.all(), err
	}
	lits, err := c.literals(n)
	if err != nil {
		return nil, typeSets{}, err
	}
	if info.watch != nil {
		vals := make([]string, len(lits))
		for i, l := range lits {
			vals[i] = l.text
		}
		info.watch(vals)
	}
	if n.Modifier != "" {
		m, err := c.modifier(n, g, info, lits)
		return m, c.all(), err
	}
	var m matcher
	switch class {
	case classString, classBytes:
		m, err = c.stringCheck(n, g, info, lits)
	case classNumber:
		m, err = c.numberCheck(n, g, info, lits)
	case classBool:
		m, err = c.boolCheck(n, g, info, lits)
	case classIP:
		m, err = c.ipCheck(n, g, info, lits)
	default:
		err = c.errAt(n.src, n.Offset, fmt.Sprintf("field %s has unsupported type %s", info.name, info.kind), nil)
	}
	return m, c.all(), err
}

func knownOp(op string) bool {
	for _, o := range symbolOps {
		if o == op && o != "==" {
			return true
		}
	}
	for _, o := range wordOps {
		if o == op {
			return true
		}
	}
	return false
}

// literals returns the right-hand side values, expanding list names.
// Quoted items of a list are unquoted as Falco does when it substitutes a
// list into a condition.
func (c *compiler) literals(n *Check) ([]literal, error) {
	var out []literal
	for _, v := range n.Values {
		if v.Field != nil {
			return nil, c.errAt(v.src, v.Offset, "a field cannot be a list item", nil)
		}
		// A bare list name stands for its items wherever it is a whole
		// word, as Falco substitutes lists into the condition text before
		// parsing: proc.name = one_item_list is proc.name = item.
		if !v.Quoted {
			if items, ok := c.env.Lists[v.Text]; ok {
				if !n.List && len(items) != 1 {
					return nil, c.errAt(v.src, v.Offset, fmt.Sprintf("list %s has %d items: outside in (...) a list name must stand for exactly one value", v.Text, len(items)), nil)
				}
				for _, it := range items {
					text := it
					if len(it) >= 2 && (it[0] == '"' || it[0] == '\'') && it[len(it)-1] == it[0] {
						s, _, msg := unescape(it)
						if msg != "" {
							return nil, c.errAt(v.src, v.Offset, fmt.Sprintf("list %s: item %s: %s", v.Text, it, msg), nil)
						}
						text = s
					}
					out = append(out, literal{text: text, src: v.src, off: v.Offset})
				}
				continue
			}
			if n.bareList {
				return nil, c.errAt(v.src, v.Offset, fmt.Sprintf("undefined list %q", v.Text), nil)
			}
		}
		out = append(out, literal{text: v.Text, src: v.src, off: v.Offset})
	}
	if !n.List && len(out) != 1 {
		return nil, c.errAt(n.src, n.OpOffset, fmt.Sprintf("operator %s takes one value", n.Op), nil)
	}
	return out, nil
}

func (c *compiler) litErr(l literal, format string, args ...any) error {
	return c.errAt(l.src, l.off, fmt.Sprintf(format, args...), nil)
}

// typeCheck compiles comparisons on the registry's type field into a type
// id test. ok is false when the check is not of that shape.
func (c *compiler) typeCheck(n *Check) (matcher, typeSets, bool, error) {
	switch n.Op {
	case "=", "!=", "in", "intersects":
	default:
		return nil, typeSets{}, false, nil
	}
	for _, v := range n.Values {
		if v.Field != nil {
			return nil, typeSets{}, false, nil
		}
	}
	lits, err := c.literals(n)
	if err != nil {
		return nil, typeSets{}, true, err
	}
	bits := c.types.none()
	for _, l := range lits {
		ids, ok := c.types.names[l.text]
		if !ok {
			return nil, typeSets{}, true, c.litErr(l, "unknown event type %q for %s", l.text, n.Field.Name)
		}
		for _, id := range ids {
			bits.set(id)
		}
	}
	if n.Op == "!=" {
		bits = c.types.all.andNot(bits)
	}
	return &typeMatcher{bits: bits}, typeSets{pos: bits, neg: c.types.all.andNot(bits)}, true, nil
}

// listMode picks how an operator applies to the elements of a list field.
func listModeFor(info srcInfo, op string) listMode {
	switch {
	case !info.list:
		return scalar
	case op == "!=":
		return noneElem // the negation of =: no element equals the value
	case op == "in" && !info.ancestor:
		return allElem // Falco: (b,c,d) in (a,b,c) is false
	}
	return anyElem
}

func (c *compiler) stringPred(op string, l literal) (strPred, error) {
	switch op {
	case "=":
		return &eqPred{v: l.text}, nil
	case "!=":
		return &nePred{v: l.text}, nil
	case "contains":
		return &containsPred{v: l.text}, nil
	case "icontains":
		return &icontainsPred{v: strings.ToLower(l.text)}, nil
	case "startswith":
		return &prefixPred{v: l.text}, nil
	case "endswith":
		return &suffixPred{v: l.text}, nil
	case "bcontains", "bstartswith":
		b, err := hex.DecodeString(strings.ReplaceAll(l.text, " ", ""))
		if err != nil {
			return nil, c.litErr(l, "%s needs hexadecimal bytes, not %q", op, l.text)
		}
		if op == "bcontains" {
			return &containsPred{v: string(b)}, nil
		}
		return &prefixPred{v: string(b)}, nil
	case "glob", "iglob":
		return newGlobPred(l.text, op == "iglob"), nil
	case "regex":
		re, err := regexp.Compile(`^(?:` + l.text + `)$`)
		if err != nil {
			return nil, c.litErr(l, "bad regular expression %q: %v", l.text, err)
		}
		p := &regexPred{re: re}
		if parsed, err := syntax.Parse(l.text, syntax.Perl); err == nil {
			p.literal = requiredLiteral(parsed.Simplify())
		}
		return p, nil
	case "<", "<=", ">", ">=":
		return &orderPred{op: op, v: l.text}, nil
	}
	return nil, c.litErr(l, "operator %s does not take a single string", op)
}

// orderPred compares strings lexically (libsinsp allows < and > on strings).
type orderPred struct {
	op string
	v  string
}

func (p *orderPred) test(x string) bool { return compareStrings(p.op, x, p.v) }

// newGlobPred turns patterns without wildcards, or with a single leading or
// trailing '*', into cheaper tests.
func newGlobPred(pattern string, fold bool) strPred {
	if !fold {
		meta := strings.IndexAny(pattern, "*?[\\")
		switch {
		case meta < 0:
			return &eqPred{v: pattern}
		case meta == len(pattern)-1 && pattern[meta] == '*':
			return &prefixPred{v: pattern[:meta]}
		case meta == 0 && pattern[0] == '*' && !strings.ContainsAny(pattern[1:], "*?[\\"):
			return &suffixPred{v: pattern[1:]}
		}
	}
	return newGlob(pattern, fold)
}

func (c *compiler) stringCheck(n *Check, g getter, info srcInfo, lits []literal) (matcher, error) {
	mode := listModeFor(info, n.Op)
	bytes := info.kind == fields.KindBytes && !info.list
	var pred strPred
	switch n.Op {
	case "in", "intersects":
		items := make([]string, len(lits))
		for i, l := range lits {
			items[i] = l.text
		}
		pred = newSetPred(items)
	case "pmatch":
		items := make([]string, len(lits))
		for i, l := range lits {
			items[i] = l.text
		}
		pred = newPmatchPred(items)
	default:
		op := n.Op
		if mode == noneElem {
			op = "="
		}
		p, err := c.stringPred(op, lits[0])
		if err != nil {
			return nil, err
		}
		pred = p
	}
	return &strMatcher{getter: g, pred: pred, mode: mode, bytes: bytes}, nil
}

func (c *compiler) modifier(n *Check, g getter, info srcInfo, lits []literal) (matcher, error) {
	class := classOf(info.kind)
	if class != classString && class != classBytes {
		return nil, c.errAt(n.src, n.OpOffset, fmt.Sprintf("modifier %s needs a string field, %s is %s", n.Modifier, info.name, info.kind), nil)
	}
	switch n.Op {
	case "in", "intersects", "pmatch", "exists", "<", "<=", ">", ">=":
		return nil, c.errAt(n.src, n.OpOffset, fmt.Sprintf("modifier %s applies to string operators, not %s", n.Modifier, n.Op), nil)
	}
	m := &modMatcher{getter: g, mod: n.Modifier, list: info.list, bytes: info.kind == fields.KindBytes && !info.list}
	for _, l := range lits {
		p, err := c.stringPred(n.Op, l)
		if err != nil {
			return nil, err
		}
		m.preds = append(m.preds, p)
	}
	return m, nil
}

// parseInt reads a decimal or 0x-prefixed hexadecimal integer.
func parseInt(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	t := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		u, err := strconv.ParseUint(t[2:], 16, 64)
		if err != nil || u > 1<<63 || (!neg && u == 1<<63) {
			return 0, fmt.Errorf("bad number %q", s)
		}
		if neg {
			return -int64(u), nil
		}
		return int64(u), nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func parseUint(s string) (uint64, error) {
	t := strings.TrimPrefix(s, "+")
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		return strconv.ParseUint(t[2:], 16, 64)
	}
	return strconv.ParseUint(t, 10, 64)
}

// numberLiteral parses l for a field of kind k: integers, and for relative
// times also Go durations such as 5s or 100ms.
func (c *compiler) numberLiteral(l literal, k fields.Kind) (int64, uint64, error) {
	switch k {
	case fields.KindUint, fields.KindPort:
		u, err := parseUint(l.text)
		if err != nil {
			return 0, 0, c.litErr(l, "expected an unsigned integer for %s field, not %q", k, l.text)
		}
		if k == fields.KindPort && u > 65535 {
			return 0, 0, c.litErr(l, "port %q out of range", l.text)
		}
		return int64(u), u, nil
	}
	i, err := parseInt(l.text)
	if err != nil && k == fields.KindRelTime {
		if d, derr := time.ParseDuration(l.text); derr == nil {
			return int64(d), uint64(d), nil
		}
	}
	if err != nil {
		return 0, 0, c.litErr(l, "expected an integer for %s field, not %q", k, l.text)
	}
	return i, uint64(i), nil
}

func (c *compiler) numberCheck(n *Check, g getter, info srcInfo, lits []literal) (matcher, error) {
	m := &numMatcher{getter: g, op: numOps[n.Op], unsigned: isUnsigned(info.kind), mode: listModeFor(info, n.Op)}
	if m.mode == noneElem {
		m.op = opEq
	}
	if m.op == opIn {
		m.set = make(map[int64]struct{}, len(lits))
		for _, l := range lits {
			i, _, err := c.numberLiteral(l, info.kind)
			if err != nil {
				return nil, err
			}
			m.set[i] = struct{}{}
		}
		return m, nil
	}
	i, u, err := c.numberLiteral(lits[0], info.kind)
	if err != nil {
		return nil, err
	}
	m.iv, m.uv = i, u
	return m, nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

func (c *compiler) boolCheck(n *Check, g getter, info srcInfo, lits []literal) (matcher, error) {
	vals := make([]bool, 0, len(lits))
	for _, l := range lits {
		b, ok := parseBool(l.text)
		if !ok {
			return nil, c.litErr(l, "expected true or false for %s, not %q", info.name, l.text)
		}
		vals = append(vals, b)
	}
	if info.list {
		// Lists of booleans are carried as text ("true"/"false").
		items := make([]string, len(vals))
		for i, b := range vals {
			items[i] = strconv.FormatBool(b)
		}
		return &strMatcher{getter: g, pred: newSetPred(items), mode: listModeFor(info, n.Op)}, nil
	}
	m := &boolMatcher{getter: g}
	for _, b := range vals {
		if b {
			m.ok[1] = true
		} else {
			m.ok[0] = true
		}
	}
	if n.Op == "!=" {
		m.ok[0], m.ok[1] = !m.ok[0], !m.ok[1]
	}
	return m, nil
}

func (c *compiler) ipCheck(n *Check, g getter, info srcInfo, lits []literal) (matcher, error) {
	m := &ipMatcher{getter: g, neg: n.Op == "!=" && !info.list}
	if err := c.ipLiterals(m, info, lits); err != nil {
		return nil, err
	}
	if info.list {
		return &ipListMatcher{ipMatcher: *m, mode: listModeFor(info, n.Op)}, nil
	}
	return m, nil
}

func (c *compiler) ipLiterals(m *ipMatcher, info srcInfo, lits []literal) error {
	for _, l := range lits {
		if strings.Contains(l.text, "/") {
			p, err := netip.ParsePrefix(l.text)
			if err != nil {
				return c.litErr(l, "expected an IP network such as 10.0.0.0/8 for %s, not %q", info.name, l.text)
			}
			m.nets = append(m.nets, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked())
			continue
		}
		a, err := netip.ParseAddr(l.text)
		if err != nil {
			return c.litErr(l, "expected an IP address for %s, not %q", info.name, l.text)
		}
		m.addrs = append(m.addrs, a.Unmap())
	}
	return nil
}

// unmapBits is the prefix length to drop when a 4-in-6 network is unmapped.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return 96
	}
	return 0
}

// fieldCompare compiles a comparison with val(field) or a transformer on the
// right-hand side.
func (c *compiler) fieldCompare(n *Check, lhs getter, linfo srcInfo, v *Operand) (matcher, error) {
	if n.Modifier != "" || n.List && n.Op != "in" && n.Op != "intersects" {
		return nil, c.errAt(v.src, v.Offset, "a field on the right-hand side cannot be combined with a list or modifier", nil)
	}
	rsrc, rex, rinfo, err := c.source(v.Field, true)
	if err != nil {
		return nil, err
	}
	if rinfo.list {
		return nil, c.errAt(v.src, v.Offset, fmt.Sprintf("%s is a list; the right-hand side must be a single value", rinfo.name), nil)
	}
	lclass, rclass := classOf(linfo.kind), classOf(rinfo.kind)
	if lclass == classBytes {
		lclass = classString
	}
	if rclass == classBytes {
		rclass = classString
	}
	if lclass != rclass {
		return nil, c.errAt(v.src, v.Offset, fmt.Sprintf("cannot compare %s (%s) with %s (%s)", linfo.name, linfo.kind, rinfo.name, rinfo.kind), nil)
	}
	op := n.Op
	switch op {
	case "in", "intersects":
		op = "=" // a single value: membership is equality
	case "regex", "pmatch":
		return nil, c.errAt(n.src, n.OpOffset, fmt.Sprintf("operator %s needs literal values", op), nil)
	}
	if lclass != classString && !opAllowed(lclass, op) {
		return nil, c.errAt(n.src, n.OpOffset, fmt.Sprintf("operator %s is not supported for %s", op, linfo.kind), nil)
	}
	if (lclass == classBool || lclass == classIP) && op != "=" && op != "!=" {
		return nil, c.errAt(n.src, n.OpOffset, fmt.Sprintf("operator %s is not supported for %s", op, linfo.kind), nil)
	}
	rg := c.getter(rex, rsrc, rinfo)
	return &fieldCmpMatcher{lhs: lhs, rhs: rg, op: op, class: lclass, list: linfo.list}, nil
}
