package ingest

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec Codec delegates to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/harrier-security/harrier/proto/batchwire"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// The ingest hot path stores each alert's wire bytes as they arrived instead
// of decoding the batch into messages and encoding every alert again: the
// journal record IS the sensor's encoding of the Alert. Only the top-level
// framing (proto/batchwire) and the fields the router needs (id, rule,
// sensor_id) are read.
// Outputs decode the full alert when they deliver it.

// Alert field numbers (proto/harrier/v1/alert.proto).
const (
	fieldAlertID       = 1
	fieldAlertRule     = 3
	fieldAlertSensorID = 10
)

// encodeRaw validates each alert's top-level framing, requires a rule, and
// appends an id (UUIDv7) and the batch's sensor_id when the alert has none.
// Appending is valid protobuf: for a scalar field the last value wins.
func encodeRaw(alerts [][]byte, sensorID string) ([][]byte, error) {
	recs := make([][]byte, len(alerts))
	for i, a := range alerts {
		rec, _, err := encodeRawAlert(i, a, sensorID, false)
		if err != nil {
			return nil, err
		}
		recs[i] = rec
	}
	return recs, nil
}

// encodeRawAlert is encodeRaw for alert i of a batch; with wantID it also
// returns the alert's id (Kafka carries it in a record header), a string
// allocated per alert that the local journal does not need.
func encodeRawAlert(i int, a []byte, sensorID string, wantID bool) (rec []byte, id string, err error) {
	var hasID, hasRule, hasSensor bool
	buf := a
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return nil, "", fmt.Errorf("alert %d: %w", i, protowire.ParseError(n))
		}
		buf = buf[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, buf)
			if m < 0 {
				return nil, "", fmt.Errorf("alert %d field %d: %w", i, num, protowire.ParseError(m))
			}
			buf = buf[m:]
			continue
		}
		// Most of an alert is length-delimited: skip those in one step.
		v, m := protowire.ConsumeBytes(buf)
		if m < 0 {
			return nil, "", fmt.Errorf("alert %d field %d: %w", i, num, protowire.ParseError(m))
		}
		if num == fieldAlertID || num == fieldAlertRule || num == fieldAlertSensorID {
			if !utf8.Valid(v) {
				return nil, "", fmt.Errorf("alert %d field %d: invalid UTF-8", i, num)
			}
			switch num {
			case fieldAlertID:
				hasID = len(v) > 0
				if wantID {
					id = string(v)
				}
			case fieldAlertRule:
				hasRule = len(v) > 0
			case fieldAlertSensorID:
				hasSensor = len(v) > 0
			}
		}
		buf = buf[m:]
	}
	if !hasRule {
		return nil, "", fmt.Errorf("alert %d: rule is empty", i)
	}
	rec = a
	if !hasID || (!hasSensor && sensorID != "") {
		rec = append([]byte(nil), a...)
		if !hasID {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, "", err
			}
			id = u.String()
			rec = protowire.AppendTag(rec, fieldAlertID, protowire.BytesType)
			rec = protowire.AppendString(rec, id)
		}
		if !hasSensor && sensorID != "" {
			rec = protowire.AppendTag(rec, fieldAlertSensorID, protowire.BytesType)
			rec = protowire.AppendString(rec, sensorID)
		}
	}
	if len(rec) > journal.MaxRecordSize {
		return nil, "", fmt.Errorf("alert %d: %d bytes exceeds the %d-byte limit", i, len(rec), journal.MaxRecordSize)
	}
	return rec, id, nil
}

// Codec is the gRPC codec the router's server must use
// (grpc.ForceServerCodecV2): it hands Ingest batches over undecoded and
// delegates every other message to the standard protobuf codec.
func Codec() encoding.CodecV2 { return rawCodec{base: encoding.GetCodecV2("proto")} }

type rawCodec struct{ base encoding.CodecV2 }

func (c rawCodec) Name() string { return "proto" }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch b := v.(type) {
	case *recvBatch:
		// gRPC frees data on return, and the records alias the message
		// until the batch is acknowledged: copy it into the batch's own
		// reused buffer.
		n := data.Len()
		if cap(b.buf) < n {
			b.buf = make([]byte, n)
		}
		b.buf = b.buf[:n]
		data.CopyTo(b.buf)
		return b.Parse(b.buf)
	case *batchwire.Batch:
		return b.Parse(data.Materialize()) // a private copy: records may keep it
	}
	return c.base.Unmarshal(data, v)
}

// rawIngestServer is what the Ingest service handler needs.
type rawIngestServer interface {
	serve(grpc.ServerStream) error
}

// ingestDesc replaces harrierv1.Ingest_ServiceDesc: same service and
// method names on the wire, a handler that receives batchwire.Batch.
var ingestDesc = grpc.ServiceDesc{
	ServiceName: harrierv1.Ingest_ServiceDesc.ServiceName,
	HandlerType: (*rawIngestServer)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		Handler:       func(srv any, ss grpc.ServerStream) error { return srv.(rawIngestServer).serve(ss) },
		ServerStreams: true,
		ClientStreams: true,
	}},
	Metadata: harrierv1.Ingest_ServiceDesc.Metadata,
}

// Register registers the ingest service on a server created with
// grpc.ForceServerCodecV2(Codec()).
func Register(s *grpc.Server, st *Stream) { s.RegisterService(&ingestDesc, st) }

var errNotRaw = errors.New("ingest: the gRPC server lacks grpc.ForceServerCodecV2(ingest.Codec())")
