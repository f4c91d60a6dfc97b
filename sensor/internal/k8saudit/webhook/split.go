package webhook

import (
	"bytes"
	"encoding/json"

	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
)

// splitEventList is the fast path for what kube-apiserver sends: one
// EventList object. It finds the items with a single byte scan (tracking
// strings and nesting only) and hands each item to k8saudit.ParseEvent,
// which validates and decodes it, instead of decoding the whole list several
// times over with encoding/json. ok is false for anything else or anything
// wrong; the caller then takes the general decoder, which also reports the
// place of an error.
func splitEventList(body []byte) (events []*k8saudit.Event, ok bool) {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	i++
	var items []byte
	isList := false
	for {
		i = skipWS(body, i)
		if i < len(body) && body[i] == '}' && items == nil && !isList {
			return nil, false // an empty object: leave it to the decoder
		}
		if i >= len(body) || body[i] != '"' {
			return nil, false
		}
		kend, ok := scanValue(body, i)
		if !ok {
			return nil, false
		}
		key := body[i+1 : kend-1]
		if bytes.IndexByte(key, '\\') >= 0 || !json.Valid(body[i:kend]) {
			return nil, false
		}
		i = skipWS(body, kend)
		if i >= len(body) || body[i] != ':' {
			return nil, false
		}
		i = skipWS(body, i+1)
		vend, ok := scanValue(body, i)
		if !ok {
			return nil, false
		}
		val := body[i:vend]
		switch string(key) {
		case "kind":
			if string(val) != `"EventList"` {
				return nil, false
			}
			isList = true
		case "items":
			if items != nil || val[0] != '[' {
				return nil, false
			}
			items = val
		default:
			// encoding/json matches keys case-insensitively; leave such
			// bodies to it rather than read them differently.
			if bytes.EqualFold(key, []byte("kind")) || bytes.EqualFold(key, []byte("items")) || !json.Valid(val) {
				return nil, false
			}
		}
		i = skipWS(body, vend)
		if i >= len(body) {
			return nil, false
		}
		if body[i] == ',' {
			i++
			continue
		}
		if body[i] != '}' {
			return nil, false
		}
		i++
		break
	}
	if skipWS(body, i) != len(body) || !isList {
		return nil, false
	}
	if items == nil {
		return nil, true // an EventList without items: nothing to do
	}
	// Walk the array's elements.
	j := skipWS(items, 1)
	if j < len(items) && items[j] == ']' {
		return nil, true
	}
	for {
		j = skipWS(items, j)
		if j >= len(items) || items[j] != '{' {
			return nil, false
		}
		end, ok := scanValue(items, j)
		if !ok {
			return nil, false
		}
		ev, err := k8saudit.ParseEvent(items[j:end])
		if err != nil {
			return nil, false
		}
		events = append(events, ev)
		j = skipWS(items, end)
		if j >= len(items) {
			return nil, false
		}
		if items[j] == ']' {
			return events, skipWS(items, j+1) == len(items)
		}
		if items[j] != ',' {
			return nil, false
		}
		j++
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// scanValue returns the end of the JSON value starting at b[i], following
// strings and nesting; it does not validate scalars (the decoder does).
func scanValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, true
			}
		}
		return 0, false
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := scanValue(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
			j++
		}
		if j == i {
			return 0, false
		}
		return j, true
	}
}
