// Package msgtemplate is the per-output message template: Go text/template
// over an alert, for outputs that write a human message (chat, pager,
// syslog, and the webhook when a template is set). It is parsed once, when
// the configuration loads, so a bad template is a configuration error.
package msgtemplate

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Template is a parsed message template; the nil *Template renders the
// alert's output line. It is safe for concurrent use.
type Template struct {
	text string
	t    *template.Template
}

// Data is what a template sees as "." : {{.Rule}}, {{.Priority}},
// {{.Output}}, {{.Tags}}, {{.Time}}... and, through the field function,
// any output field ({{field "k8s.ns.name"}}).
type Data struct {
	ID, Rule, Priority, Source, Output, Hostname, SensorID, ClusterName string
	Tags                                                                []string
	Time                                                                time.Time
	// Count is how many alerts this one stands for (1, or more for a
	// sensor aggregate or a router throttle summary).
	Count  int
	Fields map[string]string
}

var funcs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  func(sep string, s []string) string { return strings.Join(s, sep) },
	"quote": strconv.Quote,
	"truncate": func(n int, s string) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"default": func(def, s string) string {
		if s == "" {
			return def
		}
		return s
	},
	// field is replaced per execution; declared here so Parse knows it.
	"field": func(string) string { return "" },
}

// Parse parses text; errors name the template's line.
func Parse(text string) (*Template, error) {
	t, err := template.New("template").Funcs(funcs).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, err
	}
	// Execute once on a sample so that references to unknown members
	// ({{.Rulee}}) fail at load, not on the first alert.
	tt := &Template{text: text, t: t}
	if _, err := tt.Render(sample); err != nil {
		return nil, err
	}
	return tt, nil
}

var sample = &harrierv1.Alert{Id: "sample", Rule: "Sample rule", Priority: harrierv1.Priority_PRIORITY_WARNING,
	Source: "syscall", Output: "sample output", Hostname: "host", Tags: []string{"sample"}}

// String is the template text ("" for nil).
func (t *Template) String() string {
	if t == nil {
		return ""
	}
	return t.text
}

// Render executes the template for a.
func (t *Template) Render(a *harrierv1.Alert) (string, error) {
	if t == nil {
		return a.GetOutput(), nil
	}
	d := NewData(a)
	clone, err := t.t.Clone()
	if err != nil {
		return "", err
	}
	clone.Funcs(template.FuncMap{"field": func(name string) string { return d.Fields[name] }})
	var b bytes.Buffer
	if err := clone.Execute(&b, d); err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	return b.String(), nil
}

// NewData is the template data of a.
func NewData(a *harrierv1.Alert) Data {
	d := Data{ID: a.GetId(), Rule: a.GetRule(), Priority: a.GetPriority().FalcoName(), Source: a.GetSource(),
		Output: a.GetOutput(), Hostname: a.GetHostname(), SensorID: a.GetSensorId(), ClusterName: a.GetClusterName(),
		Tags: a.GetTags(), Time: a.GetTime().AsTime(), Count: max(int(a.GetCount()), 1),
		Fields: make(map[string]string, len(a.GetOutputFields()))}
	for k, v := range a.GetOutputFields() {
		d.Fields[k] = FieldText(v)
	}
	return d
}

// FieldText renders an output field as Falco prints it (<NA> for null).
func FieldText(v *harrierv1.FieldValue) string {
	switch x := v.GetKind().(type) {
	case *harrierv1.FieldValue_StringValue:
		return x.StringValue
	case *harrierv1.FieldValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *harrierv1.FieldValue_UintValue:
		return strconv.FormatUint(x.UintValue, 10)
	case *harrierv1.FieldValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *harrierv1.FieldValue_StringList:
		return "(" + strings.Join(x.StringList.GetValues(), ",") + ")"
	}
	return "<NA>"
}
