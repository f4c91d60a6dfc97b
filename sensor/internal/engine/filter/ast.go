// Package filter implements the Falco/libsinsp condition language: Parse turns
// a condition into an AST, Compile binds it to a fields.Registry and builds a
// tree of small typed matchers that the hot path runs without allocating.
package filter

// Expr is a node of a parsed condition: *And, *Or, *Not, *Ident or *Check.
type Expr interface {
	// Pos is the byte offset of the node in the condition text.
	Pos() int
	// String renders the node back as condition text that Parse accepts.
	String() string
	node()
}

// And is a conjunction of two or more terms.
type And struct {
	Offset int
	Terms  []Expr
	src    *string // condition text, for error positions; nil for built nodes
}

// Or is a disjunction of two or more terms.
type Or struct {
	Offset int
	Terms  []Expr
	src    *string
}

// Not negates X.
type Not struct {
	Offset int
	X      Expr
	src    *string
}

// Ident is a bare identifier: a reference to a macro.
type Ident struct {
	Offset int
	Name   string
	src    *string
}

// Check compares a field (possibly transformed) with values.
type Check struct {
	Offset int
	Field  *FieldRef
	// Op is the operator in canonical form: "exists", "=", "!=", "<", "<=",
	// ">", ">=", "contains", "icontains", "bcontains", "startswith",
	// "bstartswith", "endswith", "glob", "iglob", "regex", "in",
	// "intersects", "pmatch" ("==" is stored as "=").
	Op       string
	OpOffset int
	// Values holds the right-hand side: none for exists, one for scalar
	// operators, the items for list operators.
	Values []*Operand
	// Modifier is "oneof", "anyof" or "allof" when a string operator takes a
	// list of values (proc.name startswith anyof (a, b)); empty otherwise.
	Modifier string
	// List is true when the right-hand side is a parenthesised list or a
	// bare list name (Values then holds that one name).
	List bool

	bareList bool // List written as a bare list name, without parentheses
	src      *string
}

// FieldRef is a field reference (proc.aname[2], evt.arg.flags) or a
// transformer applied to arguments (tolower(proc.name), join(",", proc.args)).
type FieldRef struct {
	Offset int
	// Func is the transformer name ("tolower", "toupper", "b64", "basename",
	// "len", "join", "concat", "getopt", "val"); empty for a plain field.
	Func string
	// Args are the transformer's arguments (fields, nested transformers or
	// literals). Empty for a plain field.
	Args []*Operand
	// Name is the field name as written (plain fields only).
	Name string
	// Arg is the bracketed argument (proc.env[HOME] → "HOME"); for getopt it
	// is the option selector (getopt(...)[t]).
	Arg    string
	HasArg bool
	src    *string
}

// Operand is a literal value or, when Field is set, a field-valued operand
// (val(field), a transformer, or a transformer argument).
type Operand struct {
	Offset int
	// Text is the literal's text after unquoting and unescaping.
	Text   string
	Quoted bool
	Field  *FieldRef
	// Tuple holds the items of a parenthesised transformer argument,
	// join(",", (proc.name, proc.pname)); nil otherwise.
	Tuple []*Operand
	src   *string
}

func (e *And) Pos() int   { return e.Offset }
func (e *Or) Pos() int    { return e.Offset }
func (e *Not) Pos() int   { return e.Offset }
func (e *Ident) Pos() int { return e.Offset }
func (e *Check) Pos() int { return e.Offset }

func (*And) node()   {}
func (*Or) node()    {}
func (*Not) node()   {}
func (*Ident) node() {}
func (*Check) node() {}

// Walk calls fn for e and, while fn returns true, for its sub-expressions in
// depth-first order. It does not descend into macros.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch n := e.(type) {
	case *And:
		for _, t := range n.Terms {
			Walk(t, fn)
		}
	case *Or:
		for _, t := range n.Terms {
			Walk(t, fn)
		}
	case *Not:
		Walk(n.X, fn)
	}
}

// Checks calls fn for every field test in e, macros expanded (each looked up
// with macro and visited once, the first time it is named), depth first,
// until fn returns false.
func Checks(e Expr, macro func(name string) Expr, fn func(*Check) bool) {
	seen := map[string]bool{}
	more := true
	var walk func(Expr)
	walk = func(e Expr) {
		Walk(e, func(n Expr) bool {
			if !more {
				return false
			}
			switch x := n.(type) {
			case *Ident:
				if !seen[x.Name] {
					seen[x.Name] = true
					walk(macro(x.Name))
				}
			case *Check:
				more = fn(x)
			}
			return more
		})
	}
	walk(e)
}
