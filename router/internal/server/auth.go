package server

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// tokenAuth checks "authorization: Bearer <token>" per service: sensors
// use the ingest tokens (alert stream and fleet control stream), clients
// (subscribe, dead letters, fleet views) the client or admin tokens, and
// rules pushes and rollbacks the admin tokens only. With no token at all
// the router is open (loopback by default); an empty ingest list leaves
// the sensors' streams open; once any token is configured, client
// endpoints need a client token: (subscriptions replay
// stored alerts, dead letters replay them) never stay open because only
// ingest tokens were set. An empty admin list refuses pushes (the fleet's
// rules are never open to change). The token sets can
// be replaced while running (configuration reload: token rotation).
type tokenAuth struct {
	sets atomic.Pointer[tokenSets]

	mu      sync.Mutex
	streams map[*authedStream]struct{} // open streams, checked again on set
}

type tokenSets struct {
	ingest, client, admin [][]byte
}

func newTokenAuth(ingest, client, admin []string) *tokenAuth {
	a := &tokenAuth{}
	a.set(ingest, client, admin)
	return a
}

func (a *tokenAuth) set(ingest, client, admin []string) {
	conv := func(ts []string) [][]byte {
		out := make([][]byte, len(ts))
		for i, t := range ts {
			out[i] = []byte(t)
		}
		return out
	}
	a.sets.Store(&tokenSets{ingest: conv(ingest), client: conv(client), admin: conv(admin)})
	// A revoked token ends the streams it opened: a subscriber or sensor
	// whose credential was withdrawn must not keep reading or writing.
	a.mu.Lock()
	defer a.mu.Unlock()
	for s := range a.streams {
		if a.check(s.ServerStream.Context(), s.method) != nil {
			s.revoke()
			delete(a.streams, s)
		}
	}
}

// authedStream is an open stream that passed check; revoke ends it.
type authedStream struct {
	grpc.ServerStream
	method  string
	ctx     context.Context
	cancel  context.CancelFunc
	revoked chan struct{}
	once    sync.Once
	sendMu  sync.Mutex
	closed  bool
}

func (s *authedStream) Context() context.Context { return s.ctx }

func (s *authedStream) SendMsg(m any) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.closed {
		return status.Error(codes.Unauthenticated, "token revoked")
	}
	return s.ServerStream.SendMsg(m)
}

func (s *authedStream) revoke() {
	s.once.Do(func() {
		close(s.revoked) // before cancel: a handler ending on the cancel is seen as revoked
		s.cancel()
	})
}

// none: no token of any kind is configured (an open router).
func (s *tokenSets) none() bool { return len(s.ingest)+len(s.client)+len(s.admin) == 0 }

// tokensFor returns the tokens accepted for method and whether an empty
// list means open (false: refuse everyone).
func (a *tokenAuth) tokensFor(method string) ([][]byte, bool) {
	s := a.sets.Load()
	switch method {
	case harrierv1.FleetAdmin_PushRules_FullMethodName, harrierv1.FleetAdmin_RollbackRules_FullMethodName:
		return s.admin, false
	case harrierv1.FleetAdmin_RulesStatus_FullMethodName, harrierv1.FleetAdmin_ListSensors_FullMethodName:
		if s.none() {
			return nil, true
		}
		return append(slices.Clip(s.client), s.admin...), false
	}
	if strings.HasPrefix(method, "/"+harrierv1.Ingest_ServiceDesc.ServiceName+"/") ||
		strings.HasPrefix(method, "/"+harrierv1.Fleet_ServiceDesc.ServiceName+"/") {
		// Sensors keep their own switch: an empty ingest list is open.
		return s.ingest, true
	}
	return s.client, s.none()
}

func (a *tokenAuth) check(ctx context.Context, method string) error {
	want, openWhenEmpty := a.tokensFor(method)
	if len(want) == 0 {
		if openWhenEmpty {
			return nil
		}
		if method == harrierv1.FleetAdmin_PushRules_FullMethodName || method == harrierv1.FleetAdmin_RollbackRules_FullMethodName {
			return status.Error(codes.PermissionDenied, "rules pushes are disabled: the router has no grpc.admin_tokens")
		}
		return status.Error(codes.PermissionDenied, "client endpoints need a client token once any token is configured: set grpc.client_tokens")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		got, ok := strings.CutPrefix(v, "Bearer ")
		if !ok {
			continue
		}
		for _, w := range want {
			if subtle.ConstantTimeCompare([]byte(got), w) == 1 {
				return nil
			}
		}
	}
	return status.Error(codes.Unauthenticated, "missing or invalid bearer token")
}

func (a *tokenAuth) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (a *tokenAuth) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := a.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ss.Context())
	as := &authedStream{ServerStream: ss, method: info.FullMethod, ctx: ctx, cancel: cancel, revoked: make(chan struct{})}
	a.mu.Lock()
	if a.streams == nil {
		a.streams = map[*authedStream]struct{}{}
	}
	a.streams[as] = struct{}{}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.streams, as)
		a.mu.Unlock()
		cancel()
	}()
	done := make(chan error, 1)
	go func() { done <- h(srv, as) }()
	select {
	case err := <-done:
		select {
		case <-as.revoked: // the handler ended because its context was cancelled
			return status.Error(codes.Unauthenticated, "token revoked by a configuration reload")
		default:
			return err
		}
	case <-as.revoked:
		// Returning ends the stream (the handler may be blocked in Recv,
		// which only the stream's end releases); no send runs meanwhile.
		as.sendMu.Lock()
		as.closed = true
		as.sendMu.Unlock()
		return status.Error(codes.Unauthenticated, "token revoked by a configuration reload")
	}
}
