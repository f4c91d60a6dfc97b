package server

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"
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
// rules pushes and rollbacks the admin tokens only. An empty ingest or
// client list leaves those services open; an empty admin list refuses
// pushes (the fleet's rules are never open to change). The token sets can
// be replaced while running (configuration reload: token rotation).
type tokenAuth struct {
	sets atomic.Pointer[tokenSets]
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
}

// tokensFor returns the tokens accepted for method and whether an empty
// list means open (false: refuse everyone).
func (a *tokenAuth) tokensFor(method string) ([][]byte, bool) {
	s := a.sets.Load()
	switch method {
	case harrierv1.FleetAdmin_PushRules_FullMethodName, harrierv1.FleetAdmin_RollbackRules_FullMethodName:
		return s.admin, false
	case harrierv1.FleetAdmin_RulesStatus_FullMethodName, harrierv1.FleetAdmin_ListSensors_FullMethodName:
		if len(s.client) == 0 {
			return nil, true
		}
		return append(slices.Clip(s.client), s.admin...), true
	}
	if strings.HasPrefix(method, "/"+harrierv1.Ingest_ServiceDesc.ServiceName+"/") ||
		strings.HasPrefix(method, "/"+harrierv1.Fleet_ServiceDesc.ServiceName+"/") {
		return s.ingest, true
	}
	return s.client, true
}

func (a *tokenAuth) check(ctx context.Context, method string) error {
	want, openWhenEmpty := a.tokensFor(method)
	if len(want) == 0 {
		if openWhenEmpty {
			return nil
		}
		return status.Error(codes.PermissionDenied, "rules pushes are disabled: the router has no grpc.admin_tokens")
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
	return h(srv, ss)
}
