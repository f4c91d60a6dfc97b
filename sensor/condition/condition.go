// Package condition compiles conditions written in the rules' condition
// language over fields that the caller defines, for programs outside the
// sensor module (the router routes alerts with it: one language for
// detection and routing). It is an exported face of the sensor's own parser
// and compiler: the same operators (=, in, startswith, contains, pmatch,
// glob, exists, ...), transformers, and/or/not and error positions, with no
// macros or lists.
package condition

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// Kind is the type of a field's values.
type Kind uint8

const (
	String  Kind = iota + 1 // Value.SetString
	Int                     // Value.SetInt
	Uint                    // Value.SetUint
	Bool                    // Value.SetBool
	Strings                 // a list of strings: Value.SetStrings
)

func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Int:
		return "int64"
	case Uint:
		return "uint64"
	case Bool:
		return "bool"
	case Strings:
		return "list of strings"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Value receives one field's value for one evaluation. Only the setter
// of the field's Kind is meaningful.
type Value struct{ v *fields.Value }

// SetString sets a String value.
func (v Value) SetString(s string) { v.v.Kind, v.v.IsList, v.v.Str = fields.KindString, false, s }

// SetInt sets an Int value.
func (v Value) SetInt(i int64) { v.v.Kind, v.v.IsList, v.v.Int = fields.KindInt, false, i }

// SetUint sets a Uint value.
func (v Value) SetUint(u uint64) { v.v.Kind, v.v.IsList, v.v.Uint = fields.KindUint, false, u }

// SetBool sets a Bool value.
func (v Value) SetBool(b bool) { v.v.Kind, v.v.IsList, v.v.Bool = fields.KindBool, false, b }

// SetStrings sets a Strings value. ss is copied: the engine reuses its
// buffers between evaluations.
func (v Value) SetStrings(ss []string) {
	v.v.Kind, v.v.IsList = fields.KindString, true
	v.v.Strs = append(v.v.Strs[:0], ss...)
}

// Field is one field a condition may name.
type Field struct {
	Kind Kind
	// AnyOf makes a Strings field compare as one value found at any of
	// its elements: tags = x and tags in (x, y) hold when some element
	// does, tags != x when none does (as proc.aname in the rules). Without
	// it, in means every element is in the set (as ka.* list fields).
	AnyOf bool
	// Get reads the field of ev (what Match was given) into v; false means
	// the field has no value, so every comparison but != fails.
	Get func(ev any, v Value) bool
}

// Schema resolves the field names a condition uses. name is the field as
// written without its argument; arg is the bracketed argument (the
// "2" of proc.aname[2]) and hasArg whether one was written. ok false makes
// the name an unknown field (an error located in the condition).
type Schema interface {
	Field(name, arg string, hasArg bool) (f Field, ok bool)
	// Bare reports whether a name without a dot is a field (the router's
	// rule, priority, source...); otherwise it would read as a macro.
	Bare(name string) bool
}

// Condition is a compiled condition. It is immutable and safe for
// concurrent use.
type Condition struct {
	text string
	f    *filter.Filter
}

// String returns the condition as written.
func (c *Condition) String() string { return c.text }

// Error is a condition that does not compile: each error located at
// Line:Col of the condition text (1-based; 0 when unknown).
type Error struct {
	Problems []Problem
}

// Problem is one error of a condition.
type Problem struct {
	Line, Col int
	Msg       string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.Msg
	}
	return fmt.Sprintf("%d:%d: %s", p.Line, p.Col, p.Msg)
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.String()
	}
	return strings.Join(msgs, "; ")
}

func wrapErr(err error) error {
	e := &Error{}
	for _, one := range filter.AllErrors(err) {
		var fe *filter.Error
		if errors.As(one, &fe) {
			e.Problems = append(e.Problems, Problem{Line: fe.Line, Col: fe.Col, Msg: fe.Msg})
			continue
		}
		e.Problems = append(e.Problems, Problem{Msg: one.Error()})
	}
	return e
}

// event carries the caller's value through the engine.
type event struct{ x any }

func (*event) Source() string { return "condition" }
func (*event) TypeID() uint16 { return 0 }

// Compile parses and type-checks text against schema. Errors are *Error.
func Compile(text string, schema Schema) (*Condition, error) {
	e, err := filter.ParseWith(text, filter.ParseOptions{BareField: schema.Bare})
	if err != nil {
		return nil, wrapErr(err)
	}
	reg := fields.NewRegistry("condition", "", []string{"condition"})
	seen := map[string]bool{}
	var addErr error
	eachField(e, func(f *filter.FieldRef) {
		if seen[f.Name] {
			return
		}
		seen[f.Name] = true
		def, ok := define(f.Name, schema)
		if !ok {
			return // the compiler reports it, located
		}
		if err := reg.Add(def); err != nil && addErr == nil {
			addErr = err
		}
	})
	if addErr != nil {
		return nil, addErr
	}
	f, err := filter.Compile(e, filter.Env{Registry: reg})
	if err != nil {
		return nil, wrapErr(err)
	}
	return &Condition{text: text, f: f}, nil
}

// define makes the engine's field definition for name; Bind asks the
// schema again with the argument each use is written with (the engine
// treats a list field with an argument as one value, proc.aname[2]).
func define(name string, schema Schema) (fields.Def, bool) {
	probe, ok := schema.Field(name, "", false)
	if !ok {
		return fields.Def{}, false
	}
	def := fields.Def{Name: name, Kind: engineKind(probe.Kind), List: probe.Kind == Strings, AnyOf: probe.AnyOf,
		Arg: fields.ArgOptional}
	def.Bind = func(arg string) (fields.Extract, error) {
		f, ok := schema.Field(name, arg, arg != "")
		if !ok || f.Get == nil {
			return nil, fmt.Errorf("unknown argument %q", arg)
		}
		get := f.Get
		return func(ev fields.Event, out *fields.Value) bool {
			return get(ev.(*event).x, Value{out})
		}, nil
	}
	return def, true
}

func engineKind(k Kind) fields.Kind {
	switch k {
	case Int:
		return fields.KindInt
	case Uint:
		return fields.KindUint
	case Bool:
		return fields.KindBool
	}
	return fields.KindString
}

// eachField calls fn with every field reference of e, transformer
// arguments and field-valued right-hand sides included.
func eachField(e filter.Expr, fn func(*filter.FieldRef)) {
	var ref func(f *filter.FieldRef)
	var operand func(o *filter.Operand)
	ref = func(f *filter.FieldRef) {
		if f == nil {
			return
		}
		if f.Func == "" {
			fn(f)
			return
		}
		for _, a := range f.Args {
			operand(a)
		}
	}
	operand = func(o *filter.Operand) {
		if o == nil {
			return
		}
		ref(o.Field)
		for _, t := range o.Tuple {
			operand(t)
		}
	}
	filter.Walk(e, func(x filter.Expr) bool {
		if c, ok := x.(*filter.Check); ok {
			ref(c.Field)
			for _, v := range c.Values {
				operand(v)
			}
		}
		return true
	})
}

// Match reports whether ev satisfies the condition; ev is passed to the
// schema's Get functions as it is.
func (c *Condition) Match(ev any) bool {
	e := events.Get().(*event)
	e.x = ev
	ok := c.f.Match(e)
	e.x = nil
	events.Put(e)
	return ok
}

// events recycles the wrappers: routing runs on every alert of every
// output, and a wrapper per call would be its only allocation.
var events = sync.Pool{New: func() any { return new(event) }}

// KnownField describes a field of the sensor's event sources (syscall,
// k8s_audit): its kind and whether it is a list, so that a caller can type
// an alert's output field the way the rules engine typed it. ok is false
// for names no source defines.
func KnownField(name string) (f Field, ok bool) {
	for _, reg := range sources.Registries() {
		def, _, found := reg.Lookup(name)
		if !found {
			continue
		}
		f.AnyOf = def.AnyOf
		switch {
		case def.List:
			f.Kind = Strings
		case def.Kind == fields.KindInt || def.Kind == fields.KindAbsTime || def.Kind == fields.KindRelTime:
			f.Kind = Int
		case def.Kind == fields.KindUint || def.Kind == fields.KindPort:
			f.Kind = Uint
		case def.Kind == fields.KindBool:
			f.Kind = Bool
		default:
			f.Kind = String
		}
		return f, true
	}
	return Field{}, false
}
