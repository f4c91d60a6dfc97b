package filter

import (
	"fmt"
	"strconv"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// ValueExpr is a compiled value expression: a field with optional argument
// and transformers, as used in outputs ("%proc.aname[2]") and in the fields
// of rule exceptions.
type ValueExpr struct {
	text   string
	ex     fields.Extract // plain fields: extracted straight into the caller's Value
	src    source
	info   srcInfo
	nslots int
	nbufs  int
}

// CompileValue compiles a value expression such as "proc.name",
// "proc.aname[2]", "evt.arg.flags", "evt.arg[flags]", "tolower(proc.name)"
// or "val(fd.name)" (val is accepted and means the field itself). Errors are
// *Error located in expr, wrapping *UnknownFieldError for unknown fields.
func CompileValue(expr string, reg *fields.Registry) (v *ValueExpr, err error) {
	if reg == nil {
		return nil, fmt.Errorf("filter: CompileValue without a registry")
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("filter: internal error compiling %q: %v", expr, r)
		}
	}()
	p := &parser{src: expr}
	p.blank()
	start := p.pos
	var f *FieldRef
	if name, ok := p.transformerAhead(); ok {
		f, err = p.parseTransformer(name)
	} else {
		word := p.scanName()
		if word == "" || !containsDot(word) {
			return nil, p.errAt(start, fmt.Sprintf("expected a field name, found %q", expr))
		}
		f, err = p.finishField(start, word)
	}
	if err != nil {
		return nil, err
	}
	p.blank()
	if p.pos != len(p.src) {
		return nil, p.errf("unexpected %s after %s", p.near(), f.String())
	}
	if f.Func == "val" && len(f.Args) == 1 && f.Args[0].Field != nil {
		f = f.Args[0].Field
	}
	c := &compiler{env: Env{Registry: reg}, types: typeTableFor(reg)}
	src, ex, info, err := c.source(f, false)
	if err != nil {
		return nil, err
	}
	return &ValueExpr{text: expr, ex: ex, src: src, info: info, nslots: c.slots, nbufs: c.bufs}, nil
}

func containsDot(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

// Eval extracts the value for ev into out; false means no value (<NA>).
// Plain fields do not allocate; transformers allocate their result, which
// stays valid after the call.
func (v *ValueExpr) Eval(ev fields.Event, out *fields.Value) bool {
	if v.ex != nil {
		return v.ex(ev, out)
	}
	s := &Scratch{}
	s.ensure(v.nslots, v.nbufs)
	return v.src.eval(ev, s, out)
}

// Kind is the kind of the values Eval produces.
func (v *ValueExpr) Kind() fields.Kind { return v.info.kind }

// List reports whether Eval produces a list (Value.Strs or Value.Ints).
func (v *ValueExpr) List() bool { return v.info.list }

// String returns the expression as written.
func (v *ValueExpr) String() string { return v.text }

// AppendValue appends Falco's textual rendering of v (as in %field output)
// to dst: strings as they are, numbers in decimal, booleans as true/false,
// addresses and networks in their usual notation, lists as (a,b,c), and
// <NA> for a value of no kind.
func AppendValue(dst []byte, v *fields.Value) []byte {
	if v.IsList {
		dst = append(dst, '(')
		if len(v.Strs) > 0 || len(v.Ints) == 0 {
			for i, s := range v.Strs {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, s...)
			}
		} else {
			for i, n := range v.Ints {
				if i > 0 {
					dst = append(dst, ',')
				}
				if v.Kind == fields.KindUint || v.Kind == fields.KindPort {
					dst = strconv.AppendUint(dst, uint64(n), 10)
				} else {
					dst = strconv.AppendInt(dst, n, 10)
				}
			}
		}
		return append(dst, ')')
	}
	switch v.Kind {
	case fields.KindString:
		return append(dst, v.Str...)
	case fields.KindInt, fields.KindAbsTime, fields.KindRelTime:
		return strconv.AppendInt(dst, v.Int, 10)
	case fields.KindUint, fields.KindPort:
		return strconv.AppendUint(dst, v.Uint, 10)
	case fields.KindBool:
		return strconv.AppendBool(dst, v.Bool)
	case fields.KindIP:
		if !v.IP.IsValid() {
			return append(dst, "<NA>"...)
		}
		return v.IP.AppendTo(dst)
	case fields.KindIPNet:
		if v.Net.IsValid() {
			return v.Net.AppendTo(dst)
		}
		if v.IP.IsValid() {
			return v.IP.AppendTo(dst)
		}
		return append(dst, "<NA>"...)
	case fields.KindBytes:
		// Printable ASCII as is, anything else as '.', as Falco prints
		// buffers in outputs.
		for _, b := range v.Bytes {
			if b >= 0x20 && b < 0x7f {
				dst = append(dst, b)
			} else {
				dst = append(dst, '.')
			}
		}
		return dst
	}
	return append(dst, "<NA>"...)
}
