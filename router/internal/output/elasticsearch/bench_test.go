package elasticsearch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/harrier-security/harrier/router/internal/output/elasticsearch"
	"github.com/harrier-security/harrier/router/internal/testpeers/espeer"
)

// BenchmarkDeliver measures alerts/s through the output into the ZincSearch
// peer (gzip bulk requests of 500 documents, every alert a new document).
// The peer, not the output, is the limit: compare BenchmarkEncode.
func BenchmarkDeliver(b *testing.B) {
	peer := espeer.Start(b, espeer.Options{})
	o := newOutput(b, elasticsearch.Config{HostPort: peer.URL, Index: "bench"})
	const batch = 500
	ctx := context.Background()
	start := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer() // fresh ids: every alert is a new document
		as := alertsAt(fmt.Sprintf("b%d", i), batch, start, time.Millisecond)
		b.StartTimer()
		if err := o.Deliver(ctx, as); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "alerts/s")
}
