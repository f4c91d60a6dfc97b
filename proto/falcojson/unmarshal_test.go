package falcojson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// referenceUnmarshal is Unmarshal before output_fields were decoded in one
// pass (each value went through a json.Decoder of its own), with the
// uint parsing fix applied; FuzzUnmarshalEquivalence holds Unmarshal to it.
func referenceUnmarshal(data []byte) (*harrierv1.Alert, error) {
	var w referenceWire
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
			v, err := referenceValueIn(w.OutputFields[k])
			if err != nil {
				return nil, fmt.Errorf("falco json: output field %q: %w", k, err)
			}
			a.OutputFields[k] = v
		}
	}
	return a, nil
}

func referenceValueIn(raw json.RawMessage) (*harrierv1.FieldValue, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
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
		if u, err := strconv.ParseUint(v.String(), 10, 64); err == nil { // was fmt.Sscan, which read 1.5 as 1
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

// FuzzUnmarshalEquivalence checks that Unmarshal accepts exactly what the
// reference accepts and decodes it to the same alert, with errors naming
// the same place.
func FuzzUnmarshalEquivalence(f *testing.F) {
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":[1,"x",null],"b":1.5,"c":18446744073709551615,"d":{"x":1},"e":null}}`))
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","priority":"info","tags":null,"output_fields":null}`))
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":1,"a":"dup"},"count":3}`))
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":1e999}}`))
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":[1]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotErr := Unmarshal(data)
		want, wantErr := referenceUnmarshal(data)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("Unmarshal error %v, reference error %v\n%s", gotErr, wantErr, data)
		}
		if gotErr != nil {
			// Both name the field, or both do not.
			if strings.Contains(gotErr.Error(), "output field") != strings.Contains(wantErr.Error(), "output field") {
				t.Fatalf("Unmarshal error %q, reference error %q", gotErr, wantErr)
			}
			return
		}
		if !proto.Equal(got, want) {
			t.Fatalf("Unmarshal = %v\nreference %v\n%s", got, want, data)
		}
	})
}
