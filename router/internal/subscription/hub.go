// Package subscription serves live alert streams to clients (harrierctl,
// dashboards). A Hub tails the journal once and fans each alert out to the
// subscribers whose filter matches, through a bounded buffer per
// subscriber: a client that stops reading loses alerts from its own stream
// (and is told how many) but never slows ingest, outputs or other clients.
package subscription

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
	"github.com/harrier-security/harrier/router/internal/alertfilter"
	"github.com/harrier-security/harrier/router/internal/journal"
	"github.com/harrier-security/harrier/router/internal/journal/decoded"
)

// Options tune a Hub.
type Options struct {
	// Buffer is each subscriber's queue length in alerts (default 4096).
	Buffer int
	// MaxReplay bounds the stored records scanned for a replay (default
	// 10000).
	MaxReplay int
	// Decoded shares decoded records with delivery (nil: the hub decodes
	// each record it publishes on its own).
	Decoded    *decoded.Ring
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Hub implements harrierv1.SubscriptionServer.
type Hub struct {
	harrierv1.UnimplementedSubscriptionServer
	j      *journal.Journal
	shared SharedLog // instead of j, with the Kafka backend
	opts   Options
	log    *slog.Logger

	closed chan struct{}
	once   sync.Once

	mu   sync.Mutex
	subs map[*subscriber]struct{}
	pos  uint64 // next journal record the hub publishes

	subscribers prometheus.Gauge
	missed      prometheus.Counter
	sent        prometheus.Counter
}

type subscriber struct {
	filter *alertfilter.Filter
	ch     chan *harrierv1.Alert
	missed atomic.Uint64
	wake   chan struct{}
}

// NewHub returns a hub; call Run to start tailing the journal.
func NewHub(j *journal.Journal, opts Options) *Hub {
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	if opts.MaxReplay <= 0 {
		opts.MaxReplay = 10000
	}
	h := &Hub{j: j, opts: opts, log: opts.Logger, subs: map[*subscriber]struct{}{}, closed: make(chan struct{})}
	if j != nil {
		h.pos = j.Next()
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.subscribers = prometheus.NewGauge(prometheus.GaugeOpts{Name: "harrier_router_subscribers", Help: "Connected live subscribers."})
	h.missed = prometheus.NewCounter(prometheus.CounterOpts{Name: "harrier_router_subscriber_missed_total",
		Help: "Alerts dropped from live subscriber streams because the subscriber fell behind."})
	h.sent = prometheus.NewCounter(prometheus.CounterOpts{Name: "harrier_router_subscriber_sent_total",
		Help: "Alerts sent to live subscribers (replays included)."})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.subscribers, h.missed, h.sent)
	}
	return h
}

// Run tails the journal until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	if h.shared != nil {
		h.runShared(ctx)
		return
	}
	h.mu.Lock()
	r := h.j.NewReader(h.pos)
	h.mu.Unlock()
	defer r.Close()
	for {
		wait := r.Wait()
		progressed := false
		for i := 0; i < 4096; i++ {
			e, ok, err := r.TryNextView() // publish decodes before the next read
			for _, l := range r.TakeLosses() {
				// Unreadable records the reader skipped; the outputs
				// count them as lost, live streams only log them.
				h.log.Warn("subscriptions: journal records skipped", "range", l.String())
			}
			if err != nil {
				h.log.Error("subscriptions: journal read failed", "err", err)
				if !retry.Wait(ctx, time.Second) {
					return
				}
				r.Close()
				r = h.j.NewReader(r.Position())
				break
			}
			if !ok {
				break
			}
			progressed = true
			h.publish(e)
		}
		if progressed {
			continue
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return
		}
	}
}

// Close ends every subscription (at shutdown).
func (h *Hub) Close() { h.once.Do(func() { close(h.closed) }) }

// Subscribers is the number of connected subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) publish(e journal.Entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pos = e.Seq + 1
	if len(h.subs) == 0 {
		return // nobody listens: skip decoding
	}
	var a *harrierv1.Alert
	if h.opts.Decoded != nil {
		var err error
		if a, err = h.opts.Decoded.Get(e.Seq, e.Data); err != nil {
			return
		}
	} else {
		a = &harrierv1.Alert{}
		if err := harrierv1.UnmarshalAlert(e.Data, a); err != nil {
			return
		}
	}
	for s := range h.subs {
		if !s.filter.Match(a) {
			continue
		}
		select {
		case s.ch <- a:
		default:
			s.missed.Add(1)
			h.missed.Inc()
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Subscribe implements harrierv1.SubscriptionServer.
func (h *Hub) Subscribe(req *harrierv1.SubscribeRequest, stream harrierv1.Subscription_SubscribeServer) error {
	flt, err := alertfilter.Compile(req.GetFilter())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "filter condition: %v", err)
	}
	s := &subscriber{
		filter: flt,
		ch:     make(chan *harrierv1.Alert, h.opts.Buffer),
		wake:   make(chan struct{}, 1),
	}
	h.mu.Lock()
	start := h.pos
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	h.subscribers.Inc()
	defer func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		h.subscribers.Dec()
	}()

	if req.GetReplayLast() > 0 || req.GetReplaySince() != nil {
		var replayed []*harrierv1.Alert
		if h.shared != nil {
			replayed = h.replayShared(stream.Context(), req, s.filter)
		} else {
			replayed = h.replay(req, s.filter, start)
		}
		for _, a := range replayed {
			if err := stream.Send(&harrierv1.SubscribeResponse{Event: &harrierv1.SubscribeResponse_Alert{Alert: a}}); err != nil {
				return err
			}
			h.sent.Inc()
		}
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.closed:
			return nil
		case a := <-s.ch:
			if err := h.sendMissed(stream, s); err != nil {
				return err
			}
			if err := stream.Send(&harrierv1.SubscribeResponse{Event: &harrierv1.SubscribeResponse_Alert{Alert: a}}); err != nil {
				return err
			}
			h.sent.Inc()
		case <-s.wake:
			// Report losses as soon as the client reads again, even when no
			// further alert arrives.
			if len(s.ch) == 0 {
				if err := h.sendMissed(stream, s); err != nil {
					return err
				}
			}
		}
	}
}

func (h *Hub) sendMissed(stream harrierv1.Subscription_SubscribeServer, s *subscriber) error {
	if n := s.missed.Swap(0); n > 0 {
		return stream.Send(&harrierv1.SubscribeResponse{Event: &harrierv1.SubscribeResponse_Missed{Missed: &harrierv1.Missed{Count: n}}})
	}
	return nil
}

// replay returns the stored alerts before end that match f: the last
// ReplayLast of them and/or those stored since ReplaySince, scanning at most
// MaxReplay records.
func (h *Hub) replay(req *harrierv1.SubscribeRequest, f *alertfilter.Filter, end uint64) []*harrierv1.Alert {
	from := h.j.First()
	if end > uint64(h.opts.MaxReplay) && end-uint64(h.opts.MaxReplay) > from {
		from = end - uint64(h.opts.MaxReplay)
	}
	var since time.Time
	if req.GetReplaySince() != nil {
		since = req.GetReplaySince().AsTime()
	}
	last := int(req.GetReplayLast())
	r := h.j.NewReader(from)
	defer r.Close()
	var out []*harrierv1.Alert
	for r.Position() < end {
		e, ok, err := r.TryNext()
		if err != nil || !ok || e.Seq >= end {
			break
		}
		if !since.IsZero() && e.Stored.Before(since) {
			continue
		}
		a := &harrierv1.Alert{}
		if harrierv1.UnmarshalAlert(e.Data, a) != nil || !f.Match(a) {
			continue
		}
		out = append(out, a)
		if since.IsZero() && last > 0 && len(out) > last {
			out = out[1:]
		}
	}
	if last > 0 && len(out) > last {
		out = out[len(out)-last:]
	}
	return out
}
