package harrierv1

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func decodeSampleAlert() *Alert {
	return &Alert{Id: "0190-id", Time: timestamppb.New(timestamppb.Now().AsTime()), Rule: "Terminal shell in container",
		Priority: Priority_PRIORITY_WARNING, Source: "syscall", Output: "a shell was spawned (user=root)",
		OutputFields: map[string]*FieldValue{
			"proc.name":     {Kind: &FieldValue_StringValue{StringValue: "bash"}},
			"evt.time":      {Kind: &FieldValue_IntValue{IntValue: 1795602005408091526}},
			"user.loginuid": {Kind: &FieldValue_IntValue{IntValue: -1}},
			"fd.nameraw":    {Kind: &FieldValue_NullValue{NullValue: structpb.NullValue_NULL_VALUE}},
			"evt.is_open":   {Kind: &FieldValue_BoolValue{BoolValue: true}},
			"proc.pid":      {Kind: &FieldValue_UintValue{UintValue: 1 << 63}},
			"proc.aname":    {Kind: &FieldValue_StringList{StringList: &StringList{Values: []string{"runc", "", "containerd"}}}},
			"empty":         {Kind: &FieldValue_StringValue{}},
			"nokind":        {},
		},
		Tags: []string{"container", "shell"}, Hostname: "node-1", SensorId: "s-1", RulesetVersion: "v1", Count: 3,
		FirstTime: &timestamppb.Timestamp{}, LastTime: &timestamppb.Timestamp{Seconds: -5, Nanos: 7}, ClusterName: "c"}
}

func TestUnmarshalAlertMatchesProto(t *testing.T) {
	for _, a := range []*Alert{decodeSampleAlert(), {}, {Rule: "r", Tags: []string{""}}} {
		data, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		got := &Alert{Rule: "stale", OutputFields: map[string]*FieldValue{"stale": {}}}
		if err := UnmarshalAlert(data, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, a) {
			t.Fatalf("UnmarshalAlert = %v\nwant %v", got, a)
		}
		if !fastAlert(data, new(Alert)) {
			t.Fatalf("%v took the slow path", a)
		}
	}
}

// FuzzUnmarshalAlert holds UnmarshalAlert to proto.Unmarshal: the same
// error or none, the same message.
func FuzzUnmarshalAlert(f *testing.F) {
	data, _ := proto.Marshal(decodeSampleAlert())
	f.Add(data)
	f.Add(append(append([]byte(nil), data...), data...)) // every field twice
	f.Add([]byte{0x3a, 0x02, 0x0a, 0x00})                // map entry without value
	f.Fuzz(func(t *testing.T, data []byte) {
		want := new(Alert)
		wantErr := proto.Unmarshal(data, want)
		got := new(Alert)
		gotErr := UnmarshalAlert(data, got)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("UnmarshalAlert error %v, proto.Unmarshal error %v", gotErr, wantErr)
		}
		if gotErr == nil && !proto.Equal(got, want) {
			t.Fatalf("UnmarshalAlert = %v\nproto.Unmarshal %v", got, want)
		}
	})
}

func BenchmarkUnmarshalAlert(b *testing.B) {
	data, _ := proto.Marshal(decodeSampleAlert())
	b.Run("proto.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(data, new(Alert)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UnmarshalAlert", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := UnmarshalAlert(data, new(Alert)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
