// Package batchwire frames an AlertBatch (proto/harrier/v1) around alerts
// that stay encoded. Both ends of Ingest.Stream use it so that an alert is
// encoded once, where it is raised: the sensor frames the bytes it spooled,
// and the router stores the bytes it received as journal records without
// decoding them. On the wire the result is an ordinary AlertBatch: a
// repeated message field is the concatenation of its elements, each tagged
// and length-prefixed.
package batchwire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// AlertBatch field numbers (proto/harrier/v1/ingest.proto).
const (
	fieldSequence = 1
	fieldAlerts   = 2
	fieldSensorID = 3
)

// Overhead bounds what a batch adds besides its alerts and sensor id, and
// AlertOverhead what each alert adds besides its bytes: enough to size a
// buffer once.
const (
	Overhead      = 1 + 10 + 1 + 5 // tags, the sequence varint, the sensor id length
	AlertOverhead = 1 + 5          // tag and a length below 4 GiB
)

// AppendSequence appends the batch's sequence number. Call it first, then
// AppendAlert per alert, then AppendSensorID.
func AppendSequence(b []byte, seq uint64) []byte {
	b = protowire.AppendTag(b, fieldSequence, protowire.VarintType)
	return protowire.AppendVarint(b, seq)
}

// AppendAlert appends one alert's encoding (a marshalled harrierv1.Alert).
func AppendAlert(b, alert []byte) []byte {
	b = protowire.AppendTag(b, fieldAlerts, protowire.BytesType)
	return protowire.AppendBytes(b, alert)
}

// AppendSensorID appends the sending sensor's id; an empty id is omitted,
// as protobuf omits an empty string.
func AppendSensorID(b []byte, id string) []byte {
	if id == "" {
		return b
	}
	b = protowire.AppendTag(b, fieldSensorID, protowire.BytesType)
	return protowire.AppendString(b, id)
}

// Batch is an AlertBatch whose alerts stay encoded.
type Batch struct {
	Sequence uint64
	SensorID string
	// Alerts alias the buffer given to Parse.
	Alerts [][]byte
}

// Parse reads buf's top-level framing into b (appending to b.Alerts). It
// does not look inside the alerts. Unknown fields are skipped; for a
// repeated scalar field the last value wins, as in protobuf.
func (b *Batch) Parse(buf []byte) error {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return fmt.Errorf("batch: %w", protowire.ParseError(n))
		}
		buf = buf[n:]
		switch {
		case num == fieldSequence && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(buf)
			if n < 0 {
				return fmt.Errorf("batch sequence: %w", protowire.ParseError(n))
			}
			b.Sequence, buf = v, buf[n:]
		case num == fieldAlerts && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return fmt.Errorf("batch alert %d: %w", len(b.Alerts), protowire.ParseError(n))
			}
			b.Alerts, buf = append(b.Alerts, v), buf[n:]
		case num == fieldSensorID && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return fmt.Errorf("batch sensor_id: %w", protowire.ParseError(n))
			}
			b.SensorID, buf = string(v), buf[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, buf)
			if n < 0 {
				return fmt.Errorf("batch field %d: %w", num, protowire.ParseError(n))
			}
			buf = buf[n:]
		}
	}
	return nil
}
