package kafka_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/harrier-security/harrier/router/internal/output/kafka"
)

// BenchmarkDeliver measures alerts/s through the output into an in-memory
// kfake broker on loopback (acks=all, batches of 500, 4 partitions).
func BenchmarkDeliver(b *testing.B) {
	for _, codec := range []string{"none", "lz4", "zstd"} {
		b.Run("compression="+codec, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "bench"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			o := newOutput(b, kafka.Config{HostPort: c.ListenAddrs()[0], Topic: "bench", Compression: codec})
			const batch = 500
			in := alerts("bench", batch, 16)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := o.Deliver(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "alerts/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/alert")
		})
	}
}

// BenchmarkMessage is the output's own cost per alert (Falco JSON, key,
// headers) without any broker.
func BenchmarkMessage(b *testing.B) {
	o := newOutput(b, kafka.Config{HostPort: "127.0.0.1:1", Topic: "bench"})
	in := alerts("msg", 64, 4)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := o.Message(in[i%len(in)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}
