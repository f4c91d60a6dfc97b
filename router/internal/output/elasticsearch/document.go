package elasticsearch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
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
	if a.GetTime() == nil {
		return nil, errors.New("alert has no event time")
	}
	falco, err := falcojson.Marshal(a)
	if err != nil {
		return nil, err
	}
	if len(falco) < 2 || falco[0] != '{' {
		return nil, fmt.Errorf("falco json is not an object")
	}
	ts := a.GetTime().AsTime().UTC().Format(falcojson.TimeFormat)
	out := make([]byte, 0, len(falco)+len(ts)+20)
	out = append(out, `{"`+TimestampField+`":"`...)
	out = append(out, ts...)
	out = append(out, '"')
	if len(falco) > 2 { // not "{}"
		out = append(out, ',')
	}
	return append(out, falco[1:]...), nil
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
// its document, so redelivery overwrites instead of duplicating either way.
func documentID(a *harrierv1.Alert, doc []byte) string {
	if id := a.GetId(); id != "" {
		return id
	}
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:16])
}
