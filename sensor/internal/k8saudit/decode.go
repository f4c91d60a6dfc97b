package k8saudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// DecodeError locates bad input: the line and column (1-based) and byte
// offset where the bad JSON value starts or the syntax error was found.
type DecodeError struct {
	Line, Col int
	Offset    int64
	Item      int // index in an EventList's items, or -1
	Msg       string
}

func (e *DecodeError) Error() string {
	if e.Item >= 0 {
		return fmt.Sprintf("line %d, column %d: item %d: %s", e.Line, e.Col, e.Item, e.Msg)
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// Decode reads every audit event in r and calls fn for each, in order. r
// holds JSON values one after another (typically one per line, as audit log
// files are written): each an audit Event, an EventList (what the webhook
// backend of kube-apiserver POSTs) or a JSON array of events. Bad input is a
// *DecodeError naming its place; an error from fn stops decoding and is
// returned as is.
func Decode(r io.Reader, fn func(*Event) error) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("k8s audit: read: %w", err)
	}
	return DecodeBytes(data, fn)
}

// DecodeBytes is Decode over a buffer. Events keep references into data
// (Raw), so the caller must not modify it afterwards.
func DecodeBytes(data []byte, fn func(*Event) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		before := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return syntaxError(data, before, err)
		}
		start := before + int64(len(data[before:])-len(bytes.TrimLeft(data[before:], " \t\r\n")))
		if err := decodeValue(data, start, raw, fn); err != nil {
			return err
		}
	}
}

func decodeValue(data []byte, start int64, raw json.RawMessage, fn func(*Event) error) error {
	switch raw[0] {
	case '{':
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return locate(data, start, -1, err.Error())
		}
		return decodeItems(data, start, items, fn)
	default:
		return locate(data, start, -1, "expected an audit Event or EventList object")
	}
	// Tell an EventList from an Event by scanning for its kind, without
	// decoding the (possibly large) object twice.
	if kind, ok := lookupPointer(raw, []string{"kind"}); ok && string(kind) == `"EventList"` {
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return locate(data, start, -1, "decoding the EventList: "+err.Error())
		}
		return decodeItems(data, start, list.Items, fn)
	}
	ev, err := newEvent(raw)
	if err != nil {
		return locate(data, start, -1, err.Error())
	}
	return fn(ev)
}

func decodeItems(data []byte, start int64, items []json.RawMessage, fn func(*Event) error) error {
	for i, it := range items {
		ev, err := newEvent(it)
		if err != nil {
			return locate(data, start, i, err.Error())
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

// ParseEvent decodes one audit Event object.
func ParseEvent(raw []byte) (*Event, error) { return newEvent(raw) }

func newEvent(raw []byte) (*Event, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("expected an audit Event object")
	}
	ev := &Event{raw: raw}
	if err := json.Unmarshal(raw, &ev.w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("audit event: %s has the wrong JSON type (%s)", te.Field, te.Value)
		}
		return nil, fmt.Errorf("audit event: %w", err)
	}
	if k := ev.w.Kind; k.ok && k.s != "Event" {
		return nil, fmt.Errorf("audit event: kind is %q, want Event", k.s)
	}
	if !ev.w.AuditID.ok {
		return nil, errors.New("audit event: no auditID (not a Kubernetes audit event)")
	}
	ev.time = ev.w.eventTime()
	if ev.time.IsZero() {
		// The k8saudit plugin stamps such events with the time of receipt.
		ev.time = time.Now()
	}
	return ev, nil
}

func syntaxError(data []byte, before int64, err error) error {
	off := before
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset - 1 // Offset counts the offending byte
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		// Point at the start of the value that the input cuts off.
		rest := data[min(before, int64(len(data))):]
		off = before + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n")))
		err = errors.New("truncated JSON value (the input ends inside it)")
	}
	return locate(data, off, -1, err.Error())
}

func locate(data []byte, off int64, item int, msg string) error {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	head := data[:off]
	line := bytes.Count(head, []byte{'\n'}) + 1
	col := int(off) - (bytes.LastIndexByte(head, '\n') + 1) + 1
	return &DecodeError{Line: line, Col: col, Offset: off, Item: item, Msg: msg}
}
