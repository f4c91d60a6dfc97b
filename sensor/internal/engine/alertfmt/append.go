package alertfmt

import (
	"fmt"
	"slices"
	"strings"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// AppendSpec is one entry of Falco's append_output: for the alerts it
// matches (rule name, source, all of tags; empty matches all), text added
// to the output, fields added to the output fields only, and the fields
// the source suggests (Suggested) added to both.
type AppendSpec struct {
	Rule, Source string
	Tags         []string
	ExtraOutput  string
	ExtraFields  []ExtraField
	Suggested    bool
}

// ExtraField is a name in the output fields and the format of its value.
type ExtraField struct{ Name, Format string }

// Appends are compiled append_output entries, per source.
type Appends struct {
	bySource map[string][]*appendEntry
}

type appendEntry struct {
	rule   string
	tags   []string
	text   *Format // nil when the entry adds no text
	fields []extraField
}

type extraField struct {
	name string
	f    *Format
}

// CompileAppends compiles specs against each source's registry; suggested
// names, per source, the fields suggested_output appends (rendered as
// container_id=%container.id). An entry whose formats do not compile for
// the source it names is an error naming it.
func CompileAppends(specs []AppendSpec, regs map[string]*fields.Registry, suggested map[string][]string) (*Appends, error) {
	a := &Appends{bySource: map[string][]*appendEntry{}}
	for i, sp := range specs {
		// An entry for a source this sensor does not have (a Falco plugin's)
		// matches no alert.
		for src, reg := range regs {
			if sp.Source != "" && sp.Source != src {
				continue
			}
			e := &appendEntry{rule: sp.Rule, tags: sp.Tags}
			var text []string
			if sp.Suggested {
				for _, f := range suggested[src] {
					text = append(text, strings.NewReplacer(".", "_", "[", "_", "]", "").Replace(f)+"=%"+f)
					ff, err := Compile("%"+f, reg)
					if err != nil {
						return nil, fmt.Errorf("append_output[%d]: suggested field %s: %w", i, f, err)
					}
					e.fields = append(e.fields, extraField{name: f, f: ff})
				}
			}
			if sp.ExtraOutput != "" {
				text = append(text, sp.ExtraOutput)
			}
			if len(text) > 0 {
				f, err := Compile(strings.Join(text, " "), reg)
				if err != nil {
					if sp.Source == "" && sp.ExtraOutput != "" {
						// An entry for every source whose extra output names
						// fields of one source applies to that source only.
						continue
					}
					return nil, fmt.Errorf("append_output[%d].extra_output: %w", i, err)
				}
				e.text = f
			}
			for _, xf := range sp.ExtraFields {
				f, err := Compile(xf.Format, reg)
				if err != nil {
					if sp.Source == "" {
						continue
					}
					return nil, fmt.Errorf("append_output[%d].extra_fields.%s: %w", i, xf.Name, err)
				}
				e.fields = append(e.fields, extraField{name: xf.Name, f: f})
			}
			a.bySource[src] = append(a.bySource[src], e)
		}
	}
	return a, nil
}

func (e *appendEntry) matches(r *Rule) bool {
	if e.rule != "" && e.rule != r.Name {
		return false
	}
	for _, t := range e.tags {
		if !slices.Contains(r.Tags, t) {
			return false
		}
	}
	return true
}

// apply appends the matching entries' text to buf and their fields to of.
func (a *Appends) apply(buf []byte, of map[string]*harrierv1.FieldValue, r *Rule, ev fields.Event) ([]byte, map[string]*harrierv1.FieldValue) {
	if a == nil {
		return buf, of
	}
	for _, e := range a.bySource[r.Source] {
		if !e.matches(r) {
			continue
		}
		if of == nil {
			of = map[string]*harrierv1.FieldValue{}
		}
		if e.text != nil {
			buf = append(buf, ' ')
			var tf map[string]*harrierv1.FieldValue
			buf, tf = e.text.Render(buf, ev)
			for k, v := range tf {
				of[k] = v
			}
		}
		for _, xf := range e.fields {
			of[xf.name] = xf.f.value(ev)
		}
	}
	return buf, of
}

// value renders the format as one output-field value: typed when the
// format is a single field, else the rendered text.
func (f *Format) value(ev fields.Event) *harrierv1.FieldValue {
	if len(f.parts) == 1 && f.parts[0].ref != nil && f.parts[0].width == 0 {
		var v fields.Value
		ok := f.parts[0].ref.v.Eval(ev, &v)
		return typed(&v, ok)
	}
	text, _ := f.Render(nil, ev)
	return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: string(text)}}
}
