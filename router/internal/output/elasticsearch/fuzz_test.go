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
	f.Add("id-\"quoted\"\\", "Terminal shell", "out", "k", "v", "h", int64(5))
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
		// The bulk lines: an action naming the index and id, then the
		// same document.
		o := &Output{cfg: Config{Index: "falco", Suffix: SuffixDaily}}
		var buf bytes.Buffer
		if err := o.appendAction(&buf, a); err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
		if len(lines) != 2 || !bytes.Equal(lines[1], doc) {
			t.Fatalf("bulk lines %q, want action + %s", buf.Bytes(), doc)
		}
		var action map[string]map[string]string
		if err := json.Unmarshal(lines[0], &action); err != nil {
			t.Fatalf("action %s: %v", lines[0], err)
		}
		if action["index"]["_index"] != IndexName("falco", SuffixDaily, a.GetTime().AsTime()) {
			t.Fatalf("action %s: wrong index", lines[0])
		}
		// encoding/json is the reference for escaping (invalid UTF-8
		// becomes U+FFFD).
		var wantID string
		quoted, _ := json.Marshal(id)
		_ = json.Unmarshal(quoted, &wantID)
		if id != "" && action["index"]["_id"] != wantID {
			t.Fatalf("action %s: _id %q, want %q", lines[0], action["index"]["_id"], wantID)
		}
	})
}
