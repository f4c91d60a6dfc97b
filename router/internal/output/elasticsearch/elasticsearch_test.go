package elasticsearch

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
)

func TestIndexName(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	// 00:30 in Paris on the 25th is still the 24th in UTC.
	ev := time.Date(2026, 11, 25, 0, 30, 0, 0, paris)
	for _, tc := range []struct {
		suffix Suffix
		t      time.Time
		want   string
	}{
		{SuffixDaily, ev, "falco-2026.11.24"},
		{SuffixMonthly, ev, "falco-2026.11"},
		{SuffixAnnually, time.Date(2027, 1, 1, 0, 30, 0, 0, paris), "falco-2026"},
		{SuffixNone, ev, "falco"},
		{SuffixDaily, time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), "falco-2026.12.31"},
		{SuffixDaily, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "falco-2027.01.01"},
	} {
		if got := IndexName("falco", tc.suffix, tc.t); got != tc.want {
			t.Errorf("IndexName(%s, %v) = %q, want %q", tc.suffix, tc.t, got, tc.want)
		}
	}
}

func testAlert() *harrierv1.Alert {
	return &harrierv1.Alert{
		Id:       "0193a3b2-7c1e-7abc-8def-0123456789ab",
		Time:     timestamppb.New(time.Date(2026, 11, 24, 23, 59, 59, 123456789, time.UTC)),
		Rule:     "Terminal shell in container",
		Priority: harrierv1.Priority_PRIORITY_NOTICE,
		Source:   "syscall",
		Output:   "A shell was spawned <bash> & more",
		OutputFields: map[string]*harrierv1.FieldValue{
			"proc.name":                  {Kind: &harrierv1.FieldValue_StringValue{StringValue: "bash"}},
			"proc.pid":                   {Kind: &harrierv1.FieldValue_IntValue{IntValue: 42}},
			"container.image":            {Kind: &harrierv1.FieldValue_StringValue{StringValue: "nginx:1"}},
			"container.image.repository": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "nginx"}},
		},
		Tags:     []string{"container", "mitre_execution"},
		Hostname: "node-1",
		SensorId: "sensor-1",
	}
}

func TestDocumentIsFalcoJSONPlusTimestamp(t *testing.T) {
	a := testAlert()
	doc, err := Document(a)
	if err != nil {
		t.Fatal(err)
	}
	if doc[TimestampField] != "2026-11-24T23:59:59.123456789Z" || doc["time"] != doc[TimestampField] {
		t.Errorf("@timestamp %v, time %v: both must be the event time", doc[TimestampField], doc["time"])
	}
	// Apart from @timestamp the document is exactly Falco's JSON.
	falco, err := falcojson.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	dec := json.NewDecoder(strings.NewReader(string(falco)))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	delete(doc, TimestampField)
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("document %v\nwant Falco JSON %v", doc, want)
	}
	for _, k := range []string{"uuid", "rule", "priority", "source", "hostname", "tags", "output", "output_fields", "sensor_id"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("document lacks %q", k)
		}
	}
	if _, err := documentJSON(&harrierv1.Alert{Rule: "r"}); err == nil {
		t.Error("an alert without event time must be refused (it has no index)")
	}
}

func TestDocumentID(t *testing.T) {
	a := testAlert()
	doc, _ := documentJSON(a)
	if got := documentID(a, doc); got != a.Id {
		t.Errorf("documentID = %q, want the alert id", got)
	}
	a.Id = ""
	doc, _ = documentJSON(a)
	id1 := documentID(a, doc)
	a2 := testAlert()
	a2.Id = ""
	doc2, _ := documentJSON(a2)
	if id1 == "" || id1 != documentID(a2, doc2) {
		t.Errorf("id-less alerts need a stable content id: %q vs %q", id1, documentID(a2, doc2))
	}
	a2.Output = "other"
	doc2, _ = documentJSON(a2)
	if id1 == documentID(a2, doc2) {
		t.Error("different alerts got the same content id")
	}
}

// TestTemplateMappings pins the field names and types Kibana users (and
// issue 8's saved objects) rely on.
func TestTemplateMappings(t *testing.T) {
	tpl := Template("falco", SuffixDaily)
	b, err := json.Marshal(tpl)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings struct {
				Properties map[string]struct {
					Type string `json:"type"`
				} `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(b, &parsed); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(parsed.IndexPatterns, []string{"falco-*"}) {
		t.Errorf("index_patterns %v", parsed.IndexPatterns)
	}
	want := map[string]string{
		"@timestamp": "date", "time": "date_nanos", "rule": "keyword", "priority": "keyword", "source": "keyword",
		"hostname": "keyword", "tags": "keyword", "uuid": "keyword", "sensor_id": "keyword", "output": "text",
		"output_fields": "flattened",
	}
	props := parsed.Template.Mappings.Properties
	for f, typ := range want {
		if props[f].Type != typ {
			t.Errorf("mapping of %s = %q, want %q", f, props[f].Type, typ)
		}
	}
	// Every top-level document field has an explicit mapping.
	doc, _ := Document(testAlert())
	for k := range doc {
		if _, ok := props[k]; !ok {
			t.Errorf("document field %q has no explicit mapping", k)
		}
	}
	if got := Template("falco", SuffixNone)["index_patterns"]; !reflect.DeepEqual(got, []string{"falco"}) {
		t.Errorf("suffix none: index_patterns %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "hostport is required"},
		{Config{HostPort: "es:9200"}, "want http(s)://host:port"},
		{Config{HostPort: "http://es:9200", Index: "Falco"}, "index"},
		{Config{HostPort: "http://es:9200", Index: "_falco"}, "index"},
		{Config{HostPort: "http://es:9200", Suffix: "weekly"}, "suffix"},
		{Config{HostPort: "http://es:9200", Timeout: -time.Second}, "timeout"},
		{Config{HostPort: "https://es:9200", TLS: tlsClient("/nonexistent/ca.pem")}, "tls"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
	c, err := (Config{HostPort: "http://a:9200, https://b:9200/", Suffix: "MONTHLY", Type: "_doc"}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Index != "falco" || c.Suffix != SuffixMonthly || c.Name != "elasticsearch" || !reflect.DeepEqual(c.addresses(), []string{"http://a:9200", "https://b:9200"}) {
		t.Errorf("defaults: %+v %v", c, c.addresses())
	}
}

func TestTransientStatus(t *testing.T) {
	for status, want := range map[int]bool{400: false, 404: false, 409: false, 408: true, 429: true, 500: true, 503: true} {
		if retry.TransientStatus(status) != want {
			t.Errorf("retry.TransientStatus(%d) = %v, want %v", status, !want, want)
		}
	}
}

// BenchmarkEncode is the output's own cost per alert: document and bulk
// action line, before gzip and the network.
func BenchmarkEncode(b *testing.B) {
	o, err := New(Config{HostPort: "http://127.0.0.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	a := testAlert()
	var buf bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := o.appendAction(&buf, a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}
