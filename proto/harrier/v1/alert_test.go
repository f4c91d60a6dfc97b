package harrierv1

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func sampleAlert() *Alert {
	return &Alert{
		Id:       "0190f6d2-7c1a-7b3e-8a2f-1234567890ab",
		Time:     timestamppb.New(time.Date(2026, 11, 24, 23, 59, 59, 123456789, time.UTC)),
		Rule:     "Terminal shell in container",
		Priority: Priority_PRIORITY_NOTICE,
		Source:   "syscall",
		Output:   "A shell was spawned (user=root)",
		OutputFields: map[string]*FieldValue{
			"user.name":                   {Kind: &FieldValue_StringValue{StringValue: "root"}},
			"proc.pid":                    {Kind: &FieldValue_IntValue{IntValue: 4242}},
			"evt.rawres":                  {Kind: &FieldValue_IntValue{IntValue: -2}},
			"proc.tty":                    {Kind: &FieldValue_UintValue{UintValue: 34816}},
			"fd.is_server":                {Kind: &FieldValue_BoolValue{BoolValue: true}},
			"ka.req.pod.containers.image": {Kind: &FieldValue_StringList{StringList: &StringList{Values: []string{"nginx", "busybox"}}}},
			"container.name":              {Kind: &FieldValue_NullValue{NullValue: structpb.NullValue_NULL_VALUE}},
		},
		Tags:           []string{"container", "shell", "mitre_execution"},
		Hostname:       "node-1",
		SensorId:       "node-1",
		RulesetVersion: "sha256:abcd",
	}
}

func TestAlertRoundTrip(t *testing.T) {
	in := sampleAlert()
	for _, opts := range []proto.MarshalOptions{{}, {Deterministic: true}} {
		b, err := opts.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		out := &Alert{}
		if err := proto.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(in, out) {
			t.Fatalf("round trip changed the alert:\n in=%v\nout=%v", in, out)
		}
		if got := out.GetTime().AsTime(); got.Nanosecond() != 123456789 {
			t.Errorf("event time lost nanoseconds: %v", got)
		}
		if got := out.GetOutputFields()["container.name"].GetNullValue(); got != structpb.NullValue_NULL_VALUE {
			t.Errorf("null field not kept as null")
		}
		if _, ok := out.GetOutputFields()["container.name"].GetKind().(*FieldValue_NullValue); !ok {
			t.Errorf("null field decoded as %T", out.GetOutputFields()["container.name"].GetKind())
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	in := &AlertBatch{Sequence: 7, SensorId: "node-1", Alerts: []*Alert{sampleAlert(), sampleAlert()}}
	in.Alerts[1].Id = "0190f6d2-7c1a-7b3e-8a2f-1234567890ac"
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &AlertBatch{}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) || out.GetAlerts()[1].GetId() == out.GetAlerts()[0].GetId() {
		t.Fatalf("batch round trip changed: %v", out)
	}
	// Truncated input must fail to decode rather than yield a partial batch.
	if err := proto.Unmarshal(b[:len(b)-3], &AlertBatch{}); err == nil {
		t.Error("truncated batch decoded without error")
	}
}
