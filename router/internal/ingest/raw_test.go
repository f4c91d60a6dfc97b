package ingest

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/harrier-security/harrier/proto/batchwire"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestRawBatchParseAndEncode(t *testing.T) {
	full := &harrierv1.Alert{Id: "given", Rule: "r", SensorId: "own", Priority: harrierv1.Priority_PRIORITY_ERROR,
		OutputFields: map[string]*harrierv1.FieldValue{"proc.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "bash"}}}}
	bare := &harrierv1.Alert{Rule: "r2", Tags: []string{"t"}}
	wire, err := proto.Marshal(&harrierv1.AlertBatch{Sequence: 7, SensorId: "node-9", Alerts: []*harrierv1.Alert{full, bare}})
	if err != nil {
		t.Fatal(err)
	}
	var b batchwire.Batch
	if err := b.Parse(wire); err != nil {
		t.Fatal(err)
	}
	if b.Sequence != 7 || b.SensorID != "node-9" || len(b.Alerts) != 2 {
		t.Fatalf("parsed %+v", b)
	}
	recs, err := encodeRaw(b.Alerts, b.SensorID)
	if err != nil {
		t.Fatal(err)
	}
	var got [2]harrierv1.Alert
	for i := range recs {
		if err := proto.Unmarshal(recs[i], &got[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !proto.Equal(&got[0], full) {
		t.Fatalf("a complete alert must be stored unchanged: %v", &got[0])
	}
	if len(got[1].Id) != 36 || got[1].SensorId != "node-9" || got[1].Rule != "r2" || got[1].Tags[0] != "t" {
		t.Fatalf("bare alert: %v", &got[1])
	}
}

func TestRawRejects(t *testing.T) {
	noRule, _ := proto.Marshal(&harrierv1.Alert{Id: "x"})
	if _, err := encodeRaw([][]byte{noRule}, ""); err == nil {
		t.Fatal("alert without rule accepted")
	}
	if _, err := encodeRaw([][]byte{{0x0a, 0x05, 'a'}}, ""); err == nil {
		t.Fatal("truncated alert accepted")
	}
	badUTF8 := []byte{0x1a, 0x02, 0xff, 0xfe}
	if _, err := encodeRaw([][]byte{badUTF8}, ""); err == nil {
		t.Fatal("invalid UTF-8 rule accepted")
	}
	var b batchwire.Batch
	if err := b.Parse([]byte{0x12, 0x10, 1}); err == nil {
		t.Fatal("truncated batch accepted")
	}
}

func FuzzRawBatch(f *testing.F) {
	wire, _ := proto.Marshal(&harrierv1.AlertBatch{Sequence: 1, Alerts: []*harrierv1.Alert{{Rule: "r", Id: "i"}}})
	f.Add(wire)
	f.Add([]byte{0x12, 0x02, 0x1a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var b batchwire.Batch
		if b.Parse(data) != nil {
			return
		}
		recs, err := encodeRaw(b.Alerts, "s")
		if err != nil {
			return
		}
		for _, r := range recs {
			var a harrierv1.Alert
			// Framing was checked; a nested field may still be malformed,
			// which delivery dead-letters. What decodes must have a rule.
			if proto.Unmarshal(r, &a) == nil && a.GetRule() == "" {
				t.Fatalf("stored an alert without rule: %x", r)
			}
		}
	})
}

func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"rule":"r","priority":"Warning","output":"o","time":"2026-01-01T00:00:00Z","output_fields":{}}`))
	f.Add([]byte("{\"rule\":\"a\"}\n{\"rule\":\"b\"}\n"))
	f.Add([]byte(`{`))
	f.Add([]byte(`[{"rule":"a","time":"2026-01-01T00:00:00Z"},{"rule":"b","time":"2026-01-01T00:00:00Z"}]`))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, body []byte) {
		b := &reqBuf{body: body}
		err := b.decodeBody()
		if err == nil && len(b.slices) == 0 {
			t.Fatal("no error and no alerts")
		}
		for _, rec := range b.slices {
			var a harrierv1.Alert
			if err := proto.Unmarshal(rec, &a); err != nil || a.GetRule() == "" || len(a.GetId()) == 0 {
				t.Fatalf("stored record %x: %v (alert %v)", rec, err, &a)
			}
		}
	})
}
