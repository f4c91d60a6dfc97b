package filter

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// recoverPanics makes Compile turn internal panics into errors.
var recoverPanics = true

// maxChecks caps the size of a condition after macro expansion, so that
// macros referring to each other many times cannot blow up compile time.
const maxChecks = 100000

// ancestorFields are list fields whose comparisons follow Falco's "any
// ancestor" rule: without an index, proc.aname in (a, b) holds when any
// ancestor's name is in the set, whereas for ordinary list fields (k8s audit
// pod specs) "in" means every element is in the set.
var ancestorFields = map[string]bool{
	"proc.aname": true, "proc.apid": true, "proc.aexe": true, "proc.aexepath": true,
	"proc.acmdline": true, "proc.aargs": true,
}

type compiler struct {
	env    Env
	stack  []string // macros being expanded, for cycle detection
	checks int
	// tooLarge is set once the condition exceeds maxChecks: checking
	// further terms would only repeat that error.
	tooLarge bool
	types    *typeTable
	slots    int // slots used by the check being compiled
	max      int // most slots used by any check
	bufs     int
	ncache   int // 1 + the largest field cache id used
}

// Compile type-checks e against env and builds the matcher tree. Errors are
// *Error (located in the condition where possible), wrapping
// *UnknownFieldError, undefined macros and the like. Compile never panics.
func Compile(e Expr, env Env) (f *Filter, err error) {
	if env.Registry == nil {
		return nil, errors.New("filter: Compile without a registry")
	}
	if e == nil {
		return nil, errors.New("filter: Compile of a nil expression")
	}
	defer func() {
		// Defence in depth: a bug in the compiler must not take a daemon
		// down while it loads rules. (Fuzzing turns this off to see bugs.)
		if !recoverPanics {
			return
		}
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("filter: internal error compiling %q: %v", e.String(), r)
		}
	}()
	c := &compiler{env: env, types: typeTableFor(env.Registry)}
	m, ts, err := c.expr(e)
	if err != nil {
		return nil, err
	}
	f = &Filter{root: simplify(m), nslots: c.max, nbufs: c.bufs, ncache: c.ncache}
	f.types, f.anyType = c.types.ids(ts.pos)
	if env.Registry.TypeField == "" {
		f.anyType = true
	}
	return f, nil
}

// typeSets holds, for a sub-expression, the event types for which it can
// be true (pos) and for which its negation can be true (neg).
type typeSets struct{ pos, neg bitset }

func (c *compiler) all() typeSets { return typeSets{c.types.all, c.types.all} }

func (c *compiler) expr(e Expr) (matcher, typeSets, error) {
	switch n := e.(type) {
	case *And:
		if len(n.Terms) == 0 {
			return nil, typeSets{}, c.errAt(n.src, n.Offset, "empty 'and'", nil)
		}
		ms := make([]matcher, 0, len(n.Terms))
		ts := typeSets{pos: c.types.all, neg: c.types.none()}
		var errs Errors // every term is checked, to report all errors at once
		for _, t := range n.Terms {
			m, s, err := c.expr(t)
			if err != nil {
				errs = addErr(errs, err)
				if c.tooLarge || len(errs) >= maxErrors {
					break // the rest cannot be checked in reasonable time
				}
				continue
			}
			ms = append(ms, m)
			ts.pos = ts.pos.and(s.pos)
			ts.neg = ts.neg.or(s.neg)
		}
		if len(errs) > 0 {
			return nil, ts, errs.one()
		}
		return &andMatcher{terms: ms}, ts, nil
	case *Or:
		if len(n.Terms) == 0 {
			return nil, typeSets{}, c.errAt(n.src, n.Offset, "empty 'or'", nil)
		}
		ms := make([]matcher, 0, len(n.Terms))
		ts := typeSets{pos: c.types.none(), neg: c.types.all}
		var errs Errors
		for _, t := range n.Terms {
			m, s, err := c.expr(t)
			if err != nil {
				errs = addErr(errs, err)
				if c.tooLarge || len(errs) >= maxErrors {
					break // the rest cannot be checked in reasonable time
				}
				continue
			}
			ms = append(ms, m)
			ts.pos = ts.pos.or(s.pos)
			ts.neg = ts.neg.and(s.neg)
		}
		if len(errs) > 0 {
			return nil, ts, errs.one()
		}
		return &orMatcher{terms: ms}, ts, nil
	case *Not:
		if n.X == nil {
			return nil, typeSets{}, c.errAt(n.src, n.Offset, "'not' without operand", nil)
		}
		m, s, err := c.expr(n.X)
		if err != nil {
			return nil, s, err
		}
		return &notMatcher{x: m}, typeSets{pos: s.neg, neg: s.pos}, nil
	case *Ident:
		return c.macro(n)
	case *Check:
		c.checks++
		if c.checks > maxChecks {
			c.tooLarge = true
			return nil, typeSets{}, c.errAt(n.src, n.Offset, fmt.Sprintf("condition too large: more than %d checks after macro expansion", maxChecks), nil)
		}
		c.slots = 0
		m, ts, err := c.check(n)
		if c.slots > c.max {
			c.max = c.slots
		}
		return m, ts, err
	case nil:
		return nil, typeSets{}, errors.New("filter: nil expression")
	}
	return nil, typeSets{}, fmt.Errorf("filter: unknown expression node %T", e)
}

func (c *compiler) macro(n *Ident) (matcher, typeSets, error) {
	for i, name := range c.stack {
		if name == n.Name {
			cycle := append(append([]string{}, c.stack[i:]...), n.Name)
			return nil, typeSets{}, c.errAt(n.src, n.Offset, "macro cycle: "+strings.Join(cycle, " -> "), nil)
		}
	}
	body, ok := c.env.Macros[n.Name]
	if !ok || body == nil {
		return nil, typeSets{}, c.errAt(n.src, n.Offset, fmt.Sprintf("undefined macro %q", n.Name), &UndefinedMacroError{Name: n.Name})
	}
	c.stack = append(c.stack, n.Name)
	m, ts, err := c.expr(body)
	c.stack = c.stack[:len(c.stack)-1]
	if err != nil {
		// Point at the macro reference; each message keeps the location
		// inside the macro body.
		var errs Errors
		for _, e := range AllErrors(err) {
			errs = append(errs, c.errAt(n.src, n.Offset, fmt.Sprintf("in macro %q: %s", n.Name, e.Error()), e))
		}
		return nil, ts, errs.one()
	}
	return m, ts, nil
}

// UndefinedMacroError reports a bare identifier that names no macro.
type UndefinedMacroError struct{ Name string }

func (e *UndefinedMacroError) Error() string { return "undefined macro " + e.Name }

func (c *compiler) errAt(src *string, off int, msg string, err error) *Error {
	if src == nil {
		return &Error{Offset: off, Msg: msg, Err: err}
	}
	return newError(*src, off, msg, err)
}

// getter reads a check's value: plain fields straight from their extractor
// (and through the per-event cache), others through their source.
func (c *compiler) getter(ex fields.Extract, src source, info srcInfo) getter {
	g := getter{ex: ex, src: src, slot: c.newSlot(), cid: -1}
	if ex != nil {
		g.src = nil
		g.cid = cacheID(info.key)
		if int(g.cid) >= c.ncache {
			c.ncache = int(g.cid) + 1
		}
	}
	return g
}

// cacheIDs numbers the distinct plain fields (registry, name, argument) of
// every compiled filter, so that one Scratch can keep each field's value
// for the current event whichever filter extracted it first.
var (
	cacheMu  sync.Mutex
	cacheIDs = map[string]int32{}
)

func cacheID(key string) int32 {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	id, ok := cacheIDs[key]
	if !ok {
		id = int32(len(cacheIDs))
		cacheIDs[key] = id
	}
	return id
}

// newSlot reserves a Value in the scratch space for the current check.
func (c *compiler) newSlot() int {
	c.slots++
	return c.slots - 1
}

// newBuf reserves a byte buffer for a transformer's output.
func (c *compiler) newBuf() int {
	c.bufs++
	return c.bufs - 1
}

// typeTable caches, per registry, the event type ids by name.
type typeTable struct {
	n     int
	all   bitset
	names map[string][]uint16
}

func (t *typeTable) none() bitset { return make(bitset, len(t.all)) }

func (t *typeTable) ids(b bitset) ([]uint16, bool) {
	var ids []uint16
	for i := 0; i < t.n; i++ {
		if b.has(uint16(i)) {
			ids = append(ids, uint16(i))
		}
	}
	return ids, b.equal(t.all)
}

var typeTables sync.Map // *fields.Registry → *typeTable

func typeTableFor(r *fields.Registry) *typeTable {
	if t, ok := typeTables.Load(r); ok {
		return t.(*typeTable)
	}
	types := r.EventTypes()
	t := &typeTable{n: len(types), all: make(bitset, (len(types)+63)/64), names: make(map[string][]uint16)}
	for i, name := range types {
		if name == "" {
			continue
		}
		t.all.set(uint16(i))
		t.names[name] = append(t.names[name], uint16(i))
	}
	for alias, targets := range r.TypeAliases() {
		if _, real := t.names[alias]; real {
			continue
		}
		ids := []uint16{} // known, possibly matching nothing
		for _, target := range targets {
			ids = append(ids, t.names[target]...)
		}
		t.names[alias] = ids
	}
	typeTables.Store(r, t)
	return t
}

// bitset is a set of event type ids.
type bitset []uint64

func (b bitset) has(i uint16) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(1<<(i&63)) != 0
}

func (b bitset) set(i uint16) { b[i>>6] |= 1 << (i & 63) }

func (b bitset) and(o bitset) bitset {
	r := make(bitset, len(b))
	for i := range b {
		r[i] = b[i] & o[i]
	}
	return r
}

func (b bitset) or(o bitset) bitset {
	r := make(bitset, len(b))
	for i := range b {
		r[i] = b[i] | o[i]
	}
	return r
}

func (b bitset) andNot(o bitset) bitset {
	r := make(bitset, len(b))
	for i := range b {
		r[i] = b[i] &^ o[i]
	}
	return r
}

func (b bitset) equal(o bitset) bool {
	for i := range b {
		if b[i] != o[i] {
			return false
		}
	}
	return true
}
