// Package transporttest runs a real harrier.v1.Ingest gRPC server for tests
// of the delivery path: it stores alerts by id, counts redeliveries and can be
// stopped (gracefully or not) and restarted on the same address.
package transporttest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Store keeps what receivers got; it outlives a Receiver so that a restarted
// receiver sees what the previous one stored, as a router's storage would.
type Store struct {
	mu        sync.Mutex
	count     map[string]int // deliveries per alert id
	alerts    map[string]*harrierv1.Alert
	order     []string
	batches   int
	sensorIDs map[string]bool
	changed   chan struct{}
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{count: map[string]int{}, alerts: map[string]*harrierv1.Alert{}, sensorIDs: map[string]bool{}, changed: make(chan struct{}, 1)}
}

func (s *Store) add(b *harrierv1.AlertBatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.sensorIDs[b.GetSensorId()] = true
	for _, a := range b.GetAlerts() {
		id := a.GetId()
		if s.count[id] == 0 {
			s.alerts[id] = a
			s.order = append(s.order, id)
		}
		s.count[id]++
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Unique is the number of distinct alert ids stored.
func (s *Store) Unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.alerts)
}

// Redelivered is the number of deliveries of an id beyond its first.
func (s *Store) Redelivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.count {
		n += c - 1
	}
	return n
}

// Has reports whether an alert with id was stored.
func (s *Store) Has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[id] > 0
}

// Alerts returns the stored alerts in arrival order (first delivery).
func (s *Store) Alerts() []*harrierv1.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*harrierv1.Alert, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.alerts[id])
	}
	return out
}

// SensorIDs returns the sensor ids seen in batches.
func (s *Store) SensorIDs() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for k := range s.sensorIDs {
		out[k] = true
	}
	return out
}

// WaitUnique waits until at least n distinct alerts are stored.
func (s *Store) WaitUnique(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		if s.Unique() >= n {
			return true
		}
		select {
		case <-s.changed:
		case <-deadline:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Options configure a Receiver.
type Options struct {
	TLS   *tls.Config
	Token string // required bearer token, when set
	// MaxRecvBytes is the server's message limit (gRPC's default 4 MiB
	// when 0), as the router's grpc.max_recv_bytes.
	MaxRecvBytes int
	// Status decides the ack of each batch (default: OK).
	Status func(b *harrierv1.AlertBatch) harrierv1.AckStatus
}

// Receiver is a running Ingest server.
type Receiver struct {
	harrierv1.UnimplementedIngestServer
	Addr  string
	store *Store
	opts  Options
	srv   *grpc.Server
	down  atomic.Bool
	done  chan struct{}
	// Unauthenticated counts streams refused for a bad token.
	Unauthenticated atomic.Int64
}

// Start serves on addr ("127.0.0.1:0" for any port) into store.
func Start(addr string, store *Store, opts Options) (*Receiver, error) {
	var ln net.Listener
	var err error
	// A restarted receiver may find its port in TIME_WAIT for a moment.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	var sopts []grpc.ServerOption
	if opts.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	if opts.MaxRecvBytes > 0 {
		sopts = append(sopts, grpc.MaxRecvMsgSize(opts.MaxRecvBytes))
	}
	r := &Receiver{Addr: ln.Addr().String(), store: store, opts: opts, srv: grpc.NewServer(sopts...), done: make(chan struct{})}
	harrierv1.RegisterIngestServer(r.srv, r)
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// Stream implements harrierv1.IngestServer: store, then acknowledge.
func (r *Receiver) Stream(s harrierv1.Ingest_StreamServer) error {
	if r.opts.Token != "" {
		md, _ := metadata.FromIncomingContext(s.Context())
		if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+r.opts.Token {
			r.Unauthenticated.Add(1)
			return status.Error(codes.Unauthenticated, "bad or missing bearer token")
		}
	}
	for {
		b, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if r.down.Load() {
			return status.Error(codes.Unavailable, "receiver shutting down")
		}
		st := harrierv1.AckStatus_ACK_STATUS_OK
		if r.opts.Status != nil {
			st = r.opts.Status(b)
		}
		if st == harrierv1.AckStatus_ACK_STATUS_OK {
			r.store.add(b)
		}
		if err := s.Send(&harrierv1.BatchAck{Sequence: b.GetSequence(), Status: st}); err != nil {
			return err
		}
	}
}

// Run is Start on a free loopback port into a new store; the receiver is
// killed when tb ends (an earlier Kill is harmless).
func Run(tb testing.TB, opts Options) (*Receiver, *Store) {
	tb.Helper()
	store := NewStore()
	r, err := Start("127.0.0.1:0", store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Kill)
	return r, store
}

// StopGracefully stops taking batches (unstored ones are refused, so the
// sender keeps them), lets sent acks flush, then stops the server.
func (r *Receiver) StopGracefully() {
	r.down.Store(true)
	time.Sleep(300 * time.Millisecond)
	r.srv.Stop()
	<-r.done
}

// Kill stops the server at once: acks in flight may be lost.
func (r *Receiver) Kill() {
	r.srv.Stop()
	<-r.done
}
