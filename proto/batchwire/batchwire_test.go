package batchwire

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func encode(seq uint64, sensorID string, alerts [][]byte) []byte {
	n := Overhead + len(sensorID)
	for _, a := range alerts {
		n += AlertOverhead + len(a)
	}
	b := make([]byte, 0, n)
	b = AppendSequence(b, seq)
	for _, a := range alerts {
		b = AppendAlert(b, a)
	}
	return AppendSensorID(b, sensorID)
}

// What the Append functions write is an AlertBatch to protobuf, and Parse
// reads an AlertBatch protobuf wrote.
func TestRoundTripWithProtobuf(t *testing.T) {
	alerts := []*harrierv1.Alert{
		{Id: "a", Rule: "R1", Priority: harrierv1.Priority_PRIORITY_ERROR, Time: timestamppb.Now(),
			OutputFields: map[string]*harrierv1.FieldValue{"proc.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "cat"}}}},
		{Id: "b", Rule: "R2", Count: 3},
		{}, // an empty alert encodes to zero bytes and must still count
	}
	var raw [][]byte
	for _, a := range alerts {
		b, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	for _, tt := range []struct {
		seq    uint64
		sensor string
		alerts int
	}{{1 << 40, "node-1", 3}, {1<<64 - 1, "", 3}, {0, "s", 0}, {7, string(bytes.Repeat([]byte("x"), 300)), 1}} {
		enc := encode(tt.seq, tt.sensor, raw[:tt.alerts])
		if max := Overhead + len(tt.sensor) + tt.alerts*AlertOverhead + len(bytes.Join(raw[:tt.alerts], nil)); len(enc) > max {
			t.Errorf("%d bytes exceed the bound %d", len(enc), max)
		}
		var got harrierv1.AlertBatch
		if err := proto.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		want := &harrierv1.AlertBatch{Sequence: tt.seq, SensorId: tt.sensor, Alerts: alerts[:tt.alerts]}
		if !proto.Equal(&got, want) {
			t.Fatalf("protobuf decoded %v, want %v", &got, want)
		}
		wire, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var b Batch
		if err := b.Parse(wire); err != nil {
			t.Fatal(err)
		}
		if b.Sequence != tt.seq || b.SensorID != tt.sensor || len(b.Alerts) != tt.alerts {
			t.Fatalf("parsed %d/%q/%d alerts", b.Sequence, b.SensorID, len(b.Alerts))
		}
		for i, a := range b.Alerts {
			var m harrierv1.Alert
			if err := proto.Unmarshal(a, &m); err != nil || !proto.Equal(&m, alerts[i]) {
				t.Fatalf("alert %d: %v %v", i, &m, err)
			}
		}
	}
}

func TestParseRejectsBrokenFraming(t *testing.T) {
	for name, buf := range map[string][]byte{
		"truncated alert":     {0x12, 0x10, 1},
		"truncated sequence":  {0x08, 0x80},
		"truncated sensor id": {0x1a, 0x05, 'a'},
		"bad tag":             {0x80},
		"unknown group":       {0x23},
	} {
		var b Batch
		if err := b.Parse(buf); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Unknown fields are skipped, as protobuf does.
	var b Batch
	if err := b.Parse([]byte{0x20, 0x05, 0x08, 0x02}); err != nil || b.Sequence != 2 {
		t.Fatalf("unknown field: %v, sequence %d", err, b.Sequence)
	}
}

// Parse agrees with protobuf on every input protobuf accepts, and never
// panics on any other.
func FuzzParse(f *testing.F) {
	wire, _ := proto.Marshal(&harrierv1.AlertBatch{Sequence: 1, SensorId: "s", Alerts: []*harrierv1.Alert{{Rule: "r", Id: "i"}}})
	f.Add(wire)
	f.Add([]byte{0x12, 0x02, 0x1a, 0x00})
	f.Add([]byte{0x08, 0x01, 0x08, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Batch
		perr := b.Parse(data)
		var m harrierv1.AlertBatch
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		if perr != nil {
			t.Fatalf("protobuf accepts what Parse refuses (%v): %x", perr, data)
		}
		if b.Sequence != m.GetSequence() || b.SensorID != m.GetSensorId() || len(b.Alerts) != len(m.GetAlerts()) {
			t.Fatalf("parsed %d/%q/%d, protobuf %v", b.Sequence, b.SensorID, len(b.Alerts), &m)
		}
		// Re-framed, the same batch comes back.
		var again Batch
		if err := again.Parse(encode(b.Sequence, b.SensorID, b.Alerts)); err != nil || len(again.Alerts) != len(b.Alerts) {
			t.Fatalf("re-framed batch: %v", err)
		}
		for i := range b.Alerts {
			if !bytes.Equal(again.Alerts[i], b.Alerts[i]) {
				t.Fatalf("alert %d changed", i)
			}
		}
	})
}
