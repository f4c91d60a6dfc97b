package harrierv1

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// UnmarshalAlert is proto.Unmarshal(data, a) for the router's readers of
// every stored alert (delivery, the console's index), with far fewer
// allocations: every string of the alert is a piece of one copy of data,
// and the output_fields values are allocated together. Anything it does
// not expect (an unknown field, a wire type other than the schema's, a
// message or oneof given twice, invalid UTF-8) is left to proto.Unmarshal,
// so the result, error included, is always proto.Unmarshal's
// (FuzzUnmarshalAlert).
func UnmarshalAlert(data []byte, a *Alert) error {
	a.Reset()
	if fastAlert(data, a) {
		return nil
	}
	a.Reset()
	return proto.Unmarshal(data, a)
}

// fastAlert decodes data into the reset a, or reports false.
func fastAlert(data []byte, a *Alert) bool {
	entries := 0
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		if num == 7 {
			entries++
		}
		b = b[n+m:]
	}
	s := string(data) // the one copy every string below is cut from
	var fvs []FieldValue
	var strs []FieldValue_StringValue
	if entries > 0 {
		a.OutputFields = make(map[string]*FieldValue, entries)
		fvs = make([]FieldValue, entries)
		strs = make([]FieldValue_StringValue, entries)
	}
	var seen uint32 // message fields met (time, first_time, last_time)
	for i := 0; i < len(data); {
		num, typ, n := protowire.ConsumeTag(data[i:])
		i += n
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(data[i:])
			from := i + m - len(v)
			str := s[from : from+len(v)]
			i += m
			switch num {
			case 1, 3, 5, 6, 9, 10, 11, 15:
				if !utf8.ValidString(str) {
					return false
				}
				switch num {
				case 1:
					a.Id = str
				case 3:
					a.Rule = str
				case 5:
					a.Source = str
				case 6:
					a.Output = str
				case 9:
					a.Hostname = str
				case 10:
					a.SensorId = str
				case 11:
					a.RulesetVersion = str
				case 15:
					a.ClusterName = str
				}
			case 8:
				if !utf8.ValidString(str) {
					return false
				}
				a.Tags = append(a.Tags, str)
			case 2, 13, 14:
				if seen&(1<<num) != 0 {
					return false // proto.Unmarshal merges a repeated message
				}
				seen |= 1 << num
				ts, ok := fastTimestamp(v)
				if !ok {
					return false
				}
				switch num {
				case 2:
					a.Time = ts
				case 13:
					a.FirstTime = ts
				case 14:
					a.LastTime = ts
				}
			case 7:
				k := len(a.OutputFields)
				key, ok := fastEntry(s, from, v, &fvs[k], &strs[k])
				if !ok {
					return false
				}
				if _, dup := a.OutputFields[key]; dup {
					return false // rare; proto.Unmarshal keeps the last
				}
				a.OutputFields[key] = &fvs[k]
			default:
				return false
			}
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(data[i:])
			i += m
			switch num {
			case 4:
				a.Priority = Priority(int32(v))
			case 12:
				a.Count = uint32(v)
			default:
				return false
			}
		default:
			return false
		}
	}
	return true
}

func fastTimestamp(b []byte) (*timestamppb.Timestamp, bool) {
	t := &timestamppb.Timestamp{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.VarintType || (num != 1 && num != 2) {
			return nil, false
		}
		v, m := protowire.ConsumeVarint(b[n:])
		if m < 0 {
			return nil, false
		}
		if num == 1 {
			t.Seconds = int64(v)
		} else {
			t.Nanos = int32(v)
		}
		b = b[n+m:]
	}
	return t, true
}

// fastEntry decodes one output_fields map entry (v, found at s[base:])
// into fv, using sv when the value is a string.
func fastEntry(s string, base int, v []byte, fv *FieldValue, sv *FieldValue_StringValue) (string, bool) {
	var key string
	var haveKey, haveVal bool
	for i := 0; i < len(v); {
		num, typ, n := protowire.ConsumeTag(v[i:])
		if n < 0 || typ != protowire.BytesType || (num != 1 && num != 2) {
			return "", false
		}
		i += n
		b, m := protowire.ConsumeBytes(v[i:])
		if m < 0 {
			return "", false
		}
		from := base + i + m - len(b)
		i += m
		if num == 1 {
			key = s[from : from+len(b)]
			if !utf8.ValidString(key) {
				return "", false
			}
			haveKey = true
			continue
		}
		if haveVal || !fastFieldValue(s, from, b, fv, sv) {
			return "", false // a second value would be merged into the first
		}
		haveVal = true
	}
	return key, haveKey && haveVal
}

func fastFieldValue(s string, base int, b []byte, fv *FieldValue, sv *FieldValue_StringValue) bool {
	if len(b) == 0 {
		return true // no kind set
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return false
	}
	var m int
	switch {
	case typ == protowire.BytesType && (num == 1 || num == 4):
		var v []byte
		v, m = protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return false
		}
		from := base + n + m - len(v)
		if num == 1 {
			str := s[from : from+len(v)]
			if !utf8.ValidString(str) {
				return false
			}
			sv.StringValue = str
			fv.Kind = sv
			break
		}
		var vals []string
		for j := 0; j < len(v); {
			tn, tt, k := protowire.ConsumeTag(v[j:])
			if k < 0 || tn != 1 || tt != protowire.BytesType {
				return false
			}
			j += k
			e, l := protowire.ConsumeBytes(v[j:])
			if l < 0 {
				return false
			}
			ef := from + j + l - len(e)
			str := s[ef : ef+len(e)]
			if !utf8.ValidString(str) {
				return false
			}
			vals = append(vals, str)
			j += l
		}
		fv.Kind = &FieldValue_StringList{StringList: &StringList{Values: vals}}
	case typ == protowire.VarintType && num >= 2 && num != 4 && num <= 6:
		var v uint64
		v, m = protowire.ConsumeVarint(b[n:])
		if m < 0 {
			return false
		}
		switch num {
		case 2:
			fv.Kind = &FieldValue_IntValue{IntValue: int64(v)}
		case 3:
			fv.Kind = &FieldValue_BoolValue{BoolValue: v != 0}
		case 5:
			fv.Kind = &FieldValue_NullValue{NullValue: structpb.NullValue(int32(v))}
		case 6:
			fv.Kind = &FieldValue_UintValue{UintValue: v}
		}
	default:
		return false
	}
	return n+m == len(b) // one kind only: a second would replace or merge
}
