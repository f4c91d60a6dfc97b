// Package transport delivers alerts from the sensor's spool to the router over
// gRPC (harrier.v1.Ingest/Stream).
//
// Alerts are first appended to the spool (Client.Send); a delivery loop takes
// them out in batches, sends each batch with the stream's next sequence number
// and forgets its alerts only once the router answers ACK_STATUS_OK (or
// REJECTED: resending cannot help). RETRY puts the batch back and pauses.
// Several batches may be in flight at once (a window), so throughput does not
// wait on the round-trip time. When the stream breaks, every unacknowledged
// batch returns to the spool and is resent on the next stream; the router
// deduplicates by alert id, so a batch whose ack was lost in the break is
// harmless. Reconnects back off exponentially with jitter.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/harrier-security/harrier/proto/batchwire"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/ship/spool"
)

// Config configures a Client.
type Config struct {
	// Addr is the router's gRPC address (host:port), or a DNS name with
	// one record per router replica as "dns:///name:port" (a Kubernetes
	// headless Service).
	Addr string
	// Addrs, when set, lists several routers (host:port each) and replaces
	// Addr. With several routers (here or in DNS), gRPC's round_robin
	// balancer spreads sensors over them and a broken stream reopens on a
	// router that is up; the spool and its acks work as with one router.
	Addrs []string
	// TLS enables TLS (and mTLS when it carries a client certificate).
	// Nil means plaintext, for loopback and tests.
	TLS *tls.Config
	// Token is sent as "authorization: Bearer TOKEN" on the stream. It
	// requires TLS unless InsecureToken is set (loopback only).
	Token         string
	InsecureToken bool
	// SensorID goes into every batch.
	SensorID string
	// BatchSize and BatchBytes bound a batch (defaults 500 and 1 MiB; gRPC
	// servers refuse messages over 4 MiB by default).
	BatchSize  int
	BatchBytes int
	// Linger waits this long for a partial batch to fill (default 5ms).
	Linger time.Duration
	// Window is the number of batches in flight (default 8).
	Window int
	// AckTimeout breaks a stream whose oldest batch has waited this long
	// for its ack (default 30s).
	AckTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay (defaults 250ms
	// and 30s).
	BackoffMin, BackoffMax time.Duration
	Logger                 *slog.Logger
}

// Stats are the client's counters.
type Stats struct {
	Connected      bool
	Connects       uint64 // streams opened
	Failures       uint64 // streams that failed or broke
	BatchesSent    uint64
	BatchesAcked   uint64
	BatchesRetry   uint64
	BatchesReject  uint64
	AlertsAcked    uint64
	AlertsRejected uint64
	// AlertsTooLarge counts alerts dropped because they are larger than
	// the sensor's limit or than the router's receive limit (also in
	// AlertsRejected).
	AlertsTooLarge uint64
}

// Client streams the spool's alerts to the router.
type Client struct {
	cfg   Config
	log   *slog.Logger
	spool *spool.Spool
	conn  *grpc.ClientConn

	connected                                   atomic.Bool
	connects, failures, sent, acked, retry, rej atomic.Uint64
	alertsAcked, alertsRejected                 atomic.Uint64
	pauseUntil                                  atomic.Int64

	// After the router refused a batch as too large (its grpc.max_recv_bytes
	// is below our batch size): a lower byte limit for every batch, and the
	// next singles batches sent one alert each so that an alert too large
	// on its own is found and dropped alone.
	limitBytes atomic.Int64
	singles    atomic.Int64
	tooLarge   atomic.Uint64
	refused    atomic.Bool // the last stream ended on a too-large refusal
}

// New returns a client for the router at cfg.Addr, delivering sp. The
// connection is made lazily by Run.
func New(cfg Config, sp *spool.Spool) (*Client, error) {
	if len(cfg.Addrs) == 1 {
		cfg.Addr, cfg.Addrs = cfg.Addrs[0], nil
	}
	if cfg.Addr == "" && len(cfg.Addrs) == 0 {
		return nil, errors.New("transport: no router address")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 1 << 20
	}
	if cfg.Linger == 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.Window <= 0 {
		cfg.Window = 8
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 30 * time.Second
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 250 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := []grpc.DialOption{
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Our own loop reconnects with backoff; keep gRPC's short so a
		// restarted router is found quickly.
		grpc.WithConnectParams(grpcConnectParams(cfg)),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLS)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if cfg.Token != "" {
		if cfg.TLS == nil && !cfg.InsecureToken {
			return nil, errors.New("transport: a bearer token needs TLS (set tls, or insecure_token for loopback)")
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: cfg.Token, secure: cfg.TLS != nil}))
	}
	target, more := routerTarget(cfg)
	opts = append(opts, more...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("transport: router %s: %w", routerNames(cfg), err)
	}
	return &Client{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "transport", "router", routerNames(cfg)),
		spool: sp,
		conn:  conn,
	}, nil
}

// bearer is the per-RPC credential carrying the token.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// Send appends alerts to the spool; Run delivers them.
func (c *Client) Send(alerts ...*harrierv1.Alert) error {
	return Enqueue(c.spool, alerts...)
}

// Enqueue appends alerts to sp in the form the Client delivers.
func Enqueue(sp *spool.Spool, alerts ...*harrierv1.Alert) error {
	entries := make([]spool.Entry, 0, len(alerts))
	for _, a := range alerts {
		data, err := proto.Marshal(a)
		if err != nil {
			return fmt.Errorf("transport: encode alert %s: %w", a.GetId(), err)
		}
		entries = append(entries, spool.Entry{Priority: a.GetPriority(), Data: data})
	}
	return sp.Append(entries...)
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Connected:      c.connected.Load(),
		Connects:       c.connects.Load(),
		Failures:       c.failures.Load(),
		BatchesSent:    c.sent.Load(),
		BatchesAcked:   c.acked.Load(),
		BatchesRetry:   c.retry.Load(),
		BatchesReject:  c.rej.Load(),
		AlertsAcked:    c.alertsAcked.Load(),
		AlertsRejected: c.alertsRejected.Load(),
		AlertsTooLarge: c.tooLarge.Load(),
	}
}

// Connected reports whether a stream to the router is up.
func (c *Client) Connected() bool { return c.connected.Load() }

// Conn is the connection to the router, for other streams that share it
// (the fleet control stream); it carries the same TLS and token.
func (c *Client) Conn() grpc.ClientConnInterface { return c.conn }

// Close releases the connection. Call it after Run returned.
func (c *Client) Close() error { return c.conn.Close() }

// Run delivers until ctx is done. Alerts not acknowledged by then stay in
// the spool.
func (c *Client) Run(ctx context.Context) error {
	attempt := 0
	var lastWarn time.Time
	for {
		progressed, err := c.session(ctx)
		c.connected.Store(false)
		c.spool.Rewind()
		if ctx.Err() != nil {
			return nil
		}
		c.failures.Add(1)
		if progressed || c.refused.Swap(false) {
			attempt = 0 // a too-large refusal was handled: resend at once
		}
		d := backoff(c.cfg.BackoffMin, c.cfg.BackoffMax, attempt)
		attempt++
		// Warn when the stream goes down and then every 30s while it
		// stays down; the attempts in between are debug noise.
		lvl := slog.LevelDebug
		if progressed || attempt == 1 || time.Since(lastWarn) > 30*time.Second {
			lvl, lastWarn = slog.LevelWarn, time.Now()
		}
		c.log.Log(ctx, lvl, "router stream down; reconnecting", "err", err, "attempt", attempt, "retry_in", d.Round(time.Millisecond), "spooled", c.spool.Len())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}

// backoff is exponential with "equal jitter": half fixed, half random.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo << min(attempt, 20)
	if d > hi || d <= 0 {
		d = hi
	}
	return d/2 + rand.N(d/2+1)
}

type flight struct {
	seqs   []uint64
	bytes  int
	sentAt time.Time
}

// session runs one stream until it breaks. progressed says whether any
// batch was acknowledged (the backoff restarts then).
func (c *Client) session(ctx context.Context) (progressed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The spool holds every alert already encoded, so batches are sent as
	// wire bytes (see wireCodec) rather than decoded and encoded again.
	stream, err := c.conn.NewStream(sctx, &harrierv1.Ingest_ServiceDesc.Streams[0],
		harrierv1.Ingest_Stream_FullMethodName, grpc.ForceCodecV2(wireCodec{}))
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	c.connects.Add(1)
	c.connected.Store(true)
	c.log.Info("router stream up")

	var (
		mu       sync.Mutex
		inflight = map[uint64]flight{}
		slots    = make(chan struct{}, c.cfg.Window)
		recvErr  = make(chan error, 1)
		acks     atomic.Uint64
	)
	go func() {
		for {
			ack := new(harrierv1.BatchAck)
			err := stream.RecvMsg(ack)
			if err != nil {
				if status.Code(err) == codes.ResourceExhausted {
					c.refusedTooLarge(&mu, inflight, err)
				}
				recvErr <- err
				return
			}
			mu.Lock()
			f, ok := inflight[ack.GetSequence()]
			delete(inflight, ack.GetSequence())
			mu.Unlock()
			if !ok {
				c.log.Warn("router acknowledged an unknown batch", "sequence", ack.GetSequence())
				continue
			}
			switch ack.GetStatus() {
			case harrierv1.AckStatus_ACK_STATUS_OK:
				if err := c.spool.Ack(f.seqs); err != nil {
					recvErr <- fmt.Errorf("spool ack: %w", err)
					return
				}
				c.acked.Add(1)
				c.alertsAcked.Add(uint64(len(f.seqs)))
				acks.Add(1)
			case harrierv1.AckStatus_ACK_STATUS_REJECTED:
				// Resending cannot help; keeping it would wedge the spool.
				c.log.Error("router rejected a batch; its alerts are dropped",
					"sequence", ack.GetSequence(), "alerts", len(f.seqs), "reason", ack.GetReason())
				if err := c.spool.Ack(f.seqs); err != nil {
					recvErr <- fmt.Errorf("spool ack: %w", err)
					return
				}
				c.rej.Add(1)
				c.alertsRejected.Add(uint64(len(f.seqs)))
			default: // RETRY, or a status we do not know: try again later
				c.retry.Add(1)
				c.log.Warn("router asked to retry a batch", "sequence", ack.GetSequence(), "reason", ack.GetReason())
				c.pauseUntil.Store(time.Now().Add(c.cfg.BackoffMin).UnixNano())
				c.spool.Release(f.seqs)
			}
			<-slots
		}
	}()

	defer func() { progressed = acks.Load() > 0 }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var seq uint64
	for {
		// A window slot first: at most Window batches unacknowledged.
		select {
		case slots <- struct{}{}:
		case err := <-recvErr:
			return acks.Load() > 0, streamErr(err)
		case <-ctx.Done():
			return acks.Load() > 0, ctx.Err()
		case <-tick.C:
			if err := c.checkAckTimeout(&mu, inflight); err != nil {
				return acks.Load() > 0, err
			}
			continue
		}
		if p := time.Until(time.Unix(0, c.pauseUntil.Load())); p > 0 {
			select {
			case <-time.After(p):
			case <-ctx.Done():
				return acks.Load() > 0, ctx.Err()
			}
		}
		recs, err := c.fill(ctx, recvErr, tick, &mu, inflight)
		if err != nil {
			return acks.Load() > 0, err
		}
		seqs := make([]uint64, len(recs))
		size := 0
		for i, r := range recs {
			seqs[i] = r.Seq
			size += len(r.Data)
		}
		seq++
		batch := encodeBatch(seq, c.cfg.SensorID, recs)
		mu.Lock()
		inflight[seq] = flight{seqs: seqs, bytes: size, sentAt: time.Now()}
		mu.Unlock()
		if err := stream.SendMsg(batch); err != nil {
			if errors.Is(err, io.EOF) {
				// The real reason comes from Recv.
				select {
				case rerr := <-recvErr:
					err = rerr
				case <-time.After(time.Second):
				}
			}
			return acks.Load() > 0, streamErr(err)
		}
		c.sent.Add(1)
	}
}

// fill waits for records and gathers a batch, lingering briefly for a
// partial one to fill.
func (c *Client) fill(ctx context.Context, recvErr chan error, tick *time.Ticker, mu *sync.Mutex, inflight map[uint64]flight) ([]spool.Record, error) {
	var recs []spool.Record
	var deadline <-chan time.Time
	size := 0
	batchSize, batchBytes := c.cfg.BatchSize, c.cfg.BatchBytes
	if l := int(c.limitBytes.Load()); l > 0 && l < batchBytes {
		batchBytes = l
	}
	if c.singles.Load() > 0 {
		batchSize = 1
		defer c.singles.Add(-1)
	}
	for {
		if len(recs) > 0 && size >= batchBytes {
			return recs, nil
		}
		more, err := c.spool.Next(batchSize-len(recs), max(batchBytes-size, 1))
		if err != nil {
			return nil, err
		}
		if recs == nil {
			recs = more[:0] // filled in place: the first records need no copy
		}
		for _, r := range more {
			if len(r.Data) > maxAlertBytes {
				// No router would take it, and resending it forever would
				// wedge everything behind it.
				c.log.Error("alert too large to deliver; dropped", "bytes", len(r.Data), "limit", maxAlertBytes)
				_ = c.spool.Ack([]uint64{r.Seq})
				c.alertsRejected.Add(1)
				c.tooLarge.Add(1)
				continue
			}
			recs = append(recs, r)
			size += len(r.Data)
		}
		if len(recs) >= batchSize {
			return recs, nil
		}
		if len(recs) > 0 && deadline == nil {
			deadline = time.After(c.cfg.Linger)
		}
		select {
		case <-c.spool.Ready():
		case <-deadline:
			return recs, nil
		case err := <-recvErr:
			return nil, streamErr(err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			if err := c.checkAckTimeout(mu, inflight); err != nil {
				return nil, err
			}
		}
	}
}

// refusedTooLarge handles the router ending the stream because a batch
// exceeded its receive limit. The router acknowledges every batch before
// the refused one, so the oldest unacknowledged batch is the culprit: alone
// it is one alert too large for this router, dropped (counted and logged)
// so that it does not wedge the stream; otherwise later batches get half
// its size and its alerts go one by one.
func (c *Client) refusedTooLarge(mu *sync.Mutex, inflight map[uint64]flight, err error) {
	mu.Lock()
	var culprit flight
	first := uint64(0)
	for seq, f := range inflight {
		if first == 0 || seq < first {
			first, culprit = seq, f
		}
	}
	mu.Unlock()
	if first == 0 {
		return
	}
	c.refused.Store(true)
	if len(culprit.seqs) == 1 {
		c.log.Error("alert larger than the router accepts (its grpc.max_recv_bytes); dropped",
			"bytes", culprit.bytes, "err", err)
		if aerr := c.spool.Ack(culprit.seqs); aerr == nil {
			c.alertsRejected.Add(1)
			c.tooLarge.Add(1)
		}
		return
	}
	c.limitBytes.Store(int64(max(culprit.bytes/2, 1)))
	c.singles.Store(int64(len(culprit.seqs)))
	c.log.Warn("router refused a batch as too large; sending smaller batches", "batch_bytes", culprit.bytes,
		"alerts", len(culprit.seqs), "new_limit_bytes", max(culprit.bytes/2, 1))
}

func (c *Client) checkAckTimeout(mu *sync.Mutex, inflight map[uint64]flight) error {
	mu.Lock()
	defer mu.Unlock()
	for seq, f := range inflight {
		if time.Since(f.sentAt) > c.cfg.AckTimeout {
			return fmt.Errorf("batch %d not acknowledged within %s", seq, c.cfg.AckTimeout)
		}
	}
	return nil
}

func streamErr(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("router closed the stream")
	}
	return err
}

func grpcConnectParams(cfg Config) grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff: grpcbackoff.Config{
			BaseDelay:  cfg.BackoffMin,
			Multiplier: 1.6,
			Jitter:     0.2,
			MaxDelay:   cfg.BackoffMax,
		},
		MinConnectTimeout: 5 * time.Second,
	}
}

// maxAlertBytes is the largest alert sent: a batch of one stays under the
// 4 MiB message limit that gRPC servers apply by default.
const maxAlertBytes = 3 << 20

// encodedBatch is an AlertBatch in protobuf wire format.
type encodedBatch struct{ b []byte }

// encodeBatch frames AlertBatch{sequence, alerts, sensor_id} around the
// alerts' spooled encodings (proto/batchwire), in one allocation.
func encodeBatch(seq uint64, sensorID string, recs []spool.Record) *encodedBatch {
	n := batchwire.Overhead + len(sensorID)
	for _, r := range recs {
		n += batchwire.AlertOverhead + len(r.Data)
	}
	b := batchwire.AppendSequence(make([]byte, 0, n), seq)
	for _, r := range recs {
		b = batchwire.AppendAlert(b, r.Data)
	}
	return &encodedBatch{b: batchwire.AppendSensorID(b, sensorID)}
}

// wireCodec sends encodedBatch as is and anything else (acks) as protobuf.
// Its name is "proto": on the wire it is indistinguishable from the default.
type wireCodec struct{}

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *encodedBatch:
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return nil, fmt.Errorf("transport: cannot encode %T", v)
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("transport: cannot decode into %T", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}
