package falcojson

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestMarshalFalcoShape(t *testing.T) {
	a := &harrierv1.Alert{
		Id:       "0190f6d2-7c1a-7b3e-8a2f-1234567890ab",
		Time:     timestamppb.New(time.Date(2026, 11, 24, 1, 2, 3, 4000, time.FixedZone("x", 3600))),
		Rule:     "Read sensitive file untrusted",
		Priority: harrierv1.Priority_PRIORITY_WARNING,
		Source:   "syscall",
		Output:   "Sensitive file opened <file=/etc/shadow>",
		Hostname: "node-1",
		OutputFields: map[string]*harrierv1.FieldValue{
			"fd.name":  {Kind: &harrierv1.FieldValue_StringValue{StringValue: "/etc/shadow"}},
			"proc.pid": {Kind: &harrierv1.FieldValue_IntValue{IntValue: 42}},
			"k8s.ns":   {Kind: &harrierv1.FieldValue_NullValue{}},
			"list":     {Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: []string{"a"}}}},
		},
	}
	b, err := Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"time": "2026-11-24T00:02:03.000004000Z", "priority": "Warning", "rule": a.Rule,
		"source": "syscall", "hostname": "node-1", "output": a.Output, "uuid": a.Id,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if tags, ok := m["tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("tags = %#v, want empty array", m["tags"])
	}
	of := m["output_fields"].(map[string]any)
	if of["k8s.ns"] != nil || of["proc.pid"] != float64(42) || of["fd.name"] != "/etc/shadow" {
		t.Errorf("output_fields = %v", of)
	}
	if strings.Contains(string(b), `\u003c`) {
		t.Errorf("HTML-escaped output: %s", b)
	}
}

func TestRoundTrip(t *testing.T) {
	a := &harrierv1.Alert{
		Id: "id-1", Time: timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)),
		Rule: "r", Priority: harrierv1.Priority_PRIORITY_INFORMATIONAL, Source: "k8s_audit",
		Output: "o", Hostname: "h", Tags: []string{"k8s"}, SensorId: "s", RulesetVersion: "v", Count: 3,
		FirstTime: timestamppb.New(time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)),
		LastTime:  timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)),
		OutputFields: map[string]*harrierv1.FieldValue{
			"s": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "x\"y<"}},
			"i": {Kind: &harrierv1.FieldValue_IntValue{IntValue: -7}},
			"u": {Kind: &harrierv1.FieldValue_UintValue{UintValue: 1 << 63}},
			"b": {Kind: &harrierv1.FieldValue_BoolValue{BoolValue: true}},
			"n": {Kind: &harrierv1.FieldValue_NullValue{NullValue: structpb.NullValue_NULL_VALUE}},
			"l": {Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: []string{"a", "b"}}}},
		},
	}
	b, err := Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a, back) {
		t.Fatalf("round trip:\n in=%v\nout=%v\njson=%s", a, back, b)
	}
}

func TestUnmarshalStockFalco(t *testing.T) {
	// What Falco's http_output posts.
	in := `{"hostname":"falco-1","output":"10:00:00.000000000: Notice A shell was spawned","priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","shell"],"time":"2026-11-24T10:00:00.123456789Z","output_fields":{"evt.time":1795514400123456789,"proc.name":"bash","container.id":null}}`
	a, err := Unmarshal([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if a.GetPriority() != harrierv1.Priority_PRIORITY_NOTICE || a.GetTime().AsTime().Nanosecond() != 123456789 ||
		a.GetOutputFields()["evt.time"].GetIntValue() != 1795514400123456789 || len(a.GetTags()) != 2 {
		t.Fatalf("decoded %v", a)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{`, "falco json"},
		{`{"rule":"r","time":"2026-11-24T10:00:00Z"} {}`, "trailing"},
		{`{"time":"2026-11-24T10:00:00Z"}`, `missing "rule"`},
		{`{"rule":"r"}`, `missing "time"`},
		{`{"rule":"r","time":"yesterday"}`, `"time"`},
		{`{"rule":"r","time":"2026-11-24T10:00:00Z","priority":"urgent"}`, `"urgent"`},
		{`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"x":{"a":1}}}`, `output field "x"`},
	}
	for _, tt := range tests {
		_, err := Unmarshal([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Unmarshal(%s) error = %v, want mention of %s", tt.in, err, tt.want)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":[1,"x",null]}}`))
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","priority":"info","tags":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Unmarshal(data)
		if err != nil {
			return
		}
		b, err := Marshal(a)
		if err != nil {
			t.Fatalf("re-marshal of accepted input failed: %v", err)
		}
		if _, err := Unmarshal(b); err != nil {
			t.Fatalf("our own output does not parse: %v\n%s", err, b)
		}
	})
}

func TestUnmarshalNumbers(t *testing.T) {
	tests := []struct {
		in   string
		want *harrierv1.FieldValue
	}{
		{`-5`, &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: -5}}},
		{`9223372036854775807`, &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: 1<<63 - 1}}},
		{`18446744073709551615`, &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_UintValue{UintValue: 1<<64 - 1}}},
		// Non-integral numbers keep their text; fmt.Sscan once read 1.5 and 1e5 as 1.
		{`1.5`, &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: "1.5"}}},
		{`1e5`, &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: "1e5"}}},
		{`-1.5`, &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: "-1.5"}}},
		{`18446744073709551616`, &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: "18446744073709551616"}}},
		{`[1,true,null,"s"]`, &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: []string{"1", "true", "<NA>", "s"}}}}},
	}
	for _, tt := range tests {
		a, err := Unmarshal([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"x":` + tt.in + `}}`))
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got := a.GetOutputFields()["x"]; !proto.Equal(got, tt.want) {
			t.Errorf("%s decoded as %v, want %v", tt.in, got, tt.want)
		}
	}
	if _, err := Unmarshal([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"x":1e999}}`)); err == nil || !strings.Contains(err.Error(), `output field "x"`) {
		t.Errorf("1e999: error = %v, want one naming the field", err)
	}
}

func TestClusterNameRoundTrip(t *testing.T) {
	a := &harrierv1.Alert{Rule: "r", Source: "syscall", Output: "o", ClusterName: "prod-eu",
		Time: timestamppb.New(time.Unix(1_700_000_000, 5).UTC())}
	b, err := Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"cluster_name":"prod-eu"`) {
		t.Fatalf("no cluster_name in %s", b)
	}
	back, err := Unmarshal(b)
	if err != nil || back.GetClusterName() != "prod-eu" {
		t.Fatalf("round trip: %v, %v", back, err)
	}
	a.ClusterName = ""
	if b, _ := Marshal(a); strings.Contains(string(b), "cluster_name") {
		t.Errorf("empty cluster_name encoded: %s", b)
	}
}
