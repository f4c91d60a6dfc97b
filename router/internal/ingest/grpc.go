package ingest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// maxInFlight bounds the batches of one stream waiting for their fsync, so
// a sensor can pipeline without waiting for each ack.
const maxInFlight = 64

// Stream implements harrierv1.IngestServer.
type Stream struct {
	harrierv1.UnimplementedIngestServer
	j   *journal.Journal
	m   *Metrics
	log *slog.Logger
}

// NewStream returns the gRPC ingest service.
func NewStream(j *journal.Journal, m *Metrics, log *slog.Logger) *Stream {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Stream{j: j, m: m, log: logger(log)}
}

type pendingAck struct {
	seq      uint64
	n        int
	received time.Time
	done     <-chan journal.Result
	status   harrierv1.AckStatus // when done is nil
	reason   string
}

// Stream receives batches and acknowledges each once it is durable. Acks
// are sent in batch order.
func (s *Stream) Stream(stream harrierv1.Ingest_StreamServer) error {
	ctx := stream.Context()
	from := "unknown"
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	acks := make(chan pendingAck, maxInFlight)
	sendErr := make(chan error, 1)
	go func() { sendErr <- s.sendAcks(stream, acks) }()

	var last uint64
	var recvErr error
	for {
		batch, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				recvErr = err
			}
			break
		}
		p := pendingAck{seq: batch.GetSequence(), n: len(batch.GetAlerts()), received: time.Now()}
		switch {
		case batch.GetSequence() <= last:
			p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_REJECTED,
				fmt.Sprintf("sequence %d is not above the previous %d", batch.GetSequence(), last)
		case len(batch.GetAlerts()) == 0:
			p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_REJECTED, errEmpty.Error()
		default:
			last = batch.GetSequence()
			recs, err := encode(batch.GetAlerts(), batch.GetSensorId())
			if err != nil {
				p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_REJECTED, err.Error()
				break
			}
			done, err := s.j.AppendAsync(recs)
			if err != nil {
				p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_RETRY, "router is shutting down"
				break
			}
			p.done = done
		}
		if p.status == harrierv1.AckStatus_ACK_STATUS_REJECTED {
			s.log.Warn("ingest batch rejected", "peer", from, "sensor", batch.GetSensorId(), "sequence", batch.GetSequence(), "reason", p.reason)
		}
		select {
		case acks <- p:
		case err := <-sendErr:
			return err
		}
	}
	close(acks)
	if err := <-sendErr; err != nil {
		return err
	}
	if recvErr != nil && status.Code(recvErr) != codes.Canceled {
		return recvErr
	}
	return nil
}

func (s *Stream) sendAcks(stream harrierv1.Ingest_StreamServer, acks <-chan pendingAck) error {
	var failed error
	for p := range acks {
		st, reason := p.status, p.reason
		if p.done != nil {
			res := <-p.done // the journal always answers, even when closing
			if res.Err != nil {
				st, reason = harrierv1.AckStatus_ACK_STATUS_RETRY, "router storage error; retry later"
			} else {
				st = harrierv1.AckStatus_ACK_STATUS_OK
				s.m.Alerts.WithLabelValues("grpc").Add(float64(p.n))
				s.m.Duration.WithLabelValues("grpc").Observe(time.Since(p.received).Seconds())
			}
		}
		s.m.Batches.WithLabelValues("grpc", statusLabel(st)).Inc()
		if failed != nil {
			continue // keep draining so appends complete
		}
		if err := stream.Send(&harrierv1.BatchAck{Sequence: p.seq, Status: st, Reason: reason}); err != nil {
			failed = err
		}
	}
	return failed
}

func statusLabel(s harrierv1.AckStatus) string {
	switch s {
	case harrierv1.AckStatus_ACK_STATUS_OK:
		return "ok"
	case harrierv1.AckStatus_ACK_STATUS_REJECTED:
		return "rejected"
	case harrierv1.AckStatus_ACK_STATUS_RETRY:
		return "retry"
	}
	return "unknown"
}
