// Package message renders an alert as short human text for the chat and
// incident outputs (slack and its flavours, pagerduty summaries). It is the
// one default; a template configured by the user replaces it upstream.
package message

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Title is "<Priority>: <rule>".
func Title(a *harrierv1.Alert) string {
	return a.GetPriority().FalcoName() + ": " + a.GetRule()
}

// Text is the alert's output line as Falco prints it.
func Text(a *harrierv1.Alert) string { return falcojson.TextLine(a) }

// Field is one name/value pair shown beside the text.
type Field struct{ Name, Value string }

// Fields are the alert's facts in a stable order: rule, priority, source,
// hostname, tags, then the output fields sorted by name.
func Fields(a *harrierv1.Alert) []Field {
	fs := []Field{{"rule", a.GetRule()}, {"priority", a.GetPriority().FalcoName()}, {"source", a.GetSource()}}
	if h := a.GetHostname(); h != "" {
		fs = append(fs, Field{"hostname", h})
	}
	if len(a.GetTags()) > 0 {
		fs = append(fs, Field{"tags", strings.Join(a.GetTags(), ", ")})
	}
	names := make([]string, 0, len(a.GetOutputFields()))
	for k := range a.GetOutputFields() {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fs = append(fs, Field{k, FieldString(a.GetOutputFields()[k])})
	}
	return fs
}

// FieldString renders one output field value as text ("<NA>" for null, as
// Falco prints it; lists comma-separated).
func FieldString(v *harrierv1.FieldValue) string {
	switch x := v.GetKind().(type) {
	case *harrierv1.FieldValue_StringValue:
		return x.StringValue
	case *harrierv1.FieldValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *harrierv1.FieldValue_UintValue:
		return strconv.FormatUint(x.UintValue, 10)
	case *harrierv1.FieldValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	case *harrierv1.FieldValue_StringList:
		return strings.Join(x.StringList.GetValues(), ",")
	}
	return "<NA>"
}

var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// LabelName turns an output field name into a Prometheus-style label name
// (Alertmanager, Loki): "k8s.ns.name" -> "k8s_ns_name",
// "proc.aname[2]" -> "proc_aname_2_".
func LabelName(field string) string {
	s := invalidLabelChars.ReplaceAllString(field, "_")
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "_" + s
	}
	return s
}
