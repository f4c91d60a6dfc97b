package falcojson

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Decoder turns Falco JSON straight into the protobuf encoding of
// harrierv1.Alert, without building the message or a map of the
// output_fields: the router's HTTP ingest stores exactly those bytes, so a
// request costs no allocation. It accepts what Unmarshal accepts and yields
// the same alert (FuzzDecoderEquivalence), except that it also refuses a
// stray "]" or "}" after the object, which encoding/json's Decoder lets
// through. The zero value is ready; a Decoder is not safe for concurrent
// use, reuse one per goroutine.
type Decoder struct {
	fields  [nFields]span
	entries []entry // output_fields, in order; the last of a key wins
	tmp     []byte  // unescaped strings
	ent     []byte  // one map entry being built
	keys    []byte  // unescaped output_fields keys
}

// Info is what a caller needs of a decoded alert besides its record: views
// into the record AppendProto returned, valid until it is appended to
// again.
type Info struct {
	ID       []byte // empty when the alert has no "uuid"
	Hostname []byte
}

type span struct{ from, to int } // a JSON value in the input; to == 0: absent

type entry struct {
	key      span // in data, or in d.keys when scratch
	scratch  bool
	val      span
	replaced bool // a later entry has the same key
}

// Top-level keys the decoder reads, with their protobuf field numbers.
const (
	fUUID = iota
	fHostname
	fOutput
	fOutputFields
	fPriority
	fRule
	fSource
	fTags
	fTime
	fSensorID
	fClusterName
	fRulesetVersion
	fCount
	fFirstTime
	fLastTime
	nFields
)

var fieldNames = [nFields]string{"uuid", "hostname", "output", "output_fields", "priority", "rule", "source",
	"tags", "time", "sensor_id", "cluster_name", "ruleset_version", "count", "first_time", "last_time"}

// Alert field numbers (proto/harrier/v1/alert.proto).
const (
	pbID             = 1
	pbTime           = 2
	pbRule           = 3
	pbPriority       = 4
	pbSource         = 5
	pbOutput         = 6
	pbOutputFields   = 7
	pbTags           = 8
	pbHostname       = 9
	pbSensorID       = 10
	pbRulesetVersion = 11
	pbCount          = 12
	pbFirstTime      = 13
	pbLastTime       = 14
	pbClusterName    = 15
)

// FieldValue kinds.
const (
	pbString = 1
	pbInt    = 2
	pbBool   = 3
	pbList   = 4
	pbNull   = 5
	pbUint   = 6
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// AppendProto decodes the Falco JSON object at the start of data and
// appends its protobuf encoding to dst. n is the number of bytes of data it
// used (the object and the whitespace after it). The alert keeps an empty
// id when the JSON has no "uuid": the caller assigns one.
func (d *Decoder) AppendProto(dst, data []byte) (out []byte, info Info, n int, err error) {
	n, err = d.scan(data)
	if err != nil {
		return dst, Info{}, 0, fmt.Errorf("falco json: %w", err)
	}
	out, info, err = d.emit(dst, data)
	if err != nil {
		return dst, Info{}, 0, fmt.Errorf("falco json: %w", err)
	}
	return out, info, n, nil
}

// scan checks the syntax and the JSON types of the object and records where
// each known value is.
func (d *Decoder) scan(data []byte) (int, error) {
	d.fields = [nFields]span{}
	d.entries = d.entries[:0]
	d.keys = d.keys[:0]
	i := skipWS(data, 0)
	if i >= len(data) {
		return 0, errors.New("empty input: want an alert object")
	}
	if hasLit(data, i, "null") { // encoding/json leaves the alert empty
		return skipWS(data, i+4), nil
	}
	if data[i] != '{' {
		return 0, fmt.Errorf("offset %d: want an alert object, found %s", i, quoteChar(data[i]))
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipWS(data, i+1), nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, syntaxAt(data, i, "a key")
		}
		kFrom := i + 1
		end, esc, err := scanString(data, i)
		if err != nil {
			return 0, err
		}
		key := data[kFrom : end-1]
		if esc {
			d.tmp = appendUnquoted(d.tmp[:0], key)
			key = d.tmp
		}
		f := lookupField(key)
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return 0, syntaxAt(data, i, `":" after a key`)
		}
		i = skipWS(data, i+1)
		vFrom := i
		if i, err = d.value(data, i, f); err != nil {
			return 0, err
		}
		v := span{vFrom, i}
		isNull := hasLit(data, vFrom, "null")
		switch {
		case f == fOutputFields:
			if isNull { // encoding/json sets the map to nil
				d.entries = d.entries[:0]
				d.keys = d.keys[:0]
			}
			// the entries were recorded by value
		case f == fTags:
			if isNull {
				d.fields[f] = span{}
			} else {
				d.fields[f] = v
			}
		case f >= 0 && !isNull: // null leaves a string or number as it was
			d.fields[f] = v
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return 0, syntaxAt(data, i, `"," or "}"`)
		}
		if data[i] == '}' {
			return skipWS(data, i+1), nil
		}
		if data[i] != ',' {
			return 0, syntaxAt(data, i, `"," or "}"`)
		}
		i = skipWS(data, i+1)
	}
}

// value checks the value at data[i] for field f (-1: unknown, any JSON) and
// returns the offset after it.
func (d *Decoder) value(data []byte, i, f int) (int, error) {
	if i >= len(data) {
		return 0, syntaxAt(data, i, "a value")
	}
	if hasLit(data, i, "null") {
		return i + 4, nil
	}
	name := ""
	if f >= 0 {
		name = fieldNames[f]
	}
	switch f {
	case -1:
		return skipValue(data, i)
	case fOutputFields:
		if data[i] != '{' {
			return 0, typeErr(data, i, name, "an object")
		}
		return d.outputFields(data, i)
	case fTags:
		if data[i] != '[' {
			return 0, typeErr(data, i, name, "a list of strings")
		}
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		for {
			switch {
			case hasLit(data, i, "null"):
				i += 4
			case i < len(data) && data[i] == '"':
				end, _, err := scanString(data, i)
				if err != nil {
					return 0, err
				}
				i = end
			default:
				if i < len(data) && isValueStart(data[i]) {
					return 0, typeErr(data, i, name, "a list of strings")
				}
				return 0, syntaxAt(data, i, "a value")
			}
			i = skipWS(data, i)
			if i < len(data) && data[i] == ']' {
				return i + 1, nil
			}
			if i >= len(data) || data[i] != ',' {
				return 0, syntaxAt(data, i, `"," or "]"`)
			}
			i = skipWS(data, i+1)
		}
	case fCount:
		end, err := scanNumber(data, i)
		if err != nil {
			if isValueStart(data[i]) {
				return 0, typeErr(data, i, name, "an unsigned 32-bit integer")
			}
			return 0, err
		}
		if _, ok := parseUint32(data[i:end]); !ok {
			return 0, typeErr(data, i, name, "an unsigned 32-bit integer")
		}
		return end, nil
	default: // the string fields
		if data[i] != '"' {
			if isValueStart(data[i]) {
				return 0, typeErr(data, i, name, "a string")
			}
			return 0, syntaxAt(data, i, "a value")
		}
		end, _, err := scanString(data, i)
		return end, err
	}
}

// outputFields records each key and value of the output_fields object at
// data[i].
func (d *Decoder) outputFields(data []byte, i int) (int, error) {
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, syntaxAt(data, i, "a key")
		}
		end, esc, err := scanString(data, i)
		if err != nil {
			return 0, err
		}
		e := entry{key: span{i + 1, end - 1}}
		if esc || !utf8.Valid(data[i+1:end-1]) { // compared decoded, as map keys

			from := len(d.keys)
			d.keys = appendUnquoted(d.keys, data[i+1:end-1])
			e.key, e.scratch = span{from, len(d.keys)}, true
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			return 0, syntaxAt(data, i, `":" after a key`)
		}
		i = skipWS(data, i+1)
		vFrom := i
		if i, err = skipValue(data, i); err != nil {
			return 0, err
		}
		e.val = span{vFrom, i}
		d.entries = append(d.entries, e)
		i = skipWS(data, i)
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return 0, syntaxAt(data, i, `"," or "}"`)
		}
		i = skipWS(data, i+1)
	}
}

func (d *Decoder) entryKey(data []byte, e *entry) []byte {
	if e.scratch {
		return d.keys[e.key.from:e.key.to]
	}
	return data[e.key.from:e.key.to]
}

// emit appends the protobuf encoding of the scanned alert.
func (d *Decoder) emit(dst, data []byte) ([]byte, Info, error) {
	var info Info
	f := &d.fields
	if f[fRule].to == 0 || isEmptyString(data, f[fRule]) {
		return dst, info, errors.New(`missing "rule"`)
	}
	var prio harrierv1.Priority
	if s := f[fPriority]; s.to != 0 && !isEmptyString(data, s) {
		d.tmp = appendUnquoted(d.tmp[:0], data[s.from+1:s.to-1])
		var err error
		if prio, err = parsePriority(d.tmp); err != nil {
			return dst, info, err
		}
	}
	var ts [3][2]int64 // time, first_time, last_time: seconds, nanos
	var has [3]bool
	for k, fi := range [3]int{fTime, fFirstTime, fLastTime} {
		s := f[fi]
		if s.to == 0 || isEmptyString(data, s) {
			if fi == fTime {
				return dst, info, errors.New(`missing "time"`)
			}
			continue
		}
		d.tmp = appendUnquoted(d.tmp[:0], data[s.from+1:s.to-1])
		t, err := parseTimeBytes(d.tmp)
		if err != nil {
			return dst, info, fmt.Errorf("%q: %w", fieldNames[fi], err)
		}
		ts[k], has[k] = [2]int64{t.Unix(), int64(t.Nanosecond())}, true
	}
	// Mark output_fields keys that a later duplicate replaces (last wins,
	// as in a map); a field list is short, so quadratic is cheapest.
	for a := range d.entries {
		ka := d.entryKey(data, &d.entries[a])
		for b := a + 1; b < len(d.entries); b++ {
			if bytes.Equal(ka, d.entryKey(data, &d.entries[b])) {
				d.entries[a].replaced = true
				break
			}
		}
	}

	rec0 := len(dst)
	var idAt, hostAt span
	dst, idAt = d.appendString(dst, data, pbID, f[fUUID])
	if has[0] {
		dst = appendTimestamp(dst, pbTime, ts[0])
	}
	dst, _ = d.appendString(dst, data, pbRule, f[fRule])
	if prio != 0 {
		dst = protowire.AppendTag(dst, pbPriority, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(prio))
	}
	dst, _ = d.appendString(dst, data, pbSource, f[fSource])
	dst, _ = d.appendString(dst, data, pbOutput, f[fOutput])
	for k := range d.entries {
		e := &d.entries[k]
		if e.replaced {
			continue
		}
		var err error
		if dst, err = d.appendEntry(dst, data, e); err != nil {
			return dst[:rec0], Info{}, err
		}
	}
	if s := f[fTags]; s.to != 0 {
		dst = d.appendTags(dst, data, s)
	}
	dst, hostAt = d.appendString(dst, data, pbHostname, f[fHostname])
	dst, _ = d.appendString(dst, data, pbSensorID, f[fSensorID])
	dst, _ = d.appendString(dst, data, pbRulesetVersion, f[fRulesetVersion])
	if s := f[fCount]; s.to != 0 {
		if c, _ := parseUint32(data[s.from:s.to]); c != 0 {
			dst = protowire.AppendTag(dst, pbCount, protowire.VarintType)
			dst = protowire.AppendVarint(dst, uint64(c))
		}
	}
	if has[1] {
		dst = appendTimestamp(dst, pbFirstTime, ts[1])
	}
	if has[2] {
		dst = appendTimestamp(dst, pbLastTime, ts[2])
	}
	dst, _ = d.appendString(dst, data, pbClusterName, f[fClusterName])
	info.ID = dst[idAt.from:idAt.to]
	info.Hostname = dst[hostAt.from:hostAt.to]
	return dst, info, nil
}

func isEmptyString(data []byte, s span) bool { return s.to-s.from == 2 }

// appendString appends string field num from the JSON string at s (proto3:
// nothing when empty) and returns where its text landed in dst.
func (d *Decoder) appendString(dst, data []byte, num protowire.Number, s span) ([]byte, span) {
	if s.to == 0 || isEmptyString(data, s) {
		return dst, span{}
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return d.appendStringValue(dst, data[s.from+1:s.to-1])
}

// appendStringValue appends the length-prefixed text of the JSON string
// body raw (between its quotes).
func (d *Decoder) appendStringValue(dst, raw []byte) ([]byte, span) {
	if plainJSONString(raw) {
		dst = protowire.AppendVarint(dst, uint64(len(raw)))
		from := len(dst)
		return append(dst, raw...), span{from, from + len(raw)}
	}
	d.tmp = appendUnquoted(d.tmp[:0], raw)
	dst = protowire.AppendVarint(dst, uint64(len(d.tmp)))
	from := len(dst)
	return append(dst, d.tmp...), span{from, from + len(d.tmp)}
}

// plainJSONString reports whether a JSON string body needs no unescaping: no
// backslash and valid UTF-8.
func plainJSONString(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			return bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
		}
	}
	return true
}

func appendTimestamp(dst []byte, num protowire.Number, t [2]int64) []byte {
	n := 0
	if t[0] != 0 {
		n += 1 + protowire.SizeVarint(uint64(t[0]))
	}
	if t[1] != 0 {
		n += 1 + protowire.SizeVarint(uint64(t[1]))
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(n))
	if t[0] != 0 {
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(t[0]))
	}
	if t[1] != 0 {
		dst = protowire.AppendTag(dst, 2, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(t[1]))
	}
	return dst
}

// appendTags appends each element of the checked list at s (null: "").
func (d *Decoder) appendTags(dst, data []byte, s span) []byte {
	i := skipWS(data, s.from+1)
	for i < s.to && data[i] != ']' {
		dst = protowire.AppendTag(dst, pbTags, protowire.BytesType)
		if data[i] == 'n' {
			dst = protowire.AppendVarint(dst, 0)
			i += 4
		} else {
			end, _, _ := scanString(data, i)
			dst, _ = d.appendStringValue(dst, data[i+1:end-1])
			i = end
		}
		i = skipWS(data, i)
		if data[i] == ',' {
			i = skipWS(data, i+1)
		}
	}
	return dst
}

// appendEntry appends one output_fields map entry: key and FieldValue.
func (d *Decoder) appendEntry(dst, data []byte, e *entry) ([]byte, error) {
	key := d.entryKey(data, e)
	d.ent = d.ent[:0]
	d.ent = protowire.AppendTag(d.ent, 1, protowire.BytesType)
	if e.scratch {
		d.ent = protowire.AppendBytes(d.ent, key)
	} else {
		d.ent, _ = d.appendStringValue(d.ent, key)
	}
	d.ent = protowire.AppendTag(d.ent, 2, protowire.BytesType)
	lenAt := len(d.ent)
	d.ent = append(d.ent, 0) // FieldValue length, fixed below
	v := data[e.val.from:e.val.to]
	switch c := v[0]; {
	case c == 'n':
		d.ent = protowire.AppendTag(d.ent, pbNull, protowire.VarintType)
		d.ent = protowire.AppendVarint(d.ent, 0)
	case c == 't' || c == 'f':
		d.ent = protowire.AppendTag(d.ent, pbBool, protowire.VarintType)
		d.ent = protowire.AppendVarint(d.ent, protowire.EncodeBool(c == 't'))
	case c == '"':
		d.ent = protowire.AppendTag(d.ent, pbString, protowire.BytesType)
		d.ent, _ = d.appendStringValue(d.ent, v[1:len(v)-1])
	case c == '[':
		var err error
		if d.ent, err = d.appendList(d.ent, v); err != nil {
			return dst, fmt.Errorf("output field %q: %w", key, err)
		}
	case c == '{':
		return dst, fmt.Errorf("output field %q: unsupported JSON value of type map[string]interface {}", key)
	default:
		var err error
		if d.ent, err = appendNumber(d.ent, v); err != nil {
			return dst, fmt.Errorf("output field %q: %w", key, err)
		}
	}
	// The FieldValue length took one byte; widen it when it needs more.
	if n := len(d.ent) - lenAt - 1; n < 0x80 {
		d.ent[lenAt] = byte(n)
	} else {
		sz := protowire.SizeVarint(uint64(n))
		d.ent = append(d.ent, make([]byte, sz-1)...)
		copy(d.ent[lenAt+sz:], d.ent[lenAt+1:lenAt+1+n])
		protowire.AppendVarint(d.ent[:lenAt], uint64(n))
	}
	dst = protowire.AppendTag(dst, pbOutputFields, protowire.BytesType)
	return protowire.AppendBytes(dst, d.ent), nil
}

// appendNumber appends a FieldValue for the JSON number v: int64 when it
// fits, else uint64, else its text (no typed slot for fractions).
func appendNumber(dst, v []byte) ([]byte, error) {
	if i, u, isUint, ok := parseInt64(v); ok {
		if isUint {
			dst = protowire.AppendTag(dst, pbUint, protowire.VarintType)
			return protowire.AppendVarint(dst, u), nil
		}
		dst = protowire.AppendTag(dst, pbInt, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(i)), nil
	}
	s := string(v)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		dst = protowire.AppendTag(dst, pbInt, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(i)), nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		dst = protowire.AppendTag(dst, pbUint, protowire.VarintType)
		return protowire.AppendVarint(dst, u), nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return dst, fmt.Errorf("bad number %s", s)
	}
	dst = protowire.AppendTag(dst, pbString, protowire.BytesType)
	return protowire.AppendString(dst, s), nil
}

// appendList appends a StringList FieldValue for the JSON array v: strings,
// numbers as their text, booleans, null as "<NA>".
func (d *Decoder) appendList(dst, v []byte) ([]byte, error) {
	dst = protowire.AppendTag(dst, pbList, protowire.BytesType)
	lenAt := len(dst)
	dst = append(dst, 0)
	i := skipWS(v, 1)
	for i < len(v) && v[i] != ']' {
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		end, _ := skipValue(v, i)
		switch c := v[i]; {
		case c == '"':
			dst, _ = d.appendStringValue(dst, v[i+1:end-1])
		case c == 'n':
			dst = protowire.AppendString(dst, "<NA>")
		case c == 't' || c == 'f' || c == '-' || (c >= '0' && c <= '9'):
			dst = protowire.AppendBytes(dst, v[i:end])
		case c == '[':
			return dst, errors.New("list element of type []interface {}")
		default:
			return dst, errors.New("list element of type map[string]interface {}")
		}
		i = skipWS(v, end)
		if v[i] == ',' {
			i = skipWS(v, i+1)
		}
	}
	if n := len(dst) - lenAt - 1; n < 0x80 {
		dst[lenAt] = byte(n)
	} else {
		sz := protowire.SizeVarint(uint64(n))
		dst = append(dst, make([]byte, sz-1)...)
		copy(dst[lenAt+sz:], dst[lenAt+1:lenAt+1+n])
		protowire.AppendVarint(dst[:lenAt], uint64(n))
	}
	return dst, nil
}

// lookupField matches a key as encoding/json does: exactly, else without
// regard to case. -1 for keys the alert has no place for.
func lookupField(key []byte) int {
	switch string(key) { // no allocation: the conversion is only compared
	case "uuid":
		return fUUID
	case "hostname":
		return fHostname
	case "output":
		return fOutput
	case "output_fields":
		return fOutputFields
	case "priority":
		return fPriority
	case "rule":
		return fRule
	case "source":
		return fSource
	case "tags":
		return fTags
	case "time":
		return fTime
	}
	for f, name := range fieldNames {
		if bytes.EqualFold(key, []byte(name)) {
			return f
		}
	}
	return -1
}

func parsePriority(b []byte) (harrierv1.Priority, error) {
	switch string(b) { // Falco's spellings, without allocating
	case "Emergency":
		return harrierv1.Priority_PRIORITY_EMERGENCY, nil
	case "Alert":
		return harrierv1.Priority_PRIORITY_ALERT, nil
	case "Critical":
		return harrierv1.Priority_PRIORITY_CRITICAL, nil
	case "Error":
		return harrierv1.Priority_PRIORITY_ERROR, nil
	case "Warning":
		return harrierv1.Priority_PRIORITY_WARNING, nil
	case "Notice":
		return harrierv1.Priority_PRIORITY_NOTICE, nil
	case "Informational":
		return harrierv1.Priority_PRIORITY_INFORMATIONAL, nil
	case "Debug":
		return harrierv1.Priority_PRIORITY_DEBUG, nil
	}
	return harrierv1.ParsePriority(string(b))
}

// parseTimeBytes is time.Parse(time.RFC3339Nano) without copying b: a
// parsed time keeps nothing of its text, and an error (which would) comes
// from parsing a copy.
func parseTimeBytes(b []byte) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil {
		return time.Parse(time.RFC3339Nano, string(b))
	}
	return t, nil
}

// parseInt64 parses a JSON integer of at most 19 digits (Falco's
// nanosecond times have 19) without strconv's string: int64 when it fits,
// else uint64 when positive. ok is false for anything else.
func parseInt64(v []byte) (i int64, u uint64, isUint, ok bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, 0, false, false
	}
	var n uint64 // 19 digits stay below 1e19 < 2^64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, 0, false, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case !neg && n <= math.MaxInt64:
		return int64(n), 0, false, true
	case neg && n <= 1<<63:
		return int64(-n), 0, false, true // -(1<<63) wraps to MinInt64
	case !neg:
		return 0, n, true, true
	}
	return 0, 0, false, false
}

// parseUint32 is encoding/json's rule for a uint32 field: decimal digits
// only, in range.
func parseUint32(v []byte) (uint32, bool) {
	if len(v) == 0 || len(v) > 10 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func hasLit(data []byte, i int, lit string) bool {
	return len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit
}

func isValueStart(c byte) bool {
	return c == '"' || c == '{' || c == '[' || c == '-' || c == 't' || c == 'f' || c == 'n' || (c >= '0' && c <= '9')
}

// scanString checks the JSON string at data[i] (a '"') and returns the
// offset after its closing quote and whether it has escapes.
func scanString(data []byte, i int) (int, bool, error) {
	esc := false
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, esc, nil
		case c == '\\':
			esc = true
			j++
			if j >= len(data) {
				return 0, false, syntaxAt(data, j, "an escaped character")
			}
			switch data[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(data)-j < 5 {
					return 0, false, syntaxAt(data, j, "four hex digits")
				}
				for _, h := range data[j+1 : j+5] {
					if !isHex(h) {
						return 0, false, syntaxAt(data, j, "four hex digits")
					}
				}
				j += 4
			default:
				return 0, false, syntaxAt(data, j, "a valid escape")
			}
		case c < 0x20:
			return 0, false, syntaxAt(data, j, "no control character in a string")
		}
	}
	return 0, false, syntaxAt(data, len(data), "the end of a string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// appendUnquoted appends the text of a checked JSON string body as
// encoding/json decodes it: escapes resolved, invalid UTF-8 and lone
// surrogates as U+FFFD.
func appendUnquoted(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			i++
			switch raw[i] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := rune(hex4(raw[i+1:]))
				i += 4
				if utf16.IsSurrogate(r) {
					if len(raw)-i >= 7 && raw[i+1] == '\\' && raw[i+2] == 'u' {
						if dec := utf16.DecodeRune(r, rune(hex4(raw[i+3:]))); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 7
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
			default: // '"', '\\', '/'
				dst = append(dst, raw[i])
			}
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

func hex4(b []byte) uint16 {
	var n uint16
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		n = n<<4 | uint16(c)
	}
	return n
}

// scanNumber checks the JSON number at data[i].
func scanNumber(data []byte, i int) (int, error) {
	j := i
	if j < len(data) && data[j] == '-' {
		j++
	}
	switch {
	case j < len(data) && data[j] == '0':
		j++
	case j < len(data) && data[j] >= '1' && data[j] <= '9':
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
	default:
		return 0, syntaxAt(data, j, "a digit")
	}
	if j < len(data) && data[j] == '.' {
		j++
		k := j
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
		if j == k {
			return 0, syntaxAt(data, j, "a digit after the decimal point")
		}
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		k := j
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
		if j == k {
			return 0, syntaxAt(data, j, "a digit in the exponent")
		}
	}
	return j, nil
}

// skipValue checks any JSON value at data[i] and returns the offset after
// it. Nesting is followed with a stack of brackets, not recursion.
func skipValue(data []byte, i int) (int, error) {
	var stack []byte // open brackets; rarely used (Falco's values are flat)
	for {
		if i >= len(data) {
			return 0, syntaxAt(data, i, "a value")
		}
		switch c := data[i]; {
		case c == '"':
			end, _, err := scanString(data, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == '{' || c == '[':
			if len(stack) >= maxDepth {
				return 0, fmt.Errorf("offset %d: nested too deep", i)
			}
			stack = append(stack, c)
			i = skipWS(data, i+1)
			if i < len(data) && data[i] == closer(c) {
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i, _ = scanKey(data, i); i < 0 {
					return 0, syntaxAt(data, -i-1, "a key")
				}
			}
			continue
		case hasLit(data, i, "true"), hasLit(data, i, "null"):
			i += 4
		case hasLit(data, i, "false"):
			i += 5
		case c == '-' || (c >= '0' && c <= '9'):
			end, err := scanNumber(data, i)
			if err != nil {
				return 0, err
			}
			i = end
		default:
			return 0, syntaxAt(data, i, "a value")
		}
		// After a value: close brackets or go on to the next element.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return 0, syntaxAt(data, i, `"," or a closing bracket`)
			}
			top := stack[len(stack)-1]
			if data[i] == closer(top) {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if data[i] != ',' {
				return 0, syntaxAt(data, i, `"," or a closing bracket`)
			}
			i = skipWS(data, i+1)
			if top == '{' {
				if i, _ = scanKey(data, i); i < 0 {
					return 0, syntaxAt(data, -i-1, "a key")
				}
			}
			break
		}
	}
}

// scanKey checks `"key" :` at data[i] and returns the offset of the value,
// or -(offset of the fault)-1.
func scanKey(data []byte, i int) (int, error) {
	if i >= len(data) || data[i] != '"' {
		return -i - 1, nil
	}
	end, _, err := scanString(data, i)
	if err != nil {
		return -i - 1, err
	}
	j := skipWS(data, end)
	if j >= len(data) || data[j] != ':' {
		return -j - 1, nil
	}
	return skipWS(data, j+1), nil
}

func closer(open byte) byte {
	if open == '{' {
		return '}'
	}
	return ']'
}

func syntaxAt(data []byte, i int, want string) error {
	if i >= len(data) {
		return fmt.Errorf("offset %d: unexpected end of input, want %s", i, want)
	}
	return fmt.Errorf("offset %d: want %s, found %s", i, want, quoteChar(data[i]))
}

func typeErr(data []byte, i int, key, want string) error {
	return fmt.Errorf("offset %d: %q must be %s", i, key, want)
}

func quoteChar(c byte) string { return strconv.QuoteRune(rune(c)) }
