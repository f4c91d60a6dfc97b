package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/batchwire"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// maxInFlight bounds the batches of one stream waiting for their ack, so a
// sensor can pipeline without waiting for each one.
const maxInFlight = 64

// maxInFlightBytes bounds the memory one stream's unacknowledged batches
// hold (a batch larger than this still passes, alone).
const maxInFlightBytes = 32 << 20

// byteBudget blocks a stream's receiver while its batches awaiting an fsync
// hold too much memory.
type byteBudget struct {
	mu   sync.Mutex
	cond *sync.Cond
	used int
}

func newByteBudget() *byteBudget {
	b := &byteBudget{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *byteBudget) acquire(n int) {
	b.mu.Lock()
	for b.used > 0 && b.used+n > maxInFlightBytes {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *byteBudget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}

// Stream is the Ingest service (register it with Register).
type Stream struct {
	j    journal.Appender
	m    *Metrics
	log  *slog.Logger
	dead DeadLetters
	ack  journal.Ack
	// wantIDs: the backend uses journal.Batch.IDs (see journal.IDUser).
	wantIDs bool

	// The metrics' gRPC children, looked up once rather than per batch.
	alerts   prometheus.Counter
	duration prometheus.Observer
	batches  [4]prometheus.Counter // by AckStatus (OK, REJECTED, RETRY)
}

// recvBatch is one received batch and what serving it needs, reused
// through batchPool: a stream at full speed allocates almost nothing per
// batch or alert.
type recvBatch struct {
	batchwire.Batch
	// buf holds the message Alerts (and the records) alias, a copy of
	// gRPC's frames: reused once the journal has answered, as Appender
	// backends keep no record after their Result.
	buf  []byte
	recs [][]byte
	ids  []string
}

var batchPool = sync.Pool{New: func() any { return new(recvBatch) }}

// maxKeptBuffer is the largest message buffer a pooled batch keeps (a
// sensor's default batch is at most 1 MiB).
const maxKeptBuffer = 2 << 20

// release returns b to batchPool; nothing may use it or its records after.
func (b *recvBatch) release() {
	if cap(b.buf) > maxKeptBuffer {
		b.buf = nil // a rare huge batch does not stay pinned
	}
	clear(b.Alerts)
	clear(b.recs)
	clear(b.ids)
	b.Alerts, b.recs, b.ids = b.Alerts[:0], b.recs[:0], b.ids[:0]
	b.Sequence, b.SensorID = 0, ""
	batchPool.Put(b)
}

// DeadLetters stores alerts refused at ingest (the dead-letter store; an
// interface because the store belongs to a later stage).
type DeadLetters interface {
	Add(ctx context.Context, output string, letters []*harrierv1.DeadLetter) error
}

// IngestOutput is the pseudo-output under which alerts refused at ingest
// are kept as dead letters.
const IngestOutput = "ingest"

// SetDeadLetters makes invalid alerts of a batch dead letters (output
// "ingest") while the rest of the batch is stored; without a store the
// whole batch is rejected.
func (s *Stream) SetDeadLetters(d DeadLetters) { s.dead = d }

// NewStream returns the gRPC ingest service. Batches are acknowledged once
// fsynced until WithAck says otherwise.
func NewStream(j journal.Appender, m *Metrics, log *slog.Logger) *Stream {
	if m == nil {
		m = NewMetrics(nil)
	}
	s := &Stream{j: j, m: m, log: logger(log), ack: journal.AckFsync, wantIDs: true,
		alerts: m.Alerts.WithLabelValues("grpc"), duration: m.Duration.WithLabelValues("grpc")}
	for _, st := range []harrierv1.AckStatus{harrierv1.AckStatus_ACK_STATUS_OK,
		harrierv1.AckStatus_ACK_STATUS_REJECTED, harrierv1.AckStatus_ACK_STATUS_RETRY} {
		s.batches[st] = m.Batches.WithLabelValues("grpc", statusLabel(st))
	}
	if u, ok := j.(journal.IDUser); ok {
		s.wantIDs = u.UsesIDs()
	}
	return s
}

// WithAck sets when a batch is acknowledged OK (journal.AckWritten or
// journal.AckFsync).
func (s *Stream) WithAck(a journal.Ack) *Stream {
	s.ack = a
	return s
}

type pendingAck struct {
	seq      uint64
	bytes    int // held from the budget until acknowledged
	n        int
	received time.Time
	batch    *recvBatch // released once acknowledged
	done     <-chan journal.Result
	status   harrierv1.AckStatus // when done is nil
	reason   string
}

// serve receives batches and acknowledges each once stored as the ack policy
// says. Acks are
// sent in batch order; a sensor may pipeline up to maxInFlight batches.
func (s *Stream) serve(stream grpc.ServerStream) error {
	ctx := stream.Context()
	from := "unknown"
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	acks := make(chan pendingAck, maxInFlight)
	budget := newByteBudget()
	sendErr := make(chan error, 1)
	go func() { sendErr <- s.sendAcks(stream, acks, budget) }()

	var last uint64
	var recvErr error
	for {
		batch := batchPool.Get().(*recvBatch)
		if err := stream.RecvMsg(batch); err != nil {
			batch.release()
			if !errors.Is(err, io.EOF) {
				recvErr = err
				if status.Code(err) == codes.ResourceExhausted {
					// Over grpc.max_recv_bytes: gRPC ends the stream; the
					// sensor must send its alerts in smaller batches.
					s.m.TooLarge.WithLabelValues("grpc").Inc()
					s.log.Error("ingest batch larger than grpc.max_recv_bytes refused", "peer", from, "err", err)
				}
				if status.Code(err) == codes.Internal {
					s.log.Error("ingest stream", "err", err, "hint", errNotRaw)
				}
			}
			break
		}
		p := pendingAck{seq: batch.Sequence, n: len(batch.Alerts), received: time.Now(), batch: batch}
		switch {
		case batch.Sequence <= last:
			p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_REJECTED,
				fmt.Sprintf("sequence %d is not above the previous %d", batch.Sequence, last)
		case len(batch.Alerts) == 0:
			p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_REJECTED, errEmpty.Error()
		default:
			last = batch.Sequence
			recs, ids, err := s.verdicts(ctx, batch, from)
			if err != nil {
				p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_REJECTED, err.Error()
				break
			}
			if len(recs) == 0 {
				p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_OK, "every alert was invalid; kept as dead letters"
				break
			}
			for _, r := range recs {
				p.bytes += len(r)
			}
			budget.acquire(p.bytes)
			// The sensor's identity keys the batch: on Kafka one sensor's
			// alerts stay in order on one partition.
			done, err := s.j.AppendBatch(journal.Batch{Key: batch.SensorID, IDs: ids, Recs: recs, Ack: s.ack})
			if err != nil {
				budget.release(p.bytes)
				p.status, p.reason = harrierv1.AckStatus_ACK_STATUS_RETRY, "router is shutting down"
				break
			}
			p.done = done
		}
		if p.status == harrierv1.AckStatus_ACK_STATUS_REJECTED {
			s.log.Warn("ingest batch rejected", "peer", from, "sensor", batch.SensorID, "sequence", batch.Sequence, "reason", p.reason)
		}
		select {
		case acks <- p:
		case err := <-sendErr:
			batch.release()
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

func (s *Stream) sendAcks(stream grpc.ServerStream, acks <-chan pendingAck, budget *byteBudget) error {
	var failed error
	for p := range acks {
		st, reason := p.status, p.reason
		if p.done != nil {
			res := <-p.done // the journal always answers, even when closing
			budget.release(p.bytes)
			if res.Err != nil {
				st, reason = harrierv1.AckStatus_ACK_STATUS_RETRY, "router storage error; retry later"
			} else {
				st = harrierv1.AckStatus_ACK_STATUS_OK
				s.alerts.Add(float64(p.n))
				s.duration.Observe(time.Since(p.received).Seconds())
			}
		}
		p.batch.release()
		s.batches[st].Inc() // st is one of the three set in NewStream
		if failed != nil {
			continue // keep draining so appends complete
		}
		if err := stream.SendMsg(&harrierv1.BatchAck{Sequence: p.seq, Status: st, Reason: reason}); err != nil {
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

// verdicts encodes each alert of batch on its own: invalid alerts become
// dead letters (so one bad alert does not refuse the others) and are
// counted; the rest are returned for the journal. Without a dead-letter
// store, or when storing them fails, the batch is refused as a whole (the
// error) and the sensor keeps it.
func (s *Stream) verdicts(ctx context.Context, batch *recvBatch, from string) ([][]byte, []string, error) {
	recs, ids := batch.recs[:0], batch.ids[:0]
	defer func() { batch.recs, batch.ids = recs, ids }() // kept for reuse
	var dead []*harrierv1.DeadLetter
	for i, a := range batch.Alerts {
		rec, id, err := encodeRawAlert(i, a, batch.SensorID, s.wantIDs)
		if err == nil {
			recs = append(recs, rec)
			if s.wantIDs {
				ids = append(ids, id)
			}
			continue
		}
		if s.dead == nil {
			return nil, nil, err
		}
		alert := &harrierv1.Alert{}
		if uerr := proto.Unmarshal(a, alert); uerr != nil {
			alert = &harrierv1.Alert{Output: fmt.Sprintf("undecodable alert of %d bytes", len(a))}
		}
		if alert.SensorId == "" {
			alert.SensorId = batch.SensorID
		}
		dead = append(dead, &harrierv1.DeadLetter{Output: IngestOutput, Alert: alert, Reason: err.Error(), Time: timestamppb.Now()})
	}
	if len(dead) == 0 {
		return recs, ids, nil
	}
	if err := s.dead.Add(ctx, IngestOutput, dead); err != nil {
		return nil, nil, fmt.Errorf("%d invalid alerts, and storing them as dead letters failed: %w", len(dead), err)
	}
	s.m.Invalid.WithLabelValues("grpc").Add(float64(len(dead)))
	s.log.Warn("invalid alerts in an ingest batch kept as dead letters; the rest is stored", "peer", from,
		"sensor", batch.SensorID, "sequence", batch.Sequence, "invalid", len(dead), "valid", len(recs), "reason", dead[0].Reason)
	return recs, ids, nil
}
