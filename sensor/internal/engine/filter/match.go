package filter

import (
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// Filter is a compiled condition. It is immutable and safe for concurrent
// use.
type Filter struct {
	root    matcher
	nslots  int
	nbufs   int
	ncache  int
	types   []uint16
	anyType bool
}

// Scratch holds the per-goroutine buffers (extracted values, transformer
// output) that matching needs. One Scratch serves any number of filters,
// one call at a time; it is not safe for concurrent use. The zero value is
// ready to use.
type Scratch struct {
	vals  []fields.Value
	bufs  [][]byte
	gen   uint64 // current event, counted by BeginEvent; 0: no caching
	cache []cached
}

// cached is one field's value for the event numbered gen.
type cached struct {
	gen uint64
	ok  bool
	v   fields.Value
}

// BeginEvent starts a new event: until the next BeginEvent, each field is
// extracted at most once and its value shared by every filter matched with
// s (many rules test the same fields). A caller that uses it must call it
// before the first MatchScratch of every event; without it nothing is
// cached.
func (s *Scratch) BeginEvent() { s.gen++ }

func (s *Scratch) ensure(nslots, nbufs int) {
	if len(s.vals) < nslots {
		vals := make([]fields.Value, nslots)
		copy(vals, s.vals)
		s.vals = vals
	}
	if len(s.bufs) < nbufs {
		bufs := make([][]byte, nbufs)
		copy(bufs, s.bufs)
		s.bufs = bufs
	}
}

var scratchPool = sync.Pool{New: func() any { return new(Scratch) }}

// Match reports whether ev satisfies the filter. It is safe for concurrent
// use: it borrows a Scratch from a pool. Hot loops should keep one Scratch
// per goroutine and call MatchScratch, which saves the pool round trip.
func (f *Filter) Match(ev fields.Event) bool {
	s := scratchPool.Get().(*Scratch)
	ok := f.MatchScratch(ev, s)
	scratchPool.Put(s)
	return ok
}

// MatchScratch is Match with caller-owned scratch space; it does not
// allocate once s has grown to the largest filter it served.
func (f *Filter) MatchScratch(ev fields.Event, s *Scratch) bool {
	if len(s.vals) < f.nslots || len(s.bufs) < f.nbufs {
		s.ensure(f.nslots, f.nbufs)
	}
	if s.gen != 0 && len(s.cache) < f.ncache {
		// Ids are global and only grow: size for every field known now.
		cacheMu.Lock()
		n := len(cacheIDs)
		cacheMu.Unlock()
		c := make([]cached, max(n, f.ncache))
		copy(c, s.cache)
		s.cache = c
	}
	return f.root.match(ev, s)
}

// EventTypes returns the type ids (indices into Registry.EventTypes) of the
// events the filter can match, derived as Falco does from comparisons on
// Registry.TypeField through and/or/not and macros. any is true when the
// filter does not restrict event types (ids then lists every type), and
// always for registries without a TypeField.
func (f *Filter) EventTypes() (ids []uint16, any bool) {
	return append([]uint16(nil), f.types...), f.anyType
}

// matcher is one node of the compiled tree.
type matcher interface {
	match(ev fields.Event, s *Scratch) bool
}

// andMatcher: every term holds. Event-type tests among the terms are
// merged into one bitset checked first, without a dynamic call.
type andMatcher struct {
	types bitset
	terms []matcher
}

func (m *andMatcher) match(ev fields.Event, s *Scratch) bool {
	if m.types != nil && !m.types.has(ev.TypeID()) {
		return false
	}
	for _, t := range m.terms {
		if !t.match(ev, s) {
			return false
		}
	}
	return true
}

type orMatcher struct{ terms []matcher }

func (m *orMatcher) match(ev fields.Event, s *Scratch) bool {
	for _, t := range m.terms {
		if t.match(ev, s) {
			return true
		}
	}
	return false
}

type notMatcher struct{ x matcher }

func (m *notMatcher) match(ev fields.Event, s *Scratch) bool { return !m.x.match(ev, s) }

// typeMatcher is a comparison on the registry's type field, answered from
// the event's type id without extracting anything.
type typeMatcher struct{ bits bitset }

func (m *typeMatcher) match(ev fields.Event, _ *Scratch) bool { return m.bits.has(ev.TypeID()) }

// simplify flattens nested and/or, removes double negation and moves
// event-type tests to the front of conjunctions (they cost one load).
// Conditions have no side effects, so reordering preserves results.
func simplify(m matcher) matcher {
	switch n := m.(type) {
	case *andMatcher:
		var terms []matcher
		var types bitset
		addType := func(b bitset) {
			if types == nil {
				types = append(bitset(nil), b...)
				return
			}
			types = types.and(b)
		}
		for _, t := range n.terms {
			t = simplify(t)
			switch x := t.(type) {
			case *andMatcher:
				if x.types != nil {
					addType(x.types)
				}
				terms = append(terms, x.terms...)
			case *typeMatcher:
				addType(x.bits)
			default:
				terms = append(terms, t)
			}
		}
		switch {
		case len(terms) == 0 && types != nil:
			return &typeMatcher{bits: types}
		case len(terms) == 1 && types == nil:
			return terms[0]
		}
		return &andMatcher{types: types, terms: terms}
	case *orMatcher:
		var terms []matcher
		var types *typeMatcher // event-type tests merged into one, first
		for _, t := range n.terms {
			t = simplify(t)
			var sub []matcher
			if o, ok := t.(*orMatcher); ok {
				sub = o.terms
			} else {
				sub = []matcher{t}
			}
			for _, x := range sub {
				tm, ok := x.(*typeMatcher)
				switch {
				case !ok:
					terms = append(terms, x)
				case types == nil:
					types = &typeMatcher{bits: append(bitset(nil), tm.bits...)}
				default:
					types.bits = types.bits.or(tm.bits)
				}
			}
		}
		if types != nil {
			terms = append([]matcher{types}, terms...)
		}
		if len(terms) == 1 {
			return terms[0]
		}
		return &orMatcher{terms: terms}
	case *notMatcher:
		x := simplify(n.x)
		if inner, ok := x.(*notMatcher); ok {
			return inner.x
		}
		if t, ok := x.(*typeMatcher); ok {
			// not evt.type in (...) is a type test too.
			inv := make(bitset, len(t.bits))
			for i := range inv {
				inv[i] = ^t.bits[i]
			}
			return &typeMatcher{bits: inv}
		}
		return &notMatcher{x: x}
	}
	return m
}

// getter reads the checked value into the check's scratch slot, calling
// the field's extractor directly when there is no transformer.
type getter struct {
	ex   fields.Extract
	src  source
	slot int
	cid  int32 // field cache id of a plain field, -1 otherwise
}

func (g *getter) get(ev fields.Event, s *Scratch) (*fields.Value, bool) {
	if g.ex != nil {
		if s.gen != 0 && g.cid >= 0 {
			e := &s.cache[g.cid]
			if e.gen != s.gen {
				e.ok, e.gen = g.ex(ev, &e.v), s.gen
			}
			return &e.v, e.ok
		}
		v := &s.vals[g.slot]
		return v, g.ex(ev, v)
	}
	v := &s.vals[g.slot]
	return v, g.src.eval(ev, s, v)
}

// existsMatcher: the field has a value (a non-empty one for lists).
type existsMatcher struct {
	getter
	list bool
}

func (m *existsMatcher) match(ev fields.Event, s *Scratch) bool {
	v, ok := m.get(ev, s)
	if !ok {
		return false
	}
	if m.list {
		return len(v.Strs) > 0 || len(v.Ints) > 0
	}
	return true
}

// strPred tests one string.
type strPred interface{ test(string) bool }

// listMode says how a predicate applies to a list-valued field.
type listMode uint8

const (
	scalar   listMode = iota
	anyElem           // some element satisfies the predicate
	allElem           // every element does (and the list is not empty)
	noneElem          // no element does (and the list is not empty): != on lists
)

// strMatcher applies a string predicate to a string, a byte buffer or each
// element of a list.
type strMatcher struct {
	getter
	pred  strPred
	mode  listMode
	bytes bool
}

func (m *strMatcher) match(ev fields.Event, s *Scratch) bool {
	v, ok := m.get(ev, s)
	if !ok {
		return false
	}
	switch m.mode {
	case anyElem:
		for _, x := range v.Strs {
			if m.pred.test(x) {
				return true
			}
		}
		return false
	case allElem:
		if len(v.Strs) == 0 {
			return false
		}
		for _, x := range v.Strs {
			if !m.pred.test(x) {
				return false
			}
		}
		return true
	case noneElem:
		if len(v.Strs) == 0 {
			return false
		}
		for _, x := range v.Strs {
			if m.pred.test(x) {
				return false
			}
		}
		return true
	}
	if m.bytes {
		return m.pred.test(bytesString(v.Bytes))
	}
	return m.pred.test(v.Str)
}

// modMatcher implements the oneof/anyof/allof modifiers: the operator is
// tried with each listed value, and the results are combined.
type modMatcher struct {
	getter
	preds []strPred
	mod   string
	list  bool
	bytes bool
}

func (m *modMatcher) match(ev fields.Event, s *Scratch) bool {
	v, ok := m.get(ev, s)
	if !ok {
		return false
	}
	hits := 0
	for _, p := range m.preds {
		var hit bool
		switch {
		case m.list:
			for _, x := range v.Strs {
				if p.test(x) {
					hit = true
					break
				}
			}
		case m.bytes:
			hit = p.test(bytesString(v.Bytes))
		default:
			hit = p.test(v.Str)
		}
		switch {
		case hit && m.mod == "anyof":
			return true
		case !hit && m.mod == "allof":
			return false
		case hit && m.mod == "oneof":
			hits++
			if hits > 1 { // oneof: exactly one
				return false
			}
		}
	}
	switch m.mod {
	case "allof":
		return len(m.preds) > 0
	case "oneof":
		return hits == 1
	}
	return false
}

type eqPred struct{ v string }

func (p *eqPred) test(x string) bool { return x == p.v }

type nePred struct{ v string }

func (p *nePred) test(x string) bool { return x != p.v }

type containsPred struct{ v string }

func (p *containsPred) test(x string) bool { return strings.Contains(x, p.v) }

type prefixPred struct{ v string }

func (p *prefixPred) test(x string) bool { return strings.HasPrefix(x, p.v) }

type suffixPred struct{ v string }

func (p *suffixPred) test(x string) bool { return strings.HasSuffix(x, p.v) }

// icontainsPred is an ASCII case-insensitive substring test that does not
// allocate; v is lower-case.
type icontainsPred struct{ v string }

func (p *icontainsPred) test(x string) bool { return indexFold(x, p.v) >= 0 }

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// indexFold finds lower-case needle in s ignoring ASCII case.
func indexFold(s, needle string) int {
	n := len(needle)
	if n == 0 {
		return 0
	}
	first := needle[0]
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == n {
			return i
		}
	}
	return -1
}

// globPred matches a shell pattern; the literal text before the first and
// after the last wildcard is checked first, which rejects most strings
// cheaply.
type globPred struct {
	pattern        string
	prefix, suffix string
	fold           bool
}

func newGlob(pattern string, fold bool) *globPred {
	p := &globPred{pattern: pattern, fold: fold}
	if fold {
		return p
	}
	first := strings.IndexAny(pattern, "*?[\\")
	last := strings.LastIndexAny(pattern, "*?[]\\")
	if first < 0 {
		return p
	}
	p.prefix = pattern[:first]
	if pattern[last] != '\\' && pattern[last] != '[' {
		p.suffix = pattern[last+1:]
	}
	return p
}

func (p *globPred) test(x string) bool {
	if !strings.HasPrefix(x, p.prefix) || !strings.HasSuffix(x, p.suffix) || len(x) < len(p.prefix)+len(p.suffix) {
		return false
	}
	return globMatch(p.pattern, x, p.fold)
}

// regexPred matches a regular expression; when the expression requires a
// literal substring, strings without it are rejected before running it.
type regexPred struct {
	re      *regexp.Regexp
	literal string
}

func (p *regexPred) test(x string) bool {
	if p.literal != "" && !strings.Contains(x, p.literal) {
		return false
	}
	return p.re.MatchString(x)
}

// requiredLiteral returns the longest literal that every match of the
// case-sensitive regular expression re must contain ("" if none is known).
func requiredLiteral(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return ""
		}
		return string(re.Rune)
	case syntax.OpCapture:
		return requiredLiteral(re.Sub[0])
	case syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		best := ""
		for _, sub := range re.Sub {
			if l := requiredLiteral(sub); len(l) > len(best) {
				best = l
			}
		}
		return best
	}
	return ""
}

// setPred is set membership: a short slice scan for small sets, a map
// otherwise. Large sets first reject strings whose length or first byte no
// item has, which settles most non-members without hashing.
type setPred struct {
	small []string
	m     map[string]struct{}
	lens  uint64    // bit n: some item has length n (n < 63); bit 63: longer
	first [4]uint64 // bit c: some item starts with byte c
	empty bool      // "" is in the set
}

func newSetPred(items []string) *setPred {
	if len(items) <= 8 {
		return &setPred{small: items}
	}
	p := &setPred{m: make(map[string]struct{}, len(items))}
	for _, it := range items {
		p.m[it] = struct{}{}
		p.lens |= 1 << min(len(it), 63)
		if it == "" {
			p.empty = true
		} else {
			p.first[it[0]>>6] |= 1 << (it[0] & 63)
		}
	}
	return p
}

func (p *setPred) test(x string) bool {
	if p.m == nil {
		for _, it := range p.small {
			if it == x {
				return true
			}
		}
		return false
	}
	if len(x) == 0 {
		return p.empty
	}
	if p.lens&(1<<min(len(x), 63)) == 0 || p.first[x[0]>>6]&(1<<(x[0]&63)) == 0 {
		return false
	}
	_, ok := p.m[x]
	return ok
}

// pmatchPred: some listed path is x itself or a directory containing x.
type pmatchPred struct {
	paths map[string]struct{}
	lens  uint64 // bit n: some path has length n (n < 63); bit 63: longer
	root  bool   // "/" was listed: every absolute path matches
}

func newPmatchPred(items []string) *pmatchPred {
	p := &pmatchPred{paths: make(map[string]struct{}, len(items))}
	for _, it := range items {
		for len(it) > 1 && it[len(it)-1] == '/' {
			it = it[:len(it)-1]
		}
		if it == "/" {
			p.root = true
		}
		p.paths[it] = struct{}{}
		p.lens |= 1 << min(len(it), 63)
	}
	return p
}

// has looks x up, skipping the hash when no listed path has its length.
func (p *pmatchPred) has(x string) bool {
	if p.lens&(1<<min(len(x), 63)) == 0 {
		return false
	}
	_, ok := p.paths[x]
	return ok
}

func (p *pmatchPred) test(x string) bool {
	if p.root && strings.HasPrefix(x, "/") {
		return true
	}
	if p.has(x) {
		return true
	}
	for i := len(x) - 1; i > 0; i-- {
		if x[i] == '/' && p.has(x[:i]) {
			return true
		}
	}
	return false
}

type numOp uint8

const (
	opEq numOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opIn // set membership
)

var numOps = map[string]numOp{"=": opEq, "!=": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe,
	"in": opIn, "intersects": opIn}

// numMatcher compares integers. Signed kinds read Value.Int, unsigned ones
// Value.Uint; list fields read Value.Ints.
type numMatcher struct {
	getter
	op       numOp
	iv       int64
	uv       uint64
	set      map[int64]struct{}
	unsigned bool
	mode     listMode
}

func (m *numMatcher) testInt(x int64) bool {
	switch m.op {
	case opEq:
		return x == m.iv
	case opNe:
		return x != m.iv
	case opLt:
		return x < m.iv
	case opLe:
		return x <= m.iv
	case opGt:
		return x > m.iv
	case opGe:
		return x >= m.iv
	}
	_, ok := m.set[x]
	return ok
}

func (m *numMatcher) testUint(x uint64) bool {
	switch m.op {
	case opEq:
		return x == m.uv
	case opNe:
		return x != m.uv
	case opLt:
		return x < m.uv
	case opLe:
		return x <= m.uv
	case opGt:
		return x > m.uv
	case opGe:
		return x >= m.uv
	}
	_, ok := m.set[int64(x)]
	return ok
}

func (m *numMatcher) match(ev fields.Event, s *Scratch) bool {
	v, ok := m.get(ev, s)
	if !ok {
		return false
	}
	if m.mode != scalar {
		if len(v.Ints) == 0 && len(v.Strs) > 0 {
			return m.matchText(v.Strs)
		}
		if len(v.Ints) == 0 {
			return false
		}
		// any: stop at the first hit; all and none: at the first element
		// that decides against.
		stopOn := m.mode != allElem
		for _, x := range v.Ints {
			if m.test(x) == stopOn {
				return m.mode == anyElem
			}
		}
		return m.mode != anyElem
	}
	if m.unsigned {
		return m.testUint(v.Uint)
	}
	return m.testInt(v.Int)
}

// matchText handles numeric lists that a source delivers as text;
// elements that are not numbers never satisfy the comparison.
func (m *numMatcher) matchText(strs []string) bool {
	stopOn := m.mode != allElem
	for _, t := range strs {
		hit := false
		if x, err := strconv.ParseInt(t, 10, 64); err == nil {
			hit = m.test(x)
		} else if u, err := strconv.ParseUint(t, 10, 64); err == nil {
			hit = m.test(int64(u))
		}
		if hit == stopOn {
			return m.mode == anyElem
		}
	}
	return m.mode != anyElem
}

// test applies the comparison to a list element (stored as int64).
func (m *numMatcher) test(x int64) bool {
	if m.unsigned {
		return m.testUint(uint64(x))
	}
	return m.testInt(x)
}

// boolMatcher: ok[b] says whether value b satisfies the check.
type boolMatcher struct {
	getter
	ok [2]bool
}

func (m *boolMatcher) match(ev fields.Event, s *Scratch) bool {
	v, ok := m.get(ev, s)
	if !ok {
		return false
	}
	if v.Bool {
		return m.ok[1]
	}
	return m.ok[0]
}

// ipMatcher: the address equals one of addrs or lies in one of nets;
// negated for !=.
type ipMatcher struct {
	getter
	addrs []netip.Addr
	nets  []netip.Prefix
	neg   bool
}

func (m *ipMatcher) match(ev fields.Event, s *Scratch) bool {
	v, ok := m.get(ev, s)
	if !ok {
		return false
	}
	a := v.IP
	if v.Kind == fields.KindIPNet && v.Net.IsValid() {
		a = v.Net.Addr()
	}
	if !a.IsValid() {
		return false
	}
	return m.hit(a) != m.neg
}

func (m *ipMatcher) hit(a netip.Addr) bool {
	a = a.Unmap()
	for _, x := range m.addrs {
		if x == a {
			return true
		}
	}
	for _, n := range m.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ipListMatcher compares the addresses of a list field (carried as text,
// such as fd.ip: client and server) with addresses and networks. = and in
// hold when some element matches, != when none does.
type ipListMatcher struct {
	ipMatcher
	mode listMode
}

func (m *ipListMatcher) match(ev fields.Event, s *Scratch) bool {
	v, ok := m.get(ev, s)
	if !ok || len(v.Strs) == 0 {
		return false
	}
	stopOn := m.mode != allElem
	for _, t := range v.Strs {
		hit := false
		if a, err := netip.ParseAddr(t); err == nil {
			hit = m.hit(a)
		}
		if hit == stopOn {
			return m.mode == anyElem
		}
	}
	return m.mode != anyElem
}

// fieldCmpMatcher compares two extracted values (val(field) or a
// transformer on the right-hand side).
type fieldCmpMatcher struct {
	lhs, rhs getter
	op       string
	class    kindClass
	list     bool
}

func (m *fieldCmpMatcher) match(ev fields.Event, s *Scratch) bool {
	l, ok := m.lhs.get(ev, s)
	if !ok {
		return false
	}
	r, ok := m.rhs.get(ev, s)
	if !ok {
		return false
	}
	switch m.class {
	case classString, classBytes:
		rs := r.Str
		if r.Kind == fields.KindBytes {
			rs = bytesString(r.Bytes)
		}
		if m.list {
			for _, x := range l.Strs {
				if compareStrings(m.op, x, rs) {
					return true
				}
			}
			return false
		}
		ls := l.Str
		if l.Kind == fields.KindBytes {
			ls = bytesString(l.Bytes)
		}
		return compareStrings(m.op, ls, rs)
	case classNumber:
		if m.list {
			for _, x := range l.Ints {
				if compareNumbers(m.op, x, 0, false, r) {
					return true
				}
			}
			return false
		}
		return compareNumbers(m.op, l.Int, l.Uint, isUnsigned(l.Kind), r)
	case classBool:
		return (l.Bool == r.Bool) == (m.op == "=")
	case classIP:
		la, ra := l.IP, r.IP
		if l.Kind == fields.KindIPNet && l.Net.IsValid() {
			la = l.Net.Addr()
		}
		if r.Kind == fields.KindIPNet && r.Net.IsValid() {
			if m.op == "=" {
				return r.Net.Contains(la.Unmap())
			}
			return !r.Net.Contains(la.Unmap())
		}
		return (la.Unmap() == ra.Unmap()) == (m.op == "=")
	}
	return false
}

func compareStrings(op, x, y string) bool {
	switch op {
	case "=":
		return x == y
	case "!=":
		return x != y
	case "contains", "bcontains":
		return strings.Contains(x, y)
	case "icontains":
		return indexFold(x, strings.ToLower(y)) >= 0 // rare path: allocates for upper-case y
	case "startswith", "bstartswith":
		return strings.HasPrefix(x, y)
	case "endswith":
		return strings.HasSuffix(x, y)
	case "glob":
		return globMatch(y, x, false)
	case "iglob":
		return globMatch(y, x, true)
	case "<":
		return x < y
	case "<=":
		return x <= y
	case ">":
		return x > y
	case ">=":
		return x >= y
	}
	return false
}

func isUnsigned(k fields.Kind) bool { return k == fields.KindUint || k == fields.KindPort }

// compareNumbers compares a number (signed li or unsigned lu) with r.
func compareNumbers(op string, li int64, lu uint64, lUnsigned bool, r *fields.Value) bool {
	var c int // -1, 0, 1
	rUnsigned := isUnsigned(r.Kind)
	switch {
	case lUnsigned && rUnsigned:
		c = cmp3(lu, r.Uint)
	case !lUnsigned && !rUnsigned:
		c = cmp3(li, r.Int)
	case lUnsigned: // r signed
		if r.Int < 0 {
			c = 1
		} else {
			c = cmp3(lu, uint64(r.Int))
		}
	default: // l signed, r unsigned
		if li < 0 {
			c = -1
		} else {
			c = cmp3(uint64(li), r.Uint)
		}
	}
	switch op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

func cmp3[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
