// Package fleet is the router's side of the sensor fleet: the control
// stream each sensor keeps open (its reports in, the central ruleset out),
// the versioned ruleset store, and the admin API harrierctl uses to push,
// roll back and look at the fleet.
//
// A push is validated here with the sensor's own rules engine (the sensor
// module's rulecheck package) before anything is stored or sent, so a
// broken rule never reaches a sensor; each sensor validates again and
// reports what it runs.
package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/rulecheck"
)

// forgetAfter drops a disconnected sensor from the fleet view.
const forgetAfter = 24 * time.Hour

// historyShown bounds the revisions RulesStatus returns.
const historyShown = 20

// Service holds the fleet state. Register its Control and Admin servers.
type Service struct {
	store *Store
	log   *slog.Logger
	now   func() time.Time

	pushMu  sync.Mutex // one push or rollback at a time
	mu      sync.Mutex
	sensors map[string]*sensor
}

type sensor struct {
	report    *harrierv1.SensorReport
	connected bool
	since     time.Time // connected since
	lastSeen  time.Time
	peer      string
	// send carries the ruleset to the sensor's stream; it holds the
	// latest only (a newer push replaces one not yet sent).
	send chan *harrierv1.Ruleset
	gen  uint64 // which stream owns this entry
}

// New opens the ruleset store under dir.
func New(dir string, log *slog.Logger) (*Service, error) {
	st, err := OpenStore(dir)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: st, log: log, now: time.Now, sensors: map[string]*sensor{}}, nil
}

// Current is the central ruleset (nil before the first push).
func (s *Service) Current() *harrierv1.Ruleset { return s.store.Current() }

// ControlServer is the Fleet service for sensors.
func (s *Service) ControlServer() harrierv1.FleetServer { return controlServer{s: s} }

// AdminServer is the FleetAdmin service for harrierctl.
func (s *Service) AdminServer() harrierv1.FleetAdminServer { return adminServer{s: s} }

type controlServer struct {
	harrierv1.UnimplementedFleetServer
	s *Service
}

var streamGen struct {
	sync.Mutex
	n uint64
}

func nextGen() uint64 {
	streamGen.Lock()
	defer streamGen.Unlock()
	streamGen.n++
	return streamGen.n
}

// Control serves one sensor's stream: the first report names the sensor;
// the current ruleset goes out when the sensor opted in and runs another
// revision; later reports refresh the fleet view.
func (c controlServer) Control(stream harrierv1.Fleet_ControlServer) error {
	s := c.s
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	id := first.GetSensorId()
	if id == "" {
		return status.Error(codes.InvalidArgument, "the first report must carry sensor_id")
	}
	from := ""
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	gen := nextGen()
	send := make(chan *harrierv1.Ruleset, 1)
	now := s.now()
	s.mu.Lock()
	s.sensors[id] = &sensor{report: first, connected: true, since: now, lastSeen: now, peer: from, send: send, gen: gen}
	s.mu.Unlock()
	s.log.Info("sensor connected", "sensor", id, "hostname", first.GetHostname(), "version", first.GetSensorVersion(),
		"peer", from, "central_rules", first.GetCentralRules(), "ruleset_revision", first.GetRulesetRevision())
	defer func() {
		s.mu.Lock()
		if e := s.sensors[id]; e != nil && e.gen == gen {
			e.connected, e.lastSeen, e.send = false, s.now(), nil
		}
		s.mu.Unlock()
		s.log.Info("sensor disconnected", "sensor", id)
	}()
	if cur := s.store.Current(); cur != nil && wants(first, cur) {
		send <- cur
	}

	recvErr := make(chan error, 1)
	go func() {
		for {
			rep, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			s.mu.Lock()
			if e := s.sensors[id]; e != nil && e.gen == gen {
				e.report, e.lastSeen = rep, s.now()
			}
			s.mu.Unlock()
			if rep.GetLastError() != "" && rep.GetRefusedRevision() != 0 {
				s.log.Warn("sensor refused the central ruleset", "sensor", id, "revision", rep.GetRefusedRevision(), "err", rep.GetLastError())
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-recvErr:
			if status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) {
				return nil
			}
			return nil // EOF or a broken stream: the sensor reconnects
		case rs := <-send:
			if err := stream.Send(&harrierv1.ControlMessage{Msg: &harrierv1.ControlMessage_Ruleset{Ruleset: rs}}); err != nil {
				return err
			}
			s.log.Info("ruleset sent", "sensor", id, "revision", rs.GetRevision(), "digest", rs.GetDigest())
		}
	}
}

// wants says whether a sensor reporting rep should be sent cur.
func wants(rep *harrierv1.SensorReport, cur *harrierv1.Ruleset) bool {
	return rep.GetCentralRules() && rep.GetRulesetRevision() != cur.GetRevision() && rep.GetRefusedRevision() != cur.GetRevision()
}

// broadcast queues rs for every connected opted-in sensor and returns how
// many.
func (s *Service) broadcast(rs *harrierv1.Ruleset) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint32
	for _, e := range s.sensors {
		if !e.connected || e.send == nil || !e.report.GetCentralRules() {
			continue
		}
		select { // replace an older ruleset still waiting
		case <-e.send:
		default:
		}
		e.send <- rs
		n++
	}
	return n
}

type adminServer struct {
	harrierv1.UnimplementedFleetAdminServer
	s *Service
}

// caller names who made an admin call for the audit log: the fingerprint
// of the bearer token (never the token), the user harrierctl declared and
// the peer address.
func caller(ctx context.Context, user string) (who string, attrs []any) {
	fp := "none"
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			sum := sha256.Sum256([]byte(t))
			fp = "sha256:" + hex.EncodeToString(sum[:6])
		}
	}
	from := ""
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	who = "token " + fp
	if user != "" {
		who = user + " (" + who + ")"
	}
	return who, []any{"token", fp, "user", user, "peer", from}
}

// maxFiles bounds a push (the message size limit bounds the bytes).
const maxFiles = 256

func checkFiles(files []*harrierv1.RuleFile) error {
	if len(files) == 0 {
		return errors.New("no rules files")
	}
	if len(files) > maxFiles {
		return fmt.Errorf("%d files: at most %d", len(files), maxFiles)
	}
	seen := map[string]bool{}
	for _, f := range files {
		n := f.GetName()
		if n == "" || n != filepath.Base(n) || n == "." || n == ".." || strings.ContainsAny(n, "/\\\x00") {
			return fmt.Errorf("file name %q: want a base name", n)
		}
		if seen[n] {
			return fmt.Errorf("file name %q given twice", n)
		}
		seen[n] = true
	}
	return nil
}

// validate compiles files with the sensor's engine.
func validate(files []*harrierv1.RuleFile) (rulecheck.Result, error) {
	in := make([]rulecheck.File, len(files))
	for i, f := range files {
		in[i] = rulecheck.File{Name: f.GetName(), Data: f.GetContent()}
	}
	return rulecheck.Validate(in)
}

func (a adminServer) PushRules(ctx context.Context, req *harrierv1.PushRulesRequest) (*harrierv1.PushRulesResponse, error) {
	s := a.s
	who, attrs := caller(ctx, req.GetUser())
	names := fileNames(req.GetFiles())
	if err := checkFiles(req.GetFiles()); err != nil {
		s.log.Warn("audit: rules push refused", append(attrs, "files", names, "err", err)...)
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	res, err := validate(req.GetFiles())
	if err != nil {
		s.log.Warn("audit: rules push refused", append(attrs, "files", names, "err", err)...)
		return nil, status.Errorf(codes.InvalidArgument, "ruleset refused, nothing was stored or sent: %v", err)
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	if cur := s.store.Current(); cur != nil && cur.GetDigest() == res.Digest {
		s.log.Info("audit: rules push unchanged", append(attrs, "files", names, "revision", cur.GetRevision(), "digest", res.Digest)...)
		return &harrierv1.PushRulesResponse{Ruleset: summary(cur), Warnings: append(res.Warnings, "unchanged: the current revision has these files")}, nil
	}
	return s.store_(ctx, &harrierv1.Ruleset{
		Digest: res.Digest, Files: req.GetFiles(), Created: timestamppb.New(s.now()), Author: who,
		Comment: req.GetComment(), Rules: uint32(res.Rules),
	}, res.Warnings, "audit: rules pushed", attrs)
}

// store_ stores rs as the next revision, logs the audit record and sends it
// to the fleet. pushMu is held.
func (s *Service) store_(_ context.Context, rs *harrierv1.Ruleset, warnings []string, msg string, attrs []any) (*harrierv1.PushRulesResponse, error) {
	stored, err := s.store.Add(rs)
	if err != nil {
		s.log.Error(msg+" failed", append(attrs, "err", err)...)
		return nil, status.Errorf(codes.Internal, "storing the ruleset: %v", err)
	}
	n := s.broadcast(stored)
	s.log.Info(msg, append(attrs, "revision", stored.GetRevision(), "digest", stored.GetDigest(),
		"files", fileNames(stored.GetFiles()), "rules", stored.GetRules(), "comment", stored.GetComment(), "sent_to_sensors", n)...)
	return &harrierv1.PushRulesResponse{Ruleset: summary(stored), Warnings: warnings, Sensors: n}, nil
}

func (a adminServer) RollbackRules(ctx context.Context, req *harrierv1.RollbackRulesRequest) (*harrierv1.PushRulesResponse, error) {
	s := a.s
	who, attrs := caller(ctx, req.GetUser())
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	cur := s.store.Current()
	if cur == nil {
		return nil, status.Error(codes.FailedPrecondition, "no ruleset was pushed yet")
	}
	to := req.GetToRevision()
	if to == 0 {
		if cur.GetRevision() < 2 {
			return nil, status.Error(codes.FailedPrecondition, "no earlier revision to roll back to")
		}
		to = cur.GetRevision() - 1
	}
	target := s.store.Get(to)
	if target == nil {
		return nil, status.Errorf(codes.NotFound, "no revision %d", to)
	}
	// The stored files were valid when pushed; check again in case the
	// engine changed since (an upgraded router).
	res, err := validate(target.GetFiles())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "revision %d no longer validates: %v", to, err)
	}
	comment := fmt.Sprintf("rollback to revision %d", to)
	if req.GetComment() != "" {
		comment += ": " + req.GetComment()
	}
	return s.store_(ctx, &harrierv1.Ruleset{
		Digest: res.Digest, Files: target.GetFiles(), Created: timestamppb.New(s.now()), Author: who,
		Comment: comment, Rules: uint32(res.Rules),
	}, res.Warnings, "audit: rules rolled back", append(attrs, "from_revision", cur.GetRevision(), "to_revision", to))
}

func (a adminServer) RulesStatus(context.Context, *harrierv1.RulesStatusRequest) (*harrierv1.RulesStatusResponse, error) {
	s := a.s
	resp := &harrierv1.RulesStatusResponse{Sensors: s.states()}
	if cur := s.store.Current(); cur != nil {
		resp.Current = summary(cur)
	}
	for i, r := range s.store.History() {
		if i == historyShown {
			break
		}
		resp.History = append(resp.History, summary(r))
	}
	return resp, nil
}

func (a adminServer) ListSensors(context.Context, *harrierv1.ListSensorsRequest) (*harrierv1.ListSensorsResponse, error) {
	return &harrierv1.ListSensorsResponse{Sensors: a.s.states()}, nil
}

// states lists the known sensors by id, forgetting those gone for a day.
func (s *Service) states() []*harrierv1.SensorState {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]*harrierv1.SensorState, 0, len(s.sensors))
	for id, e := range s.sensors {
		if !e.connected && now.Sub(e.lastSeen) > forgetAfter {
			delete(s.sensors, id)
			continue
		}
		out = append(out, &harrierv1.SensorState{Report: e.report, Connected: e.connected,
			LastSeen: timestamppb.New(e.lastSeen), ConnectedSince: timestamppb.New(e.since), Peer: e.peer})
	}
	slices.SortFunc(out, func(a, b *harrierv1.SensorState) int {
		return strings.Compare(a.GetReport().GetSensorId(), b.GetReport().GetSensorId())
	})
	return out
}

// summary is rs with the file names only (no contents).
func summary(rs *harrierv1.Ruleset) *harrierv1.Ruleset {
	out := proto.CloneOf(rs)
	for _, f := range out.Files {
		f.Content = nil
	}
	return out
}

func fileNames(files []*harrierv1.RuleFile) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.GetName()
	}
	return out
}
