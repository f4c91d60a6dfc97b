// Package falcojson encodes and decodes alerts in Falco's JSON output format
// (json_output: true), which falcosidekick, webhooks and SIEMs read. Field
// names match Falco's byte for byte; Harrier adds "uuid" (as falcosidekick
// does) and a few optional keys that Falco readers ignore.
package falcojson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// TimeFormat is Falco's: RFC 3339, UTC, always nine fractional digits.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// wire is the decoded form; Unmarshal converts each output_fields value.
type wire struct {
	UUID           string         `json:"uuid,omitempty"`
	Hostname       string         `json:"hostname"`
	Output         string         `json:"output"`
	OutputFields   map[string]any `json:"output_fields"` // numbers as json.Number
	Priority       string         `json:"priority"`
	Rule           string         `json:"rule"`
	Source         string         `json:"source"`
	Tags           []string       `json:"tags"`
	Time           string         `json:"time"`
	SensorID       string         `json:"sensor_id,omitempty"`
	ClusterName    string         `json:"cluster_name,omitempty"`
	RulesetVersion string         `json:"ruleset_version,omitempty"`
	Count          uint32         `json:"count,omitempty"`
	FirstTime      string         `json:"first_time,omitempty"`
	LastTime       string         `json:"last_time,omitempty"`
}

// Marshal renders a as one line of Falco JSON (no trailing newline) in a
// new slice; hot loops should use AppendMarshal with a reused buffer.
func Marshal(a *harrierv1.Alert) ([]byte, error) {
	return AppendMarshal(make([]byte, 0, 384+len(a.GetOutput())+64*len(a.GetOutputFields())), a)
}

// Unmarshal parses one Falco JSON alert, as sent by Falco's http_output or
// written by its json_output. Missing "time" is an error: an alert without
// its event time cannot be indexed correctly.
func Unmarshal(data []byte) (*harrierv1.Alert, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("falco json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("falco json: trailing data after the alert object")
	}
	if w.Rule == "" {
		return nil, fmt.Errorf("falco json: missing \"rule\"")
	}
	a := &harrierv1.Alert{
		Id:             w.UUID,
		Hostname:       w.Hostname,
		Output:         w.Output,
		Rule:           w.Rule,
		Source:         w.Source,
		Tags:           w.Tags,
		SensorId:       w.SensorID,
		ClusterName:    w.ClusterName,
		RulesetVersion: w.RulesetVersion,
		Count:          w.Count,
	}
	if w.Priority != "" {
		p, err := harrierv1.ParsePriority(w.Priority)
		if err != nil {
			return nil, fmt.Errorf("falco json: %w", err)
		}
		a.Priority = p
	}
	var err error
	if a.Time, err = parseTime("time", w.Time, true); err != nil {
		return nil, err
	}
	if a.FirstTime, err = parseTime("first_time", w.FirstTime, false); err != nil {
		return nil, err
	}
	if a.LastTime, err = parseTime("last_time", w.LastTime, false); err != nil {
		return nil, err
	}
	if len(w.OutputFields) > 0 {
		a.OutputFields = make(map[string]*harrierv1.FieldValue, len(w.OutputFields))
		keys := make([]string, 0, len(w.OutputFields))
		for k := range w.OutputFields {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic error reporting
		for _, k := range keys {
			v, err := fieldValue(w.OutputFields[k])
			if err != nil {
				return nil, fmt.Errorf("falco json: output field %q: %w", k, err)
			}
			a.OutputFields[k] = v
		}
	}
	return a, nil
}

func parseTime(key, s string, required bool) (*timestamppb.Timestamp, error) {
	if s == "" {
		if required {
			return nil, fmt.Errorf("falco json: missing %q", key)
		}
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("falco json: %q: %w", key, err)
	}
	return timestamppb.New(t), nil
}

// fieldValue converts one decoded output_fields value (numbers as
// json.Number).
func fieldValue(x any) (*harrierv1.FieldValue, error) {
	switch v := x.(type) {
	case nil:
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}, nil
	case string:
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: v}}, nil
	case bool:
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_BoolValue{BoolValue: v}}, nil
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: i}}, nil
		}
		if u, err := strconv.ParseUint(v.String(), 10, 64); err == nil {
			return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_UintValue{UintValue: u}}, nil
		}
		// Non-integral numbers have no typed slot; keep their text.
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("bad number %s", v)
		}
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: v.String()}}, nil
	case []any:
		vals := make([]string, 0, len(v))
		for _, e := range v {
			switch e := e.(type) {
			case string:
				vals = append(vals, e)
			case json.Number:
				vals = append(vals, e.String())
			case bool:
				vals = append(vals, fmt.Sprint(e))
			case nil:
				vals = append(vals, "<NA>")
			default:
				return nil, fmt.Errorf("list element of type %T", e)
			}
		}
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: vals}}}, nil
	default:
		return nil, fmt.Errorf("unsupported JSON value of type %T", v)
	}
}
