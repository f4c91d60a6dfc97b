package elasticsearch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/alertformat"
)

// TimestampField is the document's event time for Kibana and data views,
// as falcosidekick writes it; the document also keeps Falco's "time".
const TimestampField = "@timestamp"

// Document returns the document indexed for a: Falco's JSON alert (field
// names byte for byte, as falcosidekick indexes them, so existing Kibana
// searches keep working) plus "@timestamp", the event time.
func Document(a *harrierv1.Alert) (map[string]any, error) {
	body, err := documentJSON(a)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// documentJSON renders Document's JSON without a map round trip: the
// Falco JSON object with "@timestamp" spliced in as its first key.
func documentJSON(a *harrierv1.Alert) ([]byte, error) {
	falco, t, err := falcoJSON(a)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(falco) + 48)
	writeDocument(&buf, falco, t)
	return buf.Bytes(), nil
}

// falcoJSON is a's Falco JSON and event time; an alert without event time
// has no index to go to and is refused.
func falcoJSON(a *harrierv1.Alert) ([]byte, time.Time, error) {
	if a.GetTime() == nil {
		return nil, time.Time{}, errors.New("alert has no event time")
	}
	falco, err := falcojson.Marshal(a)
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(falco) < 2 || falco[0] != '{' {
		return nil, time.Time{}, errors.New("falco json is not an object")
	}
	return falco, a.GetTime().AsTime().UTC(), nil
}

// documentBody is a's document in the configured format, and its event
// time. Only Falco JSON gets "@timestamp" spliced in: ECS has its own,
// and OCSF keeps its "time".
func (o *Output) documentBody(a *harrierv1.Alert) ([]byte, time.Time, error) {
	switch o.cfg.Format {
	case "", alertformat.Falco:
		return falcoJSON(a)
	}
	if a.GetTime() == nil {
		return nil, time.Time{}, errors.New("alert has no event time")
	}
	b, err := alertformat.Encode(o.cfg.Format, a)
	return b, a.GetTime().AsTime().UTC(), err
}

// writeDocument writes the Falco JSON object falco with "@timestamp" = t
// spliced in as its first key.
func writeDocument(buf *bytes.Buffer, falco []byte, t time.Time) {
	var ts [len(falcojson.TimeFormat) + 8]byte
	buf.WriteString(`{"` + TimestampField + `":"`)
	buf.Write(t.AppendFormat(ts[:0], falcojson.TimeFormat))
	buf.WriteByte('"')
	if len(falco) > 2 { // not "{}"
		buf.WriteByte(',')
	}
	buf.Write(falco[1:])
}

// IndexName is the index a's document goes to: index-suffix from the
// alert's event time in UTC, so a redelivered alert always lands in the
// same index whatever the delivery time.
func IndexName(index string, suffix Suffix, eventTime time.Time) string {
	t := eventTime.UTC()
	switch suffix {
	case SuffixNone:
		return index
	case SuffixMonthly:
		return index + "-" + t.Format("2006.01")
	case SuffixAnnually:
		return index + "-" + t.Format("2006")
	}
	return index + "-" + t.Format("2006.01.02")
}

// documentID is the alert id, or for an alert that lacks one a hash of
// its content, so redelivery overwrites instead of duplicating either way.
func documentID(a *harrierv1.Alert, content []byte) string {
	if id := a.GetId(); id != "" {
		return id
	}
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:16])
}
