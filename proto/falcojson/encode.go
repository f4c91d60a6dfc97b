package falcojson

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// AppendMarshal appends a's Falco JSON (one line, no trailing newline) to
// dst and returns the extended buffer. Outputs encode every alert, so this
// writes the bytes directly instead of going through encoding/json: no
// reflection and no intermediate maps; a caller that reuses dst allocates
// nothing (beyond 32 output fields, one slice to sort them).
//
// The bytes are what encoding/json produces with SetEscapeHTML(false) for
// the same object: keys in a fixed order, output_fields keys sorted, strings
// escaped the same way (including invalid UTF-8 as \ufffd and U+2028/U+2029
// escaped). On error dst is returned unextended.
func AppendMarshal(dst []byte, a *harrierv1.Alert) ([]byte, error) {
	orig := len(dst)
	dst = append(dst, '{')
	if id := a.GetId(); id != "" {
		dst = append(dst, `"uuid":`...)
		dst = appendString(dst, id)
		dst = append(dst, ',')
	}
	dst = append(dst, `"hostname":`...)
	dst = appendString(dst, a.GetHostname())
	dst = append(dst, `,"output":`...)
	dst = appendString(dst, a.GetOutput())
	dst = append(dst, `,"output_fields":{`...)
	if fields := a.GetOutputFields(); len(fields) > 0 {
		// Sort pairs, not keys, to save a map lookup per field; most alerts
		// carry fewer than 32 fields, which keeps the pairs off the heap.
		var buf [32]field
		sorted := buf[:0]
		for k, v := range fields {
			sorted = append(sorted, field{k, v})
		}
		slices.SortFunc(sorted, func(a, b field) int { return strings.Compare(a.key, b.key) }) // byte order, as encoding/json
		for i, f := range sorted {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, f.key)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = appendValue(dst, f.value); !ok {
				return dst[:orig], fmt.Errorf("output field %q: unsupported value %T", f.key, f.value.GetKind())
			}
		}
	}
	dst = append(dst, `},"priority":`...)
	dst = appendString(dst, a.GetPriority().FalcoName())
	dst = append(dst, `,"rule":`...)
	dst = appendString(dst, a.GetRule())
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, a.GetSource())
	dst = append(dst, `,"tags":`...)
	dst = appendStrings(dst, a.GetTags()) // nil tags encode as [], as Falco's
	dst = append(dst, `,"time":"`...)
	dst = appendTime(dst, a.GetTime())
	dst = append(dst, '"')
	if s := a.GetSensorId(); s != "" {
		dst = append(dst, `,"sensor_id":`...)
		dst = appendString(dst, s)
	}
	if s := a.GetClusterName(); s != "" {
		dst = append(dst, `,"cluster_name":`...)
		dst = appendString(dst, s)
	}
	if s := a.GetRulesetVersion(); s != "" {
		dst = append(dst, `,"ruleset_version":`...)
		dst = appendString(dst, s)
	}
	if c := a.GetCount(); c != 0 {
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendUint(dst, uint64(c), 10)
	}
	if ts := a.GetFirstTime(); ts != nil {
		dst = append(dst, `,"first_time":"`...)
		dst = appendTime(dst, ts)
		dst = append(dst, '"')
	}
	if ts := a.GetLastTime(); ts != nil {
		dst = append(dst, `,"last_time":"`...)
		dst = appendTime(dst, ts)
		dst = append(dst, '"')
	}
	return append(dst, '}'), nil
}

type field struct {
	key   string
	value *harrierv1.FieldValue
}

// appendValue appends one output_fields value; a nil value or kind is
// null, as Falco writes fields that have no value.
func appendValue(dst []byte, v *harrierv1.FieldValue) ([]byte, bool) {
	switch k := v.GetKind().(type) {
	case *harrierv1.FieldValue_StringValue:
		return appendString(dst, k.StringValue), true
	case *harrierv1.FieldValue_IntValue:
		return strconv.AppendInt(dst, k.IntValue, 10), true
	case *harrierv1.FieldValue_UintValue:
		return strconv.AppendUint(dst, k.UintValue, 10), true
	case *harrierv1.FieldValue_BoolValue:
		return strconv.AppendBool(dst, k.BoolValue), true
	case *harrierv1.FieldValue_StringList:
		return appendStrings(dst, k.StringList.GetValues()), true
	case *harrierv1.FieldValue_NullValue, nil:
		return append(dst, "null"...), true
	default:
		return dst, false
	}
}

// appendStrings appends ss as a JSON array; nil is [] rather than null.
func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendTime appends ts in TimeFormat (UTC, nine fractional digits); a nil
// ts is the Unix epoch, as before.
func appendTime(dst []byte, ts *timestamppb.Timestamp) []byte {
	var t time.Time
	if ts == nil {
		t = time.Unix(0, 0).UTC()
	} else {
		t = ts.AsTime() // already UTC
	}
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, TimeFormat) // rare; let package time spell it
	}
	hour, minute, sec := t.Clock()
	var b [30]byte // len(TimeFormat)
	put4(b[0:], year)
	b[4] = '-'
	put2(b[5:], int(month))
	b[7] = '-'
	put2(b[8:], day)
	b[10] = 'T'
	put2(b[11:], hour)
	b[13] = ':'
	put2(b[14:], minute)
	b[16] = ':'
	put2(b[17:], sec)
	b[19] = '.'
	ns := t.Nanosecond()
	for i := 28; i >= 20; i-- {
		b[i] = byte('0' + ns%10)
		ns /= 10
	}
	b[29] = 'Z'
	return append(dst, b[:]...)
}

func put2(b []byte, v int) {
	b[0] = byte('0' + v/10)
	b[1] = byte('0' + v%10)
}

func put4(b []byte, v int) {
	put2(b, v/100)
	put2(b[2:], v%100)
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes a JSON string holds unescaped: everything
// printable but '"' and '\\'. HTML characters stay as they are, since Falco
// does not escape them either. Bytes of multi-byte UTF-8 are not plain
// (they need decoding); 256 entries spare a bounds check per byte.
var plain = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendString appends s as a JSON string exactly as encoding/json does
// with SetEscapeHTML(false).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if plain[b] {
			i++
			continue
		}
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end lines in JavaScript;
		// encoding/json escapes them, so we do too.
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
