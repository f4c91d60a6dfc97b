package falcojson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// referenceMarshal is the encoding/json encoder Marshal used before
// AppendMarshal, kept as the reference the hand-written encoder must match
// byte for byte. fieldHTML reproduces its one inconsistency: output_fields
// values went through json.Marshal, which escapes <, > and & as \u003c etc.
// although every other string was written with SetEscapeHTML(false).
// AppendMarshal escapes no HTML anywhere (as Falco); with fieldHTML false the
// reference does the same.
func referenceMarshal(a *harrierv1.Alert, fieldHTML bool) ([]byte, error) {
	w := referenceWire{
		UUID:           a.GetId(),
		Hostname:       a.GetHostname(),
		Output:         a.GetOutput(),
		OutputFields:   make(map[string]json.RawMessage, len(a.GetOutputFields())),
		Priority:       a.GetPriority().FalcoName(),
		Rule:           a.GetRule(),
		Source:         a.GetSource(),
		Tags:           a.GetTags(),
		Time:           referenceTime(a.GetTime()),
		SensorID:       a.GetSensorId(),
		RulesetVersion: a.GetRulesetVersion(),
		Count:          a.GetCount(),
	}
	if w.Tags == nil {
		w.Tags = []string{}
	}
	if a.GetFirstTime() != nil {
		w.FirstTime = referenceTime(a.GetFirstTime())
	}
	if a.GetLastTime() != nil {
		w.LastTime = referenceTime(a.GetLastTime())
	}
	for k, v := range a.GetOutputFields() {
		raw, err := referenceValue(v, fieldHTML)
		if err != nil {
			return nil, fmt.Errorf("output field %q: %w", k, err)
		}
		w.OutputFields[k] = raw
	}
	return encodeNoHTML(&w)
}

// referenceWire is the struct the previous encoder and decoder used.
type referenceWire struct {
	UUID           string                     `json:"uuid,omitempty"`
	Hostname       string                     `json:"hostname"`
	Output         string                     `json:"output"`
	OutputFields   map[string]json.RawMessage `json:"output_fields"`
	Priority       string                     `json:"priority"`
	Rule           string                     `json:"rule"`
	Source         string                     `json:"source"`
	Tags           []string                   `json:"tags"`
	Time           string                     `json:"time"`
	SensorID       string                     `json:"sensor_id,omitempty"`
	RulesetVersion string                     `json:"ruleset_version,omitempty"`
	Count          uint32                     `json:"count,omitempty"`
	FirstTime      string                     `json:"first_time,omitempty"`
	LastTime       string                     `json:"last_time,omitempty"`
}

func encodeNoHTML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func referenceTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return time.Unix(0, 0).UTC().Format(TimeFormat)
	}
	return ts.AsTime().UTC().Format(TimeFormat)
}

func referenceValue(v *harrierv1.FieldValue, fieldHTML bool) (json.RawMessage, error) {
	marshal := encodeNoHTML
	if fieldHTML {
		marshal = json.Marshal
	}
	switch k := v.GetKind().(type) {
	case *harrierv1.FieldValue_StringValue:
		return marshal(k.StringValue)
	case *harrierv1.FieldValue_IntValue:
		return marshal(k.IntValue)
	case *harrierv1.FieldValue_UintValue:
		return marshal(k.UintValue)
	case *harrierv1.FieldValue_BoolValue:
		return marshal(k.BoolValue)
	case *harrierv1.FieldValue_StringList:
		vals := k.StringList.GetValues()
		if vals == nil {
			vals = []string{}
		}
		return marshal(vals)
	case *harrierv1.FieldValue_NullValue, nil:
		return json.RawMessage("null"), nil
	default:
		return nil, fmt.Errorf("unsupported value %T", k)
	}
}

// TestAppendStringMatchesEncodingJSON checks the string escaper against
// encoding/json on every one- and two-byte string and on the awkward cases
// longer than that.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, err := encodeNoHTML(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
	for i := range 256 {
		check(string([]byte{byte(i)}))
		for j := range 256 {
			check(string([]byte{byte(i), byte(j)}))
		}
	}
	for _, s := range []string{
		"", "plain", `<script>alert("x")</script> & more`, "a\u2028b\u2029c\u2027\u202a",
		"\x00\x01\x1f\x7f\b\f\n\r\t\\\"/", "é日本語🙂", "\xe2\x80", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
		"tail\xff", "\xffhead", "mid\xfe\xfdmid", "\U0010ffff", strings.Repeat("x<\u2028\xff", 100),
	} {
		check(s)
	}
}

// TestAppendMarshalMatchesReference covers every key and kind against the
// reference, plus nil and empty shapes.
func TestAppendMarshalMatchesReference(t *testing.T) {
	tests := map[string]*harrierv1.Alert{
		"empty":   {},
		"syscall": syscallAlert(),
		"k8s":     k8sAlert(),
		"all kinds and optional keys": {
			Id: "id<&>", Hostname: "h\u2028", Output: "o\x00\xff", Rule: "r", Source: "s",
			Priority: harrierv1.Priority_PRIORITY_DEBUG, Tags: []string{"a", "", "<b>"},
			Time:      &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999999999}, // 9999-12-31T23:59:59.999999999Z
			FirstTime: &timestamppb.Timestamp{Seconds: -62135596800},                   // 0001-01-01
			LastTime:  &timestamppb.Timestamp{Seconds: 253402300800},                   // year 10000: package time's spelling
			SensorId:  "sensor", RulesetVersion: "v1", Count: 4294967295,
			OutputFields: map[string]*harrierv1.FieldValue{
				"s":      {Kind: &harrierv1.FieldValue_StringValue{StringValue: "<x> & \"y\""}},
				"i":      {Kind: &harrierv1.FieldValue_IntValue{IntValue: -9223372036854775808}},
				"u":      {Kind: &harrierv1.FieldValue_UintValue{UintValue: 18446744073709551615}},
				"t":      {Kind: &harrierv1.FieldValue_BoolValue{BoolValue: true}},
				"f":      {Kind: &harrierv1.FieldValue_BoolValue{}},
				"l":      {Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: []string{"a", "\xff"}}}},
				"l0":     {Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{}}},
				"lnil":   {Kind: &harrierv1.FieldValue_StringList{}},
				"n":      {Kind: &harrierv1.FieldValue_NullValue{}},
				"nokind": {},
				"nil":    nil,
				"\xff":   {Kind: &harrierv1.FieldValue_StringValue{StringValue: "invalid key"}},
				"Z":      {Kind: &harrierv1.FieldValue_IntValue{IntValue: 1}}, // sorts before lower case
			},
		},
		"unknown priority, nanos out of range": {
			Rule: "r", Priority: harrierv1.Priority(99),
			Time: &timestamppb.Timestamp{Seconds: 1, Nanos: -1},
		},
	}
	for name, a := range tests {
		t.Run(name, func(t *testing.T) { assertEquivalent(t, a) })
	}
}

// assertEquivalent checks that AppendMarshal (appending after a prefix, to
// catch offset bugs) and Marshal equal the reference, and that the
// original encoder's bytes decode to the same JSON value.
func assertEquivalent(t *testing.T, a *harrierv1.Alert) []byte {
	t.Helper()
	want, err := referenceMarshal(a, false)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got, err := AppendMarshal(prefix, a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("AppendMarshal:\n got %q\nwant %q", got, want)
	}
	if m, err := Marshal(a); err != nil || !bytes.Equal(m, want) {
		t.Fatalf("Marshal = %q, %v\nwant %q", m, err, want)
	}
	old, err := referenceMarshal(a, true)
	if err != nil {
		t.Fatal(err)
	}
	var oldV, newV any
	if err := json.Unmarshal(old, &oldV); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &newV); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(oldV, newV) {
		t.Fatalf("decoded value differs from the original encoder's:\n old %s\n new %s", old, want)
	}
	return want
}

// FuzzAppendMarshalEquivalence builds alerts from arbitrary strings (split
// on '|' into the alert's strings and output_fields keys) and numbers, and
// checks AppendMarshal against the encoding/json reference and that
// Unmarshal gives the alert back (modulo what JSON cannot carry).
func FuzzAppendMarshalEquivalence(f *testing.F) {
	f.Add("host|Sensitive file opened <file=/etc/shadow> & more|Read sensitive file|syscall|/etc/shadow|bash", "fd.name|proc.name|proc.pid|evt.res|proc.aname|k8s.ns.name|container.id", uint64(42), int64(1795514400), int32(123456789), int32(4), uint16(0))
	f.Add("\x00\x01\x1f\x7f|\b\f\n\r\t|\u2028\u2029|\xff\xfe|\xe2\x80|\xed\xa0\x80|é日本🙂|\"\\/", "a\xff|\u2028|<k>|\x00|Z|z", uint64(1<<63), int64(-62135596800), int32(0), int32(8), uint16(0xffff))
	f.Add("", "", uint64(0), int64(0), int32(-1), int32(0), uint16(0))
	f.Add("||||||||", "|||", uint64(9223372036854775807), int64(253402300800), int32(999999999), int32(99), uint16(0x5a5a))
	f.Add("x", "a|a|b|b", uint64(7), int64(-1), int32(1000000000), int32(-3), uint16(0x0f0f))
	f.Fuzz(func(t *testing.T, text, keys string, num uint64, secs int64, nanos int32, prio int32, shape uint16) {
		a := fuzzAlert(text, keys, num, secs, nanos, prio, shape)
		out := assertEquivalent(t, a)
		want, ok := decodable(a)
		if !ok {
			return
		}
		back, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal of our output: %v\n%s", err, out)
		}
		if !proto.Equal(back, want) {
			t.Fatalf("round trip:\n got %v\nwant %v\njson %s", back, want, out)
		}
	})
}

func fuzzAlert(text, keys string, num uint64, secs int64, nanos int32, prio int32, shape uint16) *harrierv1.Alert {
	parts := strings.Split(text, "|")
	part := func(i int) string { return parts[i%len(parts)] }
	a := &harrierv1.Alert{
		Hostname: part(0), Output: part(1), Rule: part(2), Source: part(3), Id: part(4),
		SensorId: part(5), RulesetVersion: part(6), Priority: harrierv1.Priority(prio),
		Time:  &timestamppb.Timestamp{Seconds: secs, Nanos: nanos},
		Count: uint32(num),
	}
	if shape&1 != 0 {
		a.Time = nil
	}
	if shape&2 != 0 {
		a.FirstTime = &timestamppb.Timestamp{Seconds: secs - int64(shape), Nanos: nanos / 2}
	}
	if shape&4 != 0 {
		a.LastTime = &timestamppb.Timestamp{Seconds: secs + int64(shape)}
	}
	if shape&8 != 0 {
		a.Tags = parts
	}
	if keys != "" {
		a.OutputFields = map[string]*harrierv1.FieldValue{}
		for i, k := range strings.Split(keys, "|") {
			var v *harrierv1.FieldValue
			switch (int(shape>>4) + i) % 8 {
			case 0:
				v = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: part(i)}}
			case 1:
				v = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: int64(num) - int64(i)}}
			case 2:
				v = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_UintValue{UintValue: num + uint64(i)}}
			case 3:
				v = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_BoolValue{BoolValue: (num>>i)&1 != 0}}
			case 4: // short lists: keys × parts would make big inputs quadratic
				v = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: parts[:i%min(len(parts), 5)]}}}
			case 5:
				v = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_NullValue{}}
			case 6:
				v = &harrierv1.FieldValue{}
			}
			a.OutputFields[k] = v
		}
	}
	return a
}

// decodable is what Unmarshal should return for a's JSON: strings with each
// invalid byte as U+FFFD, nulls as NullValue, uints that fit int64 as ints,
// times normalized, unknown priorities unset. ok is false when a cannot
// come back: no rule, a time outside RFC 3339's years, or output_fields
// keys that collide once made valid UTF-8.
func decodable(a *harrierv1.Alert) (*harrierv1.Alert, bool) {
	valid := func(s string) string { return string([]rune(s)) }
	validAll := func(ss []string) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = valid(s)
		}
		return out
	}
	var ok = a.GetRule() != ""
	norm := func(ts *timestamppb.Timestamp) *timestamppb.Timestamp {
		t := ts.AsTime()
		if ts == nil {
			t = time.Unix(0, 0).UTC()
		}
		if y := t.Year(); y < 0 || y > 9999 {
			ok = false
		}
		return timestamppb.New(t)
	}
	w := &harrierv1.Alert{
		Id: valid(a.GetId()), Hostname: valid(a.GetHostname()), Output: valid(a.GetOutput()),
		Rule: valid(a.GetRule()), Source: valid(a.GetSource()), Tags: validAll(a.GetTags()),
		SensorId: valid(a.GetSensorId()), RulesetVersion: valid(a.GetRulesetVersion()), Count: a.GetCount(),
		Time: norm(a.GetTime()),
	}
	if a.GetPriority().FalcoName() != "" {
		w.Priority = a.GetPriority()
	}
	if a.GetFirstTime() != nil {
		w.FirstTime = norm(a.GetFirstTime())
	}
	if a.GetLastTime() != nil {
		w.LastTime = norm(a.GetLastTime())
	}
	for k, v := range a.GetOutputFields() {
		if w.OutputFields == nil {
			w.OutputFields = map[string]*harrierv1.FieldValue{}
		}
		vk := valid(k)
		if _, dup := w.OutputFields[vk]; dup {
			ok = false
		}
		var nv *harrierv1.FieldValue
		switch kind := v.GetKind().(type) {
		case *harrierv1.FieldValue_StringValue:
			nv = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: valid(kind.StringValue)}}
		case *harrierv1.FieldValue_UintValue:
			if kind.UintValue <= 1<<63-1 {
				nv = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: int64(kind.UintValue)}}
			} else {
				nv = v
			}
		case *harrierv1.FieldValue_StringList:
			nv = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: validAll(kind.StringList.GetValues())}}}
		case *harrierv1.FieldValue_NullValue, nil:
			nv = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}
		default:
			nv = v
		}
		w.OutputFields[vk] = nv
	}
	return w, ok
}

func syscallAlert() *harrierv1.Alert {
	str := func(s string) *harrierv1.FieldValue {
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: s}}
	}
	num := func(i int64) *harrierv1.FieldValue {
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: i}}
	}
	return &harrierv1.Alert{
		Id:       "0190f6d2-7c1a-7b3e-8a2f-1234567890ab",
		Time:     timestamppb.New(time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)),
		Rule:     "Read sensitive file untrusted",
		Priority: harrierv1.Priority_PRIORITY_WARNING,
		Source:   "syscall",
		Output:   "10:00:00.123456789: Warning Sensitive file opened for reading by non-trusted program (file=/etc/shadow gparent=systemd ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow terminal=34816 container_id=host container_name=host)",
		Hostname: "node-1.example.internal",
		Tags:     []string{"T1555", "container", "filesystem", "host", "maturity_stable", "mitre_credential_access"},
		SensorId: "node-1", RulesetVersion: "sha256:3f2a9c",
		OutputFields: map[string]*harrierv1.FieldValue{
			"evt.time":         num(1795514400123456789),
			"evt.type":         str("openat"),
			"fd.name":          str("/etc/shadow"),
			"proc.aname[2]":    str("systemd"),
			"proc.aname[3]":    {Kind: &harrierv1.FieldValue_NullValue{}},
			"proc.aname[4]":    {Kind: &harrierv1.FieldValue_NullValue{}},
			"user.name":        str("root"),
			"user.uid":         num(0),
			"user.loginuid":    num(-1),
			"proc.name":        str("cat"),
			"proc.exepath":     str("/usr/bin/cat"),
			"proc.pname":       str("bash"),
			"proc.cmdline":     str("cat /etc/shadow"),
			"proc.tty":         num(34816),
			"container.id":     str("host"),
			"container.name":   str("host"),
			"proc.pid":         {Kind: &harrierv1.FieldValue_UintValue{UintValue: 424242}},
			"evt.is_open_read": {Kind: &harrierv1.FieldValue_BoolValue{BoolValue: true}},
		},
	}
}

func k8sAlert() *harrierv1.Alert {
	str := func(s string) *harrierv1.FieldValue {
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: s}}
	}
	return &harrierv1.Alert{
		Id:       "0190f6d2-7c1a-7b3e-8a2f-0987654321ab",
		Time:     timestamppb.New(time.Date(2026, 11, 24, 10, 0, 1, 5000, time.UTC)),
		Rule:     "Attach/Exec Pod",
		Priority: harrierv1.Priority_PRIORITY_NOTICE,
		Source:   "k8s_audit",
		Output:   `Attach/Exec to pod (user=system:serviceaccount:ci:deployer pod=web-7d9c ns=prod action=exec command=["sh","-c","id"])`,
		Hostname: "apiserver-0",
		Tags:     []string{"k8s"},
		OutputFields: map[string]*harrierv1.FieldValue{
			"ka.user.name":          str("system:serviceaccount:ci:deployer"),
			"ka.target.name":        str("web-7d9c"),
			"ka.target.namespace":   str("prod"),
			"ka.target.subresource": str("exec"),
			"ka.uri.param[command]": {Kind: &harrierv1.FieldValue_StringList{StringList: &harrierv1.StringList{Values: []string{"sh", "-c", "id"}}}},
			"ka.verb":               str("create"),
			"ka.response.code":      {Kind: &harrierv1.FieldValue_IntValue{IntValue: 101}},
			"ka.auditid":            str("3f7c1b2e-9a2d-4c43-a1e7-5b6d7e8f9a0b"),
		},
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, tc := range []struct {
		name  string
		alert *harrierv1.Alert
	}{{"syscall", syscallAlert()}, {"k8s", k8sAlert()}} {
		b.Run(tc.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := referenceMarshal(tc.alert, true); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/Marshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Marshal(tc.alert); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/AppendMarshal-reuse", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = AppendMarshal(buf[:0], tc.alert); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, tc := range []struct {
		name  string
		alert *harrierv1.Alert
	}{{"syscall", syscallAlert()}, {"k8s", k8sAlert()}} {
		data, err := Marshal(tc.alert)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Unmarshal(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFieldValuesNotHTMLEscaped pins the one byte-level change from the
// original encoder: output_fields values keep <, > and & literal, like every
// other string in the alert and like Falco.
func TestFieldValuesNotHTMLEscaped(t *testing.T) {
	a := &harrierv1.Alert{Rule: "r", OutputFields: map[string]*harrierv1.FieldValue{
		"s": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "<a&b>"}},
	}}
	old, err := referenceMarshal(a, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(old, []byte(`"s":"\u003ca\u0026b\u003e"`)) {
		t.Errorf("original encoder no longer HTML-escapes field values; update this test's comment: %s", old)
	}
	got, err := Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"s":"<a&b>"`)) {
		t.Errorf("Marshal = %s, want the value unescaped", got)
	}
}
