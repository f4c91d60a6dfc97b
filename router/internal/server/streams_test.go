package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
)

// TestGRPCMaxConcurrentStreamsPerConnection: one connection holds at most
// grpc.max_concurrent_streams open calls; the next waits (here until its
// deadline) and gets its slot once one ends.
func TestGRPCMaxConcurrentStreamsPerConnection(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(p, fmt.Appendf(nil, `data_dir: %s/data
grpc: {address: 127.0.0.1:0, max_concurrent_streams: 1}
http: {address: 127.0.0.1:0, metrics_address: 127.0.0.1:0}
log: {level: error}
`, dir), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPC.MaxConcurrentStreams != 1 {
		t.Fatalf("grpc.max_concurrent_streams = %d", cfg.GRPC.MaxConcurrentStreams)
	}
	r, _ := startConfig(t, cfg, nil)
	conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := harrierv1.NewSubscriptionClient(conn)

	first, cancelFirst := context.WithCancel(context.Background())
	defer cancelFirst()
	if _, err := client.Subscribe(first, &harrierv1.SubscribeRequest{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the first subscription registered", func() bool { return r.hub.Subscribers() == 1 })

	// A second call on the same connection (a quick unary one) gets no
	// stream while the first holds the only slot...
	dl := harrierv1.NewDeadLettersClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := dl.List(ctx, &harrierv1.ListDeadLettersRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("second call over the bound: %v, want DeadlineExceeded", err)
	}

	// ...and gets it once the first ends.
	cancelFirst()
	poll.Until(t, 10*time.Second, "the first subscription gone", func() bool { return r.hub.Subscribers() == 0 })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, err := dl.List(ctx2, &harrierv1.ListDeadLettersRequest{}); err != nil {
		t.Fatalf("call in the freed slot: %v", err)
	}
}
