package elasticsearch

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// FuzzDocument checks that the spliced document is always one valid JSON
// object with the event time first and Falco's JSON after it, whatever the
// alert's strings hold.
func FuzzDocument(f *testing.F) {
	f.Add("id-1", "Terminal shell", "A shell <bash> & \"quoted\"", "proc.name", "bash", "node-1", int64(1764028799123456789))
	f.Add("", "", "", "", "", "", int64(0))
	f.Add("\u2028", "r\x00", "\xff\xfe", "a.b.c", "{\"x\":1}", "h", int64(-1))
	f.Fuzz(func(t *testing.T, id, rule, out, key, value, host string, nanos int64) {
		a := &harrierv1.Alert{
			Id: id, Rule: rule, Output: out, Hostname: host,
			Time:         timestamppb.New(time.Unix(0, nanos)),
			OutputFields: map[string]*harrierv1.FieldValue{key: {Kind: &harrierv1.FieldValue_StringValue{StringValue: value}}},
		}
		doc, err := documentJSON(a)
		if err != nil {
			return // unencodable alerts are refused per item, not crashed on
		}
		if !json.Valid(doc) || !bytes.HasPrefix(doc, []byte(`{"@timestamp":"`)) {
			t.Fatalf("invalid document %s", doc)
		}
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		if m["@timestamp"] != m["time"] {
			t.Fatalf("@timestamp %v != time %v", m["@timestamp"], m["time"])
		}
		if documentID(a, doc) == "" {
			t.Fatal("empty document id")
		}
	})
}
