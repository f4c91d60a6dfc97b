package journal

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkAppendGroupCommit appends 500-record batches (≈400-byte alerts)
// from 4 concurrent writers with fsync on; one op is one record.
func BenchmarkAppendGroupCommit(b *testing.B) {
	j, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rec := make([]byte, 400)
	batch := make([][]byte, 500)
	for i := range batch {
		batch[i] = rec
	}
	const writers = 4
	per := b.N/(writers*len(batch)) + 1
	b.SetBytes(int64(len(rec)))
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := j.Append(context.Background(), batch); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	st := j.Stats()
	b.ReportMetric(float64(st.Next-1)/float64(st.Syncs), "records/fsync")
}
