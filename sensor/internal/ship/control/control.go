// Package control keeps the sensor's control stream to the router
// (harrier.v1.Fleet/Control) on the connection the alert transport uses:
// it reports the sensor's state (on connect, every Interval and after each
// ruleset) and hands the rulesets the router sends to the daemon.
package control

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Handler is the daemon's side.
type Handler interface {
	// Report describes the sensor now.
	Report() *harrierv1.SensorReport
	// Apply validates and installs a central ruleset; the outcome shows
	// in the next Report.
	Apply(*harrierv1.Ruleset)
}

// Config configures Run.
type Config struct {
	// Interval between reports (default 10s).
	Interval time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay (defaults 250ms
	// and 30s).
	BackoffMin, BackoffMax time.Duration
	Logger                 *slog.Logger
}

// Run keeps the stream open until ctx ends, reconnecting with backoff.
func Run(ctx context.Context, conn grpc.ClientConnInterface, cfg Config, h Handler) {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 250 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "control")
	client := harrierv1.NewFleetClient(conn)
	attempt := 0
	for {
		up, err := session(ctx, client, cfg, h, log)
		if ctx.Err() != nil {
			return
		}
		if up {
			attempt = 0
		}
		d := cfg.BackoffMin << min(attempt, 20)
		if d > cfg.BackoffMax || d <= 0 {
			d = cfg.BackoffMax
		}
		d = d/2 + rand.N(d/2+1)
		attempt++
		log.Debug("control stream down; reconnecting", "err", err, "retry_in", d)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// session runs one stream; up says whether the router answered at all.
func session(ctx context.Context, client harrierv1.FleetClient, cfg Config, h Handler, log *slog.Logger) (up bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Control(sctx, grpc.WaitForReady(true))
	if err != nil {
		return false, err
	}
	if err := stream.Send(h.Report()); err != nil {
		return false, err
	}
	msgs := make(chan *harrierv1.ControlMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-sctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = stream.CloseSend()
			return true, nil
		case err := <-recvErr:
			return true, err
		case m := <-msgs:
			up = true
			if rs := m.GetRuleset(); rs != nil {
				log.Info("central ruleset received", "revision", rs.GetRevision(), "digest", rs.GetDigest())
				h.Apply(rs)
			}
		case <-tick.C:
		}
		if err := stream.Send(h.Report()); err != nil {
			return true, err
		}
	}
}
