package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestTokenAuthPerMethod(t *testing.T) {
	const ingest, client, admin = "ingest-token-aaaaaaaa", "client-token-bbbbbbbb", "admin-token-cccccccc"
	withToken := func(tok string) context.Context {
		if tok == "" {
			return context.Background()
		}
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
	}
	full := newTokenAuth([]string{ingest}, []string{client}, []string{admin})
	noAdmin := newTokenAuth(nil, nil, nil)
	ingestOnly := newTokenAuth([]string{ingest}, nil, nil)
	tests := []struct {
		name   string
		auth   *tokenAuth
		method string
		token  string
		want   codes.Code
	}{
		{"sensor stream", full, harrierv1.Ingest_Stream_FullMethodName, ingest, codes.OK},
		{"control stream takes the ingest token", full, harrierv1.Fleet_Control_FullMethodName, ingest, codes.OK},
		{"control stream refuses the admin token", full, harrierv1.Fleet_Control_FullMethodName, admin, codes.Unauthenticated},
		{"push with admin", full, harrierv1.FleetAdmin_PushRules_FullMethodName, admin, codes.OK},
		{"push with ingest", full, harrierv1.FleetAdmin_PushRules_FullMethodName, ingest, codes.Unauthenticated},
		{"push with client", full, harrierv1.FleetAdmin_PushRules_FullMethodName, client, codes.Unauthenticated},
		{"rollback with client", full, harrierv1.FleetAdmin_RollbackRules_FullMethodName, client, codes.Unauthenticated},
		{"status with client", full, harrierv1.FleetAdmin_RulesStatus_FullMethodName, client, codes.OK},
		{"sensors with admin", full, harrierv1.FleetAdmin_ListSensors_FullMethodName, admin, codes.OK},
		{"sensors with ingest", full, harrierv1.FleetAdmin_ListSensors_FullMethodName, ingest, codes.Unauthenticated},
		{"no admin tokens: push refused", noAdmin, harrierv1.FleetAdmin_PushRules_FullMethodName, "", codes.PermissionDenied},
		{"no token at all: status open", noAdmin, harrierv1.FleetAdmin_RulesStatus_FullMethodName, "", codes.OK},
		{"no token at all: subscribe open", noAdmin, harrierv1.Subscription_Subscribe_FullMethodName, "", codes.OK},
		{"ingest tokens only: subscribe closed", ingestOnly, harrierv1.Subscription_Subscribe_FullMethodName, "", codes.PermissionDenied},
		{"ingest tokens only: subscribe refuses the ingest token", ingestOnly, harrierv1.Subscription_Subscribe_FullMethodName, ingest, codes.PermissionDenied},
		{"ingest tokens only: dead letters closed", ingestOnly, harrierv1.DeadLetters_Replay_FullMethodName, "", codes.PermissionDenied},
		{"ingest tokens only: fleet status closed", ingestOnly, harrierv1.FleetAdmin_RulesStatus_FullMethodName, "", codes.PermissionDenied},
		{"ingest tokens only: sensors stream", ingestOnly, harrierv1.Ingest_Stream_FullMethodName, ingest, codes.OK},
		{"client token: subscribe", full, harrierv1.Subscription_Subscribe_FullMethodName, client, codes.OK},
		{"ingest token: no subscribe", full, harrierv1.Subscription_Subscribe_FullMethodName, ingest, codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.auth.check(withToken(tc.token), tc.method)); got != tc.want {
				t.Fatalf("code %v, want %v", got, tc.want)
			}
		})
	}
}
