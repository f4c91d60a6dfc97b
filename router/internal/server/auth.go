package server

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// tokenAuth checks "authorization: Bearer <token>" per service: sensors
// use the ingest tokens, clients (subscribe, dead letters) the client
// tokens. An empty token list leaves that service open.
type tokenAuth struct {
	ingest, client [][]byte
}

func newTokenAuth(ingest, client []string) *tokenAuth {
	conv := func(ts []string) [][]byte {
		out := make([][]byte, len(ts))
		for i, t := range ts {
			out[i] = []byte(t)
		}
		return out
	}
	return &tokenAuth{ingest: conv(ingest), client: conv(client)}
}

func (a *tokenAuth) tokensFor(method string) [][]byte {
	if strings.HasPrefix(method, "/"+harrierv1.Ingest_ServiceDesc.ServiceName+"/") {
		return a.ingest
	}
	return a.client
}

func (a *tokenAuth) check(ctx context.Context, method string) error {
	want := a.tokensFor(method)
	if len(want) == 0 {
		return nil
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
