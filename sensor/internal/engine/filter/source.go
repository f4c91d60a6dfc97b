package filter

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// source produces the value of the left- or right-hand side of a check: a
// field, a transformer over sources, or a literal (transformer argument).
type source interface {
	eval(ev fields.Event, s *Scratch, out *fields.Value) bool
}

// srcInfo is what the compiler knows about a source's values.
type srcInfo struct {
	kind     fields.Kind
	list     bool
	ancestor bool   // list with Falco's any-ancestor semantics
	name     string // field name, for messages
	field    bool   // a plain field (not transformed)
	key      string // plain fields: identifies registry, field and argument
	watch    func([]string)
}

type fieldSource struct{ ex fields.Extract }

func (f *fieldSource) eval(ev fields.Event, _ *Scratch, out *fields.Value) bool { return f.ex(ev, out) }

type litSource struct{ s string }

func (l *litSource) eval(_ fields.Event, _ *Scratch, out *fields.Value) bool {
	out.Kind, out.IsList, out.Str = fields.KindString, false, l.s
	return true
}

// bytesString views b as a string without copying; the caller must not
// keep the result beyond the buffer's next reuse.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func stringBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// caseSource implements tolower and toupper (ASCII, as libsinsp does).
type caseSource struct {
	arg   source
	slot  int
	buf   int
	upper bool
	list  bool
}

func needsCase(s string, upper bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if upper && c >= 'a' && c <= 'z' || !upper && c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

func appendCase(b []byte, s string, upper bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

func (t *caseSource) eval(ev fields.Event, s *Scratch, out *fields.Value) bool {
	in := &s.vals[t.slot]
	if !t.arg.eval(ev, s, in) {
		return false
	}
	out.Kind = fields.KindString
	if !t.list {
		out.IsList = false
		if !needsCase(in.Str, t.upper) {
			out.Str = in.Str
			return true
		}
		b := appendCase(s.bufs[t.buf][:0], in.Str, t.upper)
		s.bufs[t.buf] = b
		out.Str = bytesString(b)
		return true
	}
	out.IsList = true
	n := 0
	for _, x := range in.Strs {
		n += len(x)
	}
	b := s.bufs[t.buf][:0]
	if cap(b) < n {
		b = make([]byte, 0, n)
	}
	out.Strs = out.Strs[:0]
	for _, x := range in.Strs {
		start := len(b)
		b = appendCase(b, x, t.upper)
		out.Strs = append(out.Strs, bytesString(b[start:]))
	}
	s.bufs[t.buf] = b
	return true
}

// basenameSource returns the last path element (after the last '/').
type basenameSource struct {
	arg  source
	slot int
	list bool
}

func basename(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

func (t *basenameSource) eval(ev fields.Event, s *Scratch, out *fields.Value) bool {
	in := &s.vals[t.slot]
	if !t.arg.eval(ev, s, in) {
		return false
	}
	out.Kind = fields.KindString
	if !t.list {
		out.IsList, out.Str = false, basename(in.Str)
		return true
	}
	out.IsList = true
	out.Strs = out.Strs[:0]
	for _, x := range in.Strs {
		out.Strs = append(out.Strs, basename(x))
	}
	return true
}

// b64Source base64-decodes its argument; undecodable input has no value.
type b64Source struct {
	arg  source
	slot int
	buf  int
}

func (t *b64Source) eval(ev fields.Event, s *Scratch, out *fields.Value) bool {
	in := &s.vals[t.slot]
	if !t.arg.eval(ev, s, in) {
		return false
	}
	src := in.Str
	if in.Kind == fields.KindBytes {
		src = bytesString(in.Bytes)
	}
	enc := base64.StdEncoding
	if len(src)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b := s.bufs[t.buf][:0]
	if n := enc.DecodedLen(len(src)); cap(b) < n {
		b = make([]byte, n)
	}
	n, err := enc.Decode(b[:cap(b)], stringBytes(src))
	if err != nil {
		return false
	}
	s.bufs[t.buf] = b[:n]
	out.Kind, out.IsList, out.Str = fields.KindString, false, bytesString(b[:n])
	return true
}

// lenSource is the length of a string or buffer, or the number of
// elements of a list.
type lenSource struct {
	arg  source
	slot int
	list bool
}

func (t *lenSource) eval(ev fields.Event, s *Scratch, out *fields.Value) bool {
	in := &s.vals[t.slot]
	if !t.arg.eval(ev, s, in) {
		return false
	}
	var n int
	switch {
	case t.list:
		n = len(in.Strs)
		if len(in.Ints) > n {
			n = len(in.Ints)
		}
	case in.Kind == fields.KindBytes:
		n = len(in.Bytes)
	default:
		n = len(in.Str)
	}
	out.Kind, out.IsList, out.Uint = fields.KindUint, false, uint64(n)
	return true
}

// joinSource joins a list with a separator.
type joinSource struct {
	sep, list         source
	sepSlot, listSlot int
	buf               int
}

func (t *joinSource) eval(ev fields.Event, s *Scratch, out *fields.Value) bool {
	sep := &s.vals[t.sepSlot]
	if !t.sep.eval(ev, s, sep) {
		return false
	}
	l := &s.vals[t.listSlot]
	if !t.list.eval(ev, s, l) {
		return false
	}
	b := s.bufs[t.buf][:0]
	for i, x := range l.Strs {
		if i > 0 {
			b = append(b, sep.Str...)
		}
		b = append(b, x...)
	}
	s.bufs[t.buf] = b
	out.Kind, out.IsList, out.Str = fields.KindString, false, bytesString(b)
	return true
}

// tupleSource gathers the values of several fields (and literals) into one
// list of strings, for join(sep, (a, b, ...)). Missing values are left out;
// list-valued fields add all their items.
type tupleSource struct {
	items []source
	slots []int
}

func (c *compiler) tupleSource(f *FieldRef, a *Operand) (source, error) {
	t := &tupleSource{}
	for _, it := range a.Tuple {
		slot := c.newSlot()
		switch {
		case it.Tuple != nil:
			return nil, c.errAt(it.src, it.Offset, "lists of arguments do not nest", nil)
		case it.Field == nil:
			t.items = append(t.items, &litSource{s: it.Text})
		default:
			src, _, info, err := c.source(it.Field, false)
			if err != nil {
				return nil, err
			}
			if info.kind != fields.KindString {
				return nil, c.errAt(it.src, it.Offset, fmt.Sprintf("%s() needs strings, %s is %s", f.Func, info.name, info.kind), nil)
			}
			t.items = append(t.items, src)
		}
		t.slots = append(t.slots, slot)
	}
	return t, nil
}

func (t *tupleSource) eval(ev fields.Event, s *Scratch, out *fields.Value) bool {
	// out is this source's own scratch slot: its list is reused.
	strs := out.Strs[:0]
	for i, it := range t.items {
		v := &s.vals[t.slots[i]]
		if !it.eval(ev, s, v) {
			continue
		}
		if v.IsList {
			strs = append(strs, v.Strs...)
		} else {
			strs = append(strs, v.Str)
		}
	}
	out.Kind, out.IsList, out.Strs = fields.KindString, true, strs
	return true
}

// concatSource concatenates strings; any missing argument makes the
// result missing.
type concatSource struct {
	args  []source
	slots []int
	buf   int
}

func (t *concatSource) eval(ev fields.Event, s *Scratch, out *fields.Value) bool {
	// Arguments are extracted first: a transformer argument may itself use
	// buffers, so nothing is appended until all are known.
	for i, a := range t.args {
		if !a.eval(ev, s, &s.vals[t.slots[i]]) {
			return false
		}
	}
	b := s.bufs[t.buf][:0]
	for _, slot := range t.slots {
		b = append(b, s.vals[slot].Str...)
	}
	s.bufs[t.buf] = b
	out.Kind, out.IsList, out.Str = fields.KindString, false, bytesString(b)
	return true
}

// getoptSource parses a command line (a list, argv-style) with a getopt(3)
// option string. Without a selector it yields the options and their values
// in order ("?" for unknown options); with a selector (getopt(...)[t]) it
// yields the value of the last -t (or "t" for an option without value, ""
// when the value is missing) and no value when -t is absent.
type getoptSource struct {
	args, opts         source
	argsSlot, optsSlot int
	constOpts          *optstring
	sel                byte
	hasSel             bool
	buf                int
}

type optstring struct{ valid, withArg [256]bool }

func parseOptstring(s string) optstring {
	var o optstring
	if len(s) > 0 && s[0] == ':' {
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			continue
		}
		o.valid[c] = true
		if i+1 < len(s) && s[i+1] == ':' {
			o.withArg[c] = true
			i++
		}
	}
	return o
}

func (t *getoptSource) eval(ev fields.Event, s *Scratch, out *fields.Value) bool {
	var opts *optstring
	if t.constOpts != nil {
		opts = t.constOpts
	} else {
		ov := &s.vals[t.optsSlot]
		if !t.opts.eval(ev, s, ov) {
			return false
		}
		o := parseOptstring(ov.Str) // 512 bytes on the stack; rare path
		opts = &o
	}
	av := &s.vals[t.argsSlot]
	if !t.args.eval(ev, s, av) {
		return false
	}
	// Results are views into b. When b grows, earlier views keep pointing
	// at the old array, whose bytes are never written again.
	b := s.bufs[t.buf][:0]
	out.Strs = out.Strs[:0]
	found, sel := false, ""
	emit := func(str string) {
		start := len(b)
		b = append(b, str...)
		if t.hasSel {
			found, sel = true, bytesString(b[start:])
		} else {
			out.Strs = append(out.Strs, bytesString(b[start:]))
		}
	}
	argv := av.Strs
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			break
		}
		if len(arg) > 2 && arg[0] == '-' && arg[1] == '-' {
			continue // long options are not getopt's business
		}
		if len(arg) < 2 || arg[0] != '-' {
			break // first operand ends option parsing
		}
		for j := 1; j < len(arg); j++ {
			c := arg[j]
			if c == ':' || !opts.valid[c] {
				if !t.hasSel {
					emit("?")
				}
				continue
			}
			match := !t.hasSel || c == t.sel
			if !opts.withArg[c] {
				if match {
					emit(arg[j : j+1])
				}
				continue
			}
			var val string
			has := true
			switch {
			case j+1 < len(arg):
				val = arg[j+1:]
			case i+1 < len(argv):
				i++
				val = argv[i]
			default:
				has = false
			}
			if match {
				switch {
				case !has:
					emit("")
				case t.hasSel:
					emit(val)
				default:
					emit(arg[j : j+1])
					emit(val)
				}
			}
			break
		}
	}
	s.bufs[t.buf] = b
	out.Kind = fields.KindString
	if t.hasSel {
		if !found {
			return false
		}
		out.IsList, out.Str = false, sel
		return true
	}
	out.IsList = true
	return true
}

// bindField resolves a plain field reference against the registry.
func (c *compiler) bindField(f *FieldRef) (fields.Extract, srcInfo, error) {
	reg := c.env.Registry
	def, dotArg, ok := reg.Lookup(f.Name)
	if !ok {
		return nil, srcInfo{}, c.errAt(f.src, f.Offset, fmt.Sprintf("unknown field %s", f.Name), &UnknownFieldError{Field: f.Name})
	}
	arg, hasArg := f.Arg, f.HasArg
	if dotArg != "" {
		if hasArg {
			return nil, srcInfo{}, c.errAt(f.src, f.Offset, fmt.Sprintf("field %s has two arguments (%q and [%s])", def.Name, dotArg, arg), nil)
		}
		arg, hasArg = dotArg, true
	}
	switch {
	case def.Arg == fields.ArgNone && hasArg:
		return nil, srcInfo{}, c.errAt(f.src, f.Offset, fmt.Sprintf("field %s takes no argument", def.Name), nil)
	case def.Arg == fields.ArgRequired && !hasArg:
		return nil, srcInfo{}, c.errAt(f.src, f.Offset, fmt.Sprintf("field %s requires an argument", def.Name), nil)
	}
	if hasArg && def.ArgKind == fields.ArgIndex {
		if n, err := strconv.ParseUint(arg, 10, 31); err != nil || n > 1<<20 {
			return nil, srcInfo{}, c.errAt(f.src, f.Offset, fmt.Sprintf("field %s needs a non-negative index, not %q", def.Name, arg), nil)
		}
	}
	ex, err := def.Bind(arg)
	if err != nil {
		return nil, srcInfo{}, c.errAt(f.src, f.Offset, fmt.Sprintf("field %s: %v", f.String(), err), err)
	}
	if ex == nil {
		return nil, srcInfo{}, c.errAt(f.src, f.Offset, fmt.Sprintf("field %s: no extractor", f.String()), nil)
	}
	list := def.List && !(def.Arg == fields.ArgOptional && hasArg)
	info := srcInfo{kind: def.Kind, list: list, name: f.String(), field: true,
		key: fmt.Sprintf("%p\x00%s\x00%s", reg, def.Name, arg)}
	info.ancestor = list && (ancestorFields[def.Name] || def.AnyOf)
	info.watch = def.Watch
	return ex, info, nil
}

// source compiles a field or transformer into a source. Transformer inputs
// get their own scratch slots.
func (c *compiler) source(f *FieldRef, rhs bool) (source, fields.Extract, srcInfo, error) {
	if f == nil {
		return nil, nil, srcInfo{}, fmt.Errorf("filter: missing field")
	}
	if f.Func == "" {
		ex, info, err := c.bindField(f)
		if err != nil {
			return nil, nil, info, err
		}
		return &fieldSource{ex: ex}, ex, info, nil
	}
	fail := func(format string, args ...any) (source, fields.Extract, srcInfo, error) {
		return nil, nil, srcInfo{}, c.errAt(f.src, f.Offset, fmt.Sprintf(format, args...), nil)
	}
	if f.HasArg && f.Func != "getopt" {
		return fail("%s() takes no [argument]", f.Func)
	}
	// arg compiles transformer argument i, which must be a field or a
	// transformer unless literals are allowed.
	arg := func(i int, literal bool) (source, srcInfo, int, error) {
		a := f.Args[i]
		slot := c.newSlot()
		if a.Tuple != nil {
			if f.Func != "join" || i != 1 {
				return nil, srcInfo{}, 0, c.errAt(a.src, a.Offset, fmt.Sprintf("a list of arguments is only allowed as the second argument of join(), not of %s()", f.Func), nil)
			}
			t, err := c.tupleSource(f, a)
			return t, srcInfo{kind: fields.KindString, list: true, name: a.String()}, slot, err
		}
		if a.Field == nil {
			if !literal {
				return nil, srcInfo{}, 0, c.errAt(a.src, a.Offset, fmt.Sprintf("%s() needs a field, not the value %q", f.Func, a.Text), nil)
			}
			return &litSource{s: a.Text}, srcInfo{kind: fields.KindString}, slot, nil
		}
		if a.Field.Func == "val" {
			return nil, srcInfo{}, 0, c.errAt(a.src, a.Offset, "val() is only allowed on the right-hand side of a comparison", nil)
		}
		src, _, info, err := c.source(a.Field, false)
		return src, info, slot, err
	}
	nargs := func(min, max int) error {
		if n := len(f.Args); n < min || (max > 0 && n > max) {
			want := fmt.Sprintf("%d", min)
			if max != min {
				want = fmt.Sprintf("at least %d", min)
				if max > 0 {
					want = fmt.Sprintf("%d to %d", min, max)
				}
			}
			return c.errAt(f.src, f.Offset, fmt.Sprintf("%s() takes %s argument(s), got %d", f.Func, want, n), nil)
		}
		return nil
	}
	str := func(info srcInfo, what string) error {
		if info.kind != fields.KindString && info.kind != fields.KindBytes {
			return c.errAt(f.src, f.Offset, fmt.Sprintf("%s() needs a string %s, %s is %s", f.Func, what, info.name, info.kind), nil)
		}
		return nil
	}
	switch f.Func {
	case "val":
		if !rhs {
			return fail("val() is only allowed on the right-hand side of a comparison")
		}
		if err := nargs(1, 1); err != nil {
			return nil, nil, srcInfo{}, err
		}
		a := f.Args[0]
		if a.Field == nil || a.Field.Func != "" {
			return fail("val() takes a field")
		}
		return c.source(a.Field, false)
	case "tolower", "toupper", "basename", "b64", "len":
		if err := nargs(1, 1); err != nil {
			return nil, nil, srcInfo{}, err
		}
		src, info, slot, err := arg(0, false)
		if err != nil {
			return nil, nil, info, err
		}
		out := srcInfo{kind: fields.KindString, list: info.list, name: f.String()}
		switch f.Func {
		case "tolower", "toupper":
			if info.kind != fields.KindString {
				return fail("%s() needs a string field, %s is %s", f.Func, info.name, info.kind)
			}
			return &caseSource{arg: src, slot: slot, buf: c.newBuf(), upper: f.Func == "toupper", list: info.list}, nil, out, nil
		case "basename":
			if info.kind != fields.KindString {
				return fail("basename() needs a string field, %s is %s", info.name, info.kind)
			}
			return &basenameSource{arg: src, slot: slot, list: info.list}, nil, out, nil
		case "b64":
			if err := str(info, "field"); err != nil {
				return nil, nil, out, err
			}
			if info.list {
				return fail("b64() needs a single value, %s is a list", info.name)
			}
			return &b64Source{arg: src, slot: slot, buf: c.newBuf()}, nil, out, nil
		default: // len
			if !info.list {
				if err := str(info, "field or a list"); err != nil {
					return nil, nil, out, err
				}
			}
			return &lenSource{arg: src, slot: slot, list: info.list}, nil, srcInfo{kind: fields.KindUint, name: f.String()}, nil
		}
	case "join":
		if err := nargs(2, 2); err != nil {
			return nil, nil, srcInfo{}, err
		}
		sep, sinfo, sslot, err := arg(0, true)
		if err != nil {
			return nil, nil, sinfo, err
		}
		if sinfo.list || sinfo.kind != fields.KindString {
			return fail("join() needs a single string separator")
		}
		l, linfo, lslot, err := arg(1, false)
		if err != nil {
			return nil, nil, linfo, err
		}
		if !linfo.list || linfo.kind != fields.KindString {
			return fail("join() needs a list of strings as its second argument, %s is not one", linfo.name)
		}
		return &joinSource{sep: sep, list: l, sepSlot: sslot, listSlot: lslot, buf: c.newBuf()}, nil, srcInfo{kind: fields.KindString, name: f.String()}, nil
	case "concat":
		if err := nargs(2, 0); err != nil {
			return nil, nil, srcInfo{}, err
		}
		t := &concatSource{}
		for i := range f.Args {
			src, info, slot, err := arg(i, true)
			if err != nil {
				return nil, nil, info, err
			}
			if info.list || info.kind != fields.KindString {
				return fail("concat() arguments must be single strings, %s is not", info.name)
			}
			t.args = append(t.args, src)
			t.slots = append(t.slots, slot)
		}
		t.buf = c.newBuf()
		return t, nil, srcInfo{kind: fields.KindString, name: f.String()}, nil
	case "getopt":
		if err := nargs(2, 2); err != nil {
			return nil, nil, srcInfo{}, err
		}
		args, ainfo, aslot, err := arg(0, false)
		if err != nil {
			return nil, nil, ainfo, err
		}
		if !ainfo.list || ainfo.kind != fields.KindString {
			return fail("getopt() needs a list of strings (such as proc.args) as its first argument, %s is not one", ainfo.name)
		}
		opts, oinfo, oslot, err := arg(1, true)
		if err != nil {
			return nil, nil, oinfo, err
		}
		if oinfo.list || oinfo.kind != fields.KindString {
			return fail("getopt() needs a single string optstring")
		}
		t := &getoptSource{args: args, opts: opts, argsSlot: aslot, optsSlot: oslot, buf: c.newBuf()}
		if lit, ok := opts.(*litSource); ok {
			o := parseOptstring(lit.s)
			t.constOpts = &o
		}
		out := srcInfo{kind: fields.KindString, list: true, name: f.String()}
		if f.HasArg {
			if len(f.Arg) != 1 {
				return fail("getopt()[...] selects one option character, not %q", f.Arg)
			}
			t.sel, t.hasSel, out.list = f.Arg[0], true, false
		}
		return t, nil, out, nil
	}
	return fail("unknown transformer %s()", f.Func)
}
