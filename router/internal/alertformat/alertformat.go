// Package alertformat renders an alert as a document in one of the formats
// the Elasticsearch and Kafka outputs can write: Falco's JSON (the
// default), Elastic Common Schema (ECS) or OCSF's Detection Finding. The
// mapping is documented field by field in docs/outputs-formats.md; the
// tests check every mapped field.
package alertformat

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Formats.
const (
	Falco = "falco"
	ECS   = "ecs"
	OCSF  = "ocsf"
)

// Versions of the schemas the documents follow.
const (
	ECSVersion  = "8.11.0"
	OCSFVersion = "1.1.0"
)

// Check validates a format name ("" is Falco).
func Check(format string) error {
	switch format {
	case "", Falco, ECS, OCSF:
		return nil
	}
	return fmt.Errorf("format %q: want %s, %s or %s", format, Falco, ECS, OCSF)
}

// Encode renders a in format ("" is Falco).
func Encode(format string, a *harrierv1.Alert) ([]byte, error) {
	switch format {
	case "", Falco:
		return falcojson.Marshal(a)
	case ECS:
		return json.Marshal(ECSDocument(a))
	case OCSF:
		return json.Marshal(OCSFDocument(a))
	}
	return nil, Check(format)
}

// fieldValue is an output field as JSON: its typed value, nil for <NA>.
func fieldValue(v *harrierv1.FieldValue) any {
	switch x := v.GetKind().(type) {
	case *harrierv1.FieldValue_StringValue:
		return x.StringValue
	case *harrierv1.FieldValue_IntValue:
		return x.IntValue
	case *harrierv1.FieldValue_UintValue:
		return x.UintValue
	case *harrierv1.FieldValue_BoolValue:
		return x.BoolValue
	case *harrierv1.FieldValue_StringList:
		return x.StringList.GetValues()
	}
	return nil
}

func outputFields(a *harrierv1.Alert) map[string]any {
	m := make(map[string]any, len(a.GetOutputFields()))
	for k, v := range a.GetOutputFields() {
		m[k] = fieldValue(v)
	}
	return m
}

// set stores v at the dotted path of doc, creating objects on the way.
func set(doc map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// copyField maps one output field when the alert has a value for it.
func copyField(doc map[string]any, a *harrierv1.Alert, from, to string, number bool) {
	v := fieldValue(a.GetOutputFields()[from])
	if v == nil {
		return
	}
	switch s := v.(type) {
	case string:
		if number {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return
			}
			v = n
		}
	case int64:
		if !number { // ids: ECS and OCSF keep them as strings
			v = strconv.FormatInt(s, 10)
		}
	case uint64:
		if !number {
			v = strconv.FormatUint(s, 10)
		}
	}
	set(doc, to, v)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ecsFields maps Falco output fields to ECS fields (number: the ECS field
// is numeric).
var ecsFields = []struct {
	from, to string
	number   bool
}{
	{"proc.name", "process.name", false},
	{"proc.pid", "process.pid", true},
	{"proc.cmdline", "process.command_line", false},
	{"proc.exepath", "process.executable", false},
	{"proc.pname", "process.parent.name", false},
	{"proc.ppid", "process.parent.pid", true},
	{"user.name", "user.name", false},
	{"user.uid", "user.id", false},
	{"container.id", "container.id", false},
	{"container.name", "container.name", false},
	{"container.image.repository", "container.image.name", false},
	{"container.image.tag", "container.image.tag", false},
	{"k8s.ns.name", "orchestrator.namespace", false},
	{"k8s.pod.name", "orchestrator.resource.name", false},
	{"fd.name", "file.path", false},
}

// ECSDocument is a as an ECS document.
func ECSDocument(a *harrierv1.Alert) map[string]any {
	doc := map[string]any{
		"@timestamp": rfc3339(a.GetTime().AsTime()),
		"ecs":        map[string]any{"version": ECSVersion},
		"message":    a.GetOutput(),
		"event": map[string]any{
			"kind":     "alert",
			"category": []string{"intrusion_detection"},
			"type":     []string{"info"},
			"id":       a.GetId(),
			"provider": a.GetSource(),
			"module":   "harrier",
			"dataset":  "harrier." + a.GetSource(),
			"severity": a.GetPriority().Severity(),
		},
		"log":   map[string]any{"level": strings.ToLower(a.GetPriority().FalcoName())},
		"rule":  map[string]any{"name": a.GetRule()},
		"host":  map[string]any{"name": a.GetHostname(), "hostname": a.GetHostname()},
		"agent": map[string]any{"type": "harrier-sensor"},
	}
	if len(a.GetTags()) > 0 {
		doc["tags"] = a.GetTags()
	}
	if v := a.GetRulesetVersion(); v != "" {
		set(doc, "rule.version", v)
	}
	if v := a.GetSensorId(); v != "" {
		set(doc, "agent.id", v)
	}
	if v := a.GetClusterName(); v != "" {
		set(doc, "orchestrator.cluster.name", v)
	}
	if a.GetCount() > 1 {
		set(doc, "event.start", rfc3339(a.GetFirstTime().AsTime()))
		set(doc, "event.end", rfc3339(a.GetLastTime().AsTime()))
	}
	for _, f := range ecsFields {
		copyField(doc, a, f.from, f.to, f.number)
	}
	if _, ok := a.GetOutputFields()["k8s.pod.name"]; ok {
		set(doc, "orchestrator.resource.type", "pod")
	}
	// Everything Falco wrote, by its own names: ECS has no place for most
	// of them, and keeping them whole keeps searches by Falco name working.
	h := map[string]any{"priority": a.GetPriority().FalcoName(), "output_fields": outputFields(a)}
	if a.GetCount() > 1 {
		h["count"] = a.GetCount()
	}
	doc["harrier"] = h
	return doc
}

// OCSF severity ids for Falco's priorities.
func ocsfSeverity(p harrierv1.Priority) (int, string) {
	switch p {
	case harrierv1.Priority_PRIORITY_EMERGENCY:
		return 6, "Fatal"
	case harrierv1.Priority_PRIORITY_ALERT, harrierv1.Priority_PRIORITY_CRITICAL:
		return 5, "Critical"
	case harrierv1.Priority_PRIORITY_ERROR:
		return 4, "High"
	case harrierv1.Priority_PRIORITY_WARNING:
		return 3, "Medium"
	case harrierv1.Priority_PRIORITY_NOTICE:
		return 2, "Low"
	case harrierv1.Priority_PRIORITY_INFORMATIONAL, harrierv1.Priority_PRIORITY_DEBUG:
		return 1, "Informational"
	}
	return 0, "Unknown"
}

// OCSF Detection Finding (class 2004, category 2 Findings), activity
// Create.
const (
	ocsfClassUID    = 2004
	ocsfCategoryUID = 2
	ocsfActivityID  = 1
)

// OCSFDocument is a as an OCSF Detection Finding.
func OCSFDocument(a *harrierv1.Alert) map[string]any {
	sevID, sev := ocsfSeverity(a.GetPriority())
	ms := a.GetTime().AsTime().UnixMilli()
	info := map[string]any{
		"uid":   a.GetId(),
		"title": a.GetRule(),
		"desc":  a.GetOutput(),
		"analytic": map[string]any{
			"name": a.GetRule(), "type_id": 1, "type": "Rule",
		},
	}
	if len(a.GetTags()) > 0 {
		info["types"] = a.GetTags()
	}
	if a.GetCount() > 1 {
		info["first_seen_time"] = a.GetFirstTime().AsTime().UnixMilli()
		info["last_seen_time"] = a.GetLastTime().AsTime().UnixMilli()
	}
	if v := a.GetRulesetVersion(); v != "" {
		set(info, "analytic.version", v)
	}
	doc := map[string]any{
		"class_uid":     ocsfClassUID,
		"class_name":    "Detection Finding",
		"category_uid":  ocsfCategoryUID,
		"category_name": "Findings",
		"activity_id":   ocsfActivityID,
		"activity_name": "Create",
		"type_uid":      ocsfClassUID*100 + ocsfActivityID,
		"time":          ms,
		"severity_id":   sevID,
		"severity":      sev,
		"status_id":     1,
		"status":        "New",
		"message":       a.GetOutput(),
		"finding_info":  info,
		"metadata": map[string]any{
			"version":  OCSFVersion,
			"uid":      a.GetId(),
			"product":  map[string]any{"name": "Harrier", "vendor_name": "Harrier"},
			"log_name": a.GetSource(),
		},
		"device": map[string]any{"hostname": a.GetHostname(), "type_id": 0},
		// Falco's fields by their names, OCSF's place for what it does
		// not model, plus the Falco priority.
		"unmapped": map[string]any{"priority": a.GetPriority().FalcoName(), "output_fields": outputFields(a)},
	}
	if len(a.GetTags()) > 0 {
		set(doc, "metadata.labels", a.GetTags())
	}
	if v := a.GetSensorId(); v != "" {
		set(doc, "device.uid", v)
	}
	if v := a.GetClusterName(); v != "" {
		set(doc, "unmapped.cluster_name", v)
	}
	if a.GetCount() > 1 {
		doc["count"] = a.GetCount()
	}
	copyField(doc, a, "proc.name", "process.name", false)
	copyField(doc, a, "proc.pid", "process.pid", true)
	copyField(doc, a, "proc.cmdline", "process.cmd_line", false)
	copyField(doc, a, "proc.exepath", "process.file.path", false)
	copyField(doc, a, "user.name", "actor.user.name", false)
	copyField(doc, a, "user.uid", "actor.user.uid", false)
	copyField(doc, a, "container.id", "device.container.uid", false)
	copyField(doc, a, "container.name", "device.container.name", false)
	copyField(doc, a, "container.image.repository", "device.container.image.name", false)
	copyField(doc, a, "container.image.tag", "device.container.image.tag", false)
	return doc
}
