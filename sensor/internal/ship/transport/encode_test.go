package transport

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/ship/spool"
)

func TestEncodeBatchIsAnAlertBatch(t *testing.T) {
	alerts := []*harrierv1.Alert{
		{Id: "a", Rule: "R1", Priority: harrierv1.Priority_PRIORITY_ERROR, Time: timestamppb.Now(),
			OutputFields: map[string]*harrierv1.FieldValue{"proc.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "cat"}}}},
		{Id: "b", Rule: "R2", Count: 3},
		{}, // an empty alert encodes to zero bytes and must still count
	}
	var recs []spool.Record
	for i, a := range alerts {
		b, err := proto.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, spool.Record{Seq: uint64(i + 10), Data: b})
	}
	for _, sensor := range []string{"node-1", ""} {
		enc := encodeBatch(1<<40, sensor, recs)
		var got harrierv1.AlertBatch
		if err := proto.Unmarshal(enc.b, &got); err != nil {
			t.Fatal(err)
		}
		want := &harrierv1.AlertBatch{Sequence: 1 << 40, SensorId: sensor, Alerts: alerts}
		if !proto.Equal(&got, want) {
			t.Fatalf("decoded %v, want %v", &got, want)
		}
	}
}

// The alert path encodes once: framing a batch copies the spooled bytes
// into one buffer sized up front (plus the small wrapper), nothing more.
func TestEncodeBatchAllocatesOneBuffer(t *testing.T) {
	b, _ := proto.Marshal(&harrierv1.Alert{Id: "a", Rule: "R1", Output: "something happened"})
	recs := make([]spool.Record, 500)
	for i := range recs {
		recs[i] = spool.Record{Seq: uint64(i), Data: b}
	}
	var enc *encodedBatch
	allocs := testing.AllocsPerRun(20, func() { enc = encodeBatch(9, "node-1", recs) })
	if allocs > 2 {
		t.Fatalf("encodeBatch made %v allocations, want 2 (buffer and wrapper)", allocs)
	}
	if cap(enc.b) < len(enc.b) || len(enc.b) < 500*len(b) {
		t.Fatalf("encoded %d bytes", len(enc.b))
	}
}
