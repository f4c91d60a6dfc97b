// Package alertfmt turns a rule match into an alert: it compiles a rule's
// output string (Falco's %field syntax) once at load time, renders it for an
// event with <NA> for missing values, collects the typed output fields, and
// builds the *harrierv1.Alert that the rest of the pipeline carries.
package alertfmt

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// NA is what Falco prints for a field without a value.
const NA = "<NA>"

// Format is a compiled output string.
type Format struct {
	text   string
	parts  []part
	fields []*valueRef // distinct value expressions, in order of first use
}

type part struct {
	lit   string
	ref   *valueRef // nil for a literal
	width int       // %20proc.name: pad or cut the value to 20 bytes (libsinsp's length modifier)
}

type valueRef struct {
	name string // as written: "proc.aname[2]", "tolower(proc.name)"
	v    *filter.ValueExpr
	idx  int // index in Format.fields
}

// Error locates a problem in an output string.
type Error struct {
	Offset int // byte offset of the bad token in the output string
	Msg    string
	Err    error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// transformers may prefix a field in an output: %tolower(proc.name).
var transformers = map[string]bool{
	"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true,
	"join": true, "concat": true, "getopt": true, "val": true,
}

// Compile parses output against reg. A token is '%' followed by a field
// name, optionally with a bracketed argument (%proc.aname[2],
// %jevt.value[/user/username]) or a transformer call (%tolower(proc.name)).
// As in libsinsp, a field name is the longest prefix of the text after '%'
// that names a field, so "%ka.target.name/%ka.target.resource" and
// "%fd.name." read as expected. A '%' that starts no field name is literal
// text. A leading '*' (Falco's "print all fields" marker) is dropped, and a
// width after the '%' (%20proc.name) pads or cuts the value, as in libsinsp.
func Compile(output string, reg *fields.Registry) (*Format, error) {
	f := &Format{text: output}
	s := strings.TrimPrefix(output, "*")
	base := len(output) - len(s)
	seen := map[string]*valueRef{}
	var lit strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			i++
			continue
		}
		// A length modifier: %20proc.name.
		w := 0
		for i+1+w < len(s) && s[i+1+w] >= '0' && s[i+1+w] <= '9' && w < 4 {
			w++
		}
		width, _ := strconv.Atoi(s[i+1 : i+1+w])
		expr, n, err := scanToken(s[i+1+w:], reg)
		if err != nil {
			return nil, &Error{Offset: base + i, Msg: fmt.Sprintf("output: %%%s: %v", expr, err), Err: err}
		}
		if n == 0 {
			lit.WriteByte('%')
			i++
			continue
		}
		n += w
		ref := seen[expr]
		if ref == nil {
			v, err := filter.CompileValue(expr, reg)
			if err != nil {
				return nil, &Error{Offset: base + i, Msg: fmt.Sprintf("output: %%%s: %v", expr, err), Err: err}
			}
			ref = &valueRef{name: expr, v: v, idx: len(f.fields)}
			seen[expr] = ref
			f.fields = append(f.fields, ref)
		}
		if lit.Len() > 0 {
			f.parts = append(f.parts, part{lit: lit.String()})
			lit.Reset()
		}
		f.parts = append(f.parts, part{ref: ref, width: width})
		i += 1 + n
	}
	if lit.Len() > 0 {
		f.parts = append(f.parts, part{lit: lit.String()})
	}
	return f, nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// scanToken reads the value expression at the start of s (the text after a
// '%'). It returns the expression, its length in s, and 0 when s starts no
// field name (a literal '%').
func scanToken(s string, reg *fields.Registry) (string, int, error) {
	n := 0
	for n < len(s) && isNameByte(s[n]) {
		n++
	}
	if n == 0 {
		return "", 0, nil
	}
	name := s[:n]
	if n < len(s) && s[n] == '(' && transformers[name] {
		end, err := matchClose(s, n, '(', ')')
		if err != nil {
			return s[:min(len(s), n+1)], 0, err
		}
		n = end + 1
		// getopt(...)[x] selects an option.
		if n < len(s) && s[n] == '[' {
			end, err := matchClose(s, n, '[', ']')
			if err != nil {
				return s[:n], 0, err
			}
			n = end + 1
		}
		return s[:n], n, nil
	}
	// Longest prefix (cut at dots or dashes) that names a field.
	for cut := n; cut > 0; {
		cand := name[:cut]
		if _, _, ok := reg.Lookup(cand); ok {
			if cut == n && n < len(s) && s[n] == '[' {
				end, err := matchClose(s, n, '[', ']')
				if err != nil {
					return s[:n], 0, err
				}
				return s[:end+1], end + 1, nil
			}
			return cand, cut, nil
		}
		i := strings.LastIndexAny(cand, ".-")
		if i <= 0 {
			break
		}
		cut = i
	}
	return name, 0, &filter.UnknownFieldError{Field: name}
}

func matchClose(s string, open int, o, c byte) (int, error) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case o:
			depth++
		case c:
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("missing %q", c)
}

// Text returns the output string as written in the rule.
func (f *Format) Text() string { return f.text }

// Fields returns the names of the output's value expressions (the keys of
// the output fields), in order of first use.
func (f *Format) Fields() []string {
	out := make([]string, len(f.fields))
	for i, r := range f.fields {
		out[i] = r.name
	}
	return out
}

// Render appends the output for ev to dst and returns the typed value of
// every field (null when missing). Each field is extracted once.
func (f *Format) Render(dst []byte, ev fields.Event) ([]byte, map[string]*harrierv1.FieldValue) {
	vals := make([]fields.Value, len(f.fields))
	ok := make([]bool, len(f.fields))
	out := make(map[string]*harrierv1.FieldValue, len(f.fields))
	for i, r := range f.fields {
		ok[i] = r.v.Eval(ev, &vals[i])
		out[r.name] = typed(&vals[i], ok[i])
	}
	for _, p := range f.parts {
		if p.ref == nil {
			dst = append(dst, p.lit...)
			continue
		}
		i, start := p.ref.idx, len(dst)
		if ok[i] {
			dst = filter.AppendValue(dst, &vals[i])
		} else {
			dst = append(dst, NA...)
		}
		if p.width > 0 {
			if n := len(dst) - start; n > p.width {
				dst = dst[:start+p.width]
			} else {
				for ; n < p.width; n++ {
					dst = append(dst, ' ')
				}
			}
		}
	}
	return dst, out
}

// typed converts an extracted value to its alert form, as Falco's JSON
// output types output fields: numbers stay numbers, lists become arrays.
func typed(v *fields.Value, ok bool) *harrierv1.FieldValue {
	if !ok {
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}
	}
	if v.IsList {
		items := make([]string, 0, max(len(v.Strs), len(v.Ints)))
		if len(v.Ints) > 0 && len(v.Strs) == 0 {
			for _, n := range v.Ints {
				items = append(items, strconv.FormatInt(n, 10))
			}
		} else {
			items = append(items, v.Strs...)
		}
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: items}}}
	}
	switch v.Kind {
	case fields.KindInt, fields.KindRelTime:
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: v.Int}}
	case fields.KindAbsTime:
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_UintValue{UintValue: uint64(v.Int)}}
	case fields.KindUint, fields.KindPort:
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_UintValue{UintValue: v.Uint}}
	case fields.KindBool:
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_BoolValue{BoolValue: v.Bool}}
	}
	return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: string(filter.AppendValue(nil, v))}}
}

// Timed is implemented by events that know when they happened (every
// source's events do: syscall and audit events); an alert carries that
// time. Events that do not, or whose time is zero, are stamped with the
// time the alert is built.
type Timed interface{ EventTime() time.Time }

// Rule is what an alert needs to know about the rule that fired.
type Rule struct {
	Name     string
	Priority harrierv1.Priority
	Source   string
	Tags     []string
	Output   *Format
}

// Builder builds alerts; its fields are the same for every alert of a
// sensor. The zero value works (no hostname, local time).
type Builder struct {
	Hostname       string
	SensorID       string
	RulesetVersion string
	// Location for the time prefix of the output text (Falco prints local
	// time); nil means time.Local.
	Location *time.Location
	// ISO8601 starts the output text with the event's UTC time in ISO 8601
	// (Falco's time_format_iso_8601) instead of the local time of day.
	ISO8601 bool
}

// TimePrefixLayout is the time at the start of Falco's output text;
// ISOTimePrefixLayout the same under time_format_iso_8601 (UTC).
const (
	TimePrefixLayout    = "15:04:05.000000000"
	ISOTimePrefixLayout = "2006-01-02T15:04:05.000000000Z"
)

// Alert builds the alert for rule r matching ev. The output text is
// Falco's: "HH:MM:SS.nnnnnnnnn: Priority " followed by the rendered output.
func (b *Builder) Alert(r *Rule, ev fields.Event) *harrierv1.Alert {
	var t time.Time
	if te, ok := ev.(Timed); ok {
		t = te.EventTime()
	}
	if t.IsZero() {
		t = time.Now()
	}
	loc := b.Location
	if loc == nil {
		loc = time.Local
	}
	buf := make([]byte, 0, 256)
	if b.ISO8601 {
		buf = t.UTC().AppendFormat(buf, ISOTimePrefixLayout)
	} else {
		buf = t.In(loc).AppendFormat(buf, TimePrefixLayout)
	}
	buf = append(buf, ": "...)
	buf = append(buf, r.Priority.FalcoName()...)
	buf = append(buf, ' ')
	var of map[string]*harrierv1.FieldValue
	if r.Output != nil {
		buf, of = r.Output.Render(buf, ev)
	}
	id, err := uuid.NewV7()
	if err != nil { // only when the system's random source fails
		id = uuid.New()
	}
	return &harrierv1.Alert{
		Id:             id.String(),
		Time:           timestamppb.New(t),
		Rule:           r.Name,
		Priority:       r.Priority,
		Source:         r.Source,
		Output:         string(buf),
		OutputFields:   of,
		Tags:           append([]string(nil), r.Tags...),
		Hostname:       b.Hostname,
		SensorId:       b.SensorID,
		RulesetVersion: b.RulesetVersion,
	}
}
