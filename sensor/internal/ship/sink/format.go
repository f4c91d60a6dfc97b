package sink

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// JSONProperties are Falco's json_include_*_property switches: which
// properties a JSON alert carries besides rule, priority, time, source and
// hostname.
type JSONProperties struct {
	Output       bool // "output": the alert line
	Message      bool // "message": the line without its time and priority
	OutputFields bool // "output_fields"
	Tags         bool // "tags"
}

// FalcoJSON are Falco's default properties (and Harrier's).
var FalcoJSON = JSONProperties{Output: true, OutputFields: true, Tags: true}

// Format is how an output writes an alert: Falco's text line or Falco's
// JSON with the chosen properties.
type Format struct {
	JSON  bool
	Props JSONProperties
}

// TextFormat is Falco's text line; JSONFormat its default JSON.
var (
	TextFormat = Format{}
	JSONFormat = Format{JSON: true, Props: FalcoJSON}
)

// Append appends a, formatted, to dst (no newline).
func (f Format) Append(dst []byte, a *harrierv1.Alert) ([]byte, error) {
	if !f.JSON {
		return append(dst, a.GetOutput()...), nil
	}
	if f.Props == FalcoJSON {
		return falcojson.AppendMarshal(dst, a)
	}
	// Other property sets are rare (a setting): re-shape the default.
	b, err := falcojson.AppendMarshal(nil, a)
	if err != nil {
		return dst, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return dst, err
	}
	if !f.Props.Output {
		delete(m, "output")
	}
	if !f.Props.OutputFields {
		delete(m, "output_fields")
	}
	if !f.Props.Tags {
		delete(m, "tags")
	}
	if f.Props.Message {
		msg, _ := json.Marshal(Message(a))
		m["message"] = msg
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// ContentType is the HTTP content type of the format, as Falco sends it.
func (f Format) ContentType() string {
	if f.JSON {
		return "application/json"
	}
	return "text/plain"
}

// Message is the alert's output without the "TIME: Priority " that starts
// Falco's alert line (Falco's "message" JSON property).
func Message(a *harrierv1.Alert) string {
	out := a.GetOutput()
	_, rest, ok := strings.Cut(out, ": ")
	if !ok {
		return out
	}
	p := a.GetPriority().FalcoName()
	if r, ok := strings.CutPrefix(rest, p+" "); ok {
		return r
	}
	return rest
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
