package falcojson

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// decodeProto is Decoder.AppendProto read back into a message, with
// Unmarshal's rule that nothing may follow the object.
func decodeProto(d *Decoder, data []byte) (*harrierv1.Alert, Info, error) {
	rec, info, n, err := d.AppendProto(nil, data)
	if err != nil {
		return nil, info, err
	}
	if n != len(data) {
		return nil, info, errTrailing
	}
	a := new(harrierv1.Alert)
	if err := proto.Unmarshal(rec, a); err != nil {
		return nil, info, err
	}
	return a, info, nil
}

var errTrailing = bytesError("trailing data after the alert object")

type bytesError string

func (e bytesError) Error() string { return string(e) }

func TestDecoderMatchesUnmarshal(t *testing.T) {
	syscall, _ := Marshal(syscallAlert())
	k8s, _ := Marshal(k8sAlert())
	inputs := []string{
		string(syscall), string(k8s),
		`{"hostname":"falco-1","output":"10:00:00.000000000: Notice A shell was spawned","priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","shell"],"time":"2026-11-24T10:00:00.123456789Z","output_fields":{"evt.time":1795514400123456789,"proc.name":"bash","container.id":null}}`,
		`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":[1,"x",null,true],"b":1.5,"c":18446744073709551615,"e":null,"f":-0,"g":"\u00e9\ud83d\ude00\ud800x"}}`,
		`{"RULE":"r","Time":"2026-11-24T10:00:00+02:00","priority":"info","tags":[null,"a"],"output_fields":null,"count":7,"first_time":"2026-11-24T09:00:00Z","last_time":"1970-01-01T00:00:00Z"}`,
		`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":{"x":1},"a":"dup"},"output_fields":{"b":2},"rule":null,"count":null}`,
		`{"rule":"r\u0000","time":"2026-11-24T10:00:00Z","uuid":"u-1","hostname":"h","sensor_id":"s","cluster_name":"c","ruleset_version":"v","x":[{"y":[]}]}` + " \n",
		`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":9223372036854775807,"b":9223372036854775808,"c":-9223372036854775808,"d":-9223372036854775809,"e":9999999999999999999,"f":1795602005408091526,"g":-0,"h":12345678901234567890,"i":1e2,"j":-1.5e-3}}`,
		"{\"rule\":\"r\xff\",\"time\":\"2026-11-24T10:00:00Z\",\"output_fields\":{\"k\xff\":1,\"k\xfe\":\"two\"}}",
		`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"long":"` + strings.Repeat("x", 300) + `","list":["` + strings.Repeat("y", 200) + `"]}}`,
	}
	var d Decoder
	for _, in := range inputs {
		want, err := Unmarshal([]byte(in))
		if err != nil {
			t.Fatalf("Unmarshal(%s): %v", in, err)
		}
		got, info, err := decodeProto(&d, []byte(in))
		if err != nil {
			t.Fatalf("Decoder(%s): %v", in, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("Decoder = %v\nUnmarshal %v\n%s", got, want, in)
		}
		if string(info.ID) != want.GetId() || string(info.Hostname) != want.GetHostname() {
			t.Fatalf("info id %q host %q, want %q %q", info.ID, info.Hostname, want.GetId(), want.GetHostname())
		}
	}
}

func TestDecoderErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{`, "offset 1"},
		{`{"time":"2026-11-24T10:00:00Z"}`, `missing "rule"`},
		{`{"rule":"r"}`, `missing "time"`},
		{`{"rule":"r","time":"yesterday"}`, `"time"`},
		{`{"rule":"r","time":"2026-11-24T10:00:00Z","priority":"urgent"}`, `"urgent"`},
		{`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"x":{"a":1}}}`, `output field "x"`},
		{`{"rule":5,"time":"2026-11-24T10:00:00Z"}`, `"rule" must be a string`},
		{`{"rule":"r","time":"2026-11-24T10:00:00Z","count":-1}`, `"count" must be an unsigned`},
		{`{"rule":"r","time":"2026-11-24T10:00:00Z","tags":"a"}`, `"tags" must be a list`},
		{`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":1e999}}`, `output field "a": bad number`},
		{`{"rule":"r\q","time":"2026-11-24T10:00:00Z"}`, `offset 11: want a valid escape`},
	}
	var d Decoder
	for _, tt := range tests {
		_, _, err := decodeProto(&d, []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decoder(%s) error = %v, want mention of %s", tt.in, err, tt.want)
		}
	}
}

// FuzzDecoderEquivalence holds the Decoder to Unmarshal: the same inputs
// accepted, the same alert. The one allowed difference: a "]" or "}" after
// the object, which encoding/json's Decoder does not look at.
func FuzzDecoderEquivalence(f *testing.F) {
	syscall, _ := Marshal(syscallAlert())
	f.Add(syscall)
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":[1,"x",null],"b":1.5,"c":18446744073709551615,"d":{"x":1},"e":null}}`))
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","priority":"info","tags":null,"output_fields":null}`))
	f.Add([]byte(`{"rule":"r","time":"2026-11-24T10:00:00Z","output_fields":{"a":1,"a":"dup"},"count":3}`))
	f.Add([]byte(`{"Rule":"r\u00e9","time":"2026-11-24T10:00:00Z","tags":["\ud800"],"x":[{"y":[1,{}]}]}`))
	var d Decoder
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := Unmarshal(data)
		got, info, gotErr := decodeProto(&d, data)
		if gotErr == errTrailing && wantErr == nil {
			if _, _, n, _ := d.AppendProto(nil, data); data[n] == ']' || data[n] == '}' {
				return
			}
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("Decoder error %v, Unmarshal error %v\n%q", gotErr, wantErr, data)
		}
		if gotErr != nil {
			return
		}
		if !proto.Equal(got, want) {
			t.Fatalf("Decoder = %v\nUnmarshal %v\n%q", got, want, data)
		}
		if string(info.ID) != want.GetId() || string(info.Hostname) != want.GetHostname() {
			t.Fatalf("info id %q host %q, want %q %q", info.ID, info.Hostname, want.GetId(), want.GetHostname())
		}
	})
}

// BenchmarkDecode compares the Decoder with what the router did before it:
// Unmarshal into a message, then proto.Marshal for the journal.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name  string
		alert *harrierv1.Alert
	}{{"syscall", syscallAlert()}, {"k8s", k8sAlert()}} {
		data, err := Marshal(tc.alert)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/Unmarshal+proto.Marshal", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var rec []byte
			for b.Loop() {
				a, err := Unmarshal(data)
				if err != nil {
					b.Fatal(err)
				}
				if rec, err = (proto.MarshalOptions{}).MarshalAppend(rec[:0], a); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/Decoder", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var d Decoder
			var rec []byte
			for b.Loop() {
				if rec, _, _, err = d.AppendProto(rec[:0], data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
