package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
)

// TestReloadRevokingATokenEndsItsOpenStreams: a subscriber whose client
// token a configuration reload withdrew loses its open stream at once;
// a stream on a token that stays goes on.
func TestReloadRevokingATokenEndsItsOpenStreams(t *testing.T) {
	e := start(t, "")
	conn := e.dial(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := harrierv1.NewSubscriptionClient(conn).Subscribe(withToken(ctx, clientToken), &harrierv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := sub.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	poll.Until(t, 10*time.Second, "the subscription registered", func() bool { return e.r.hub.Subscribers() == 1 })

	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.GRPC.ClientTokens = []string{"a-new-client-token-0123456789"}
	if err := e.r.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("revoked stream ended with %v, want Unauthenticated", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of a revoked token is still open")
	}
	// The new token opens a stream; the old one is refused.
	if _, err := harrierv1.NewSubscriptionClient(conn).Subscribe(withToken(ctx, clientToken), &harrierv1.SubscribeRequest{}); err == nil {
		// Server-streaming calls report refusal at the first Recv.
		st, _ := harrierv1.NewSubscriptionClient(conn).Subscribe(withToken(ctx, clientToken), &harrierv1.SubscribeRequest{})
		if _, err := st.Recv(); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("old token after the reload: %v", err)
		}
	}
}
