package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func appendN(t *testing.T, j *Journal, from, n int) {
	t.Helper()
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = []byte(fmt.Sprintf("rec-%d", from+i))
	}
	if _, err := j.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// readAll is the entries readable from from on (see readAllLosses).
func readAll(t *testing.T, j *Journal, from uint64) []Entry {
	t.Helper()
	out, _ := readAllLosses(t, j, from)
	return out
}

func TestAppendReadAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		appendN(t, j, i*5, 5)
	}
	if st := j.Stats(); st.Segments < 5 || st.Next != 51 {
		t.Fatalf("stats %+v: want several segments and next 51", st)
	}
	got := readAll(t, j, 1)
	if len(got) != 50 {
		t.Fatalf("read %d records, want 50", len(got))
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || string(e.Data) != fmt.Sprintf("rec-%d", i) {
			t.Fatalf("record %d = %d %q", i, e.Seq, e.Data)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = Open(dir, Options{SegmentBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.Next() != 51 {
		t.Fatalf("after reopen next = %d", j.Next())
	}
	appendN(t, j, 50, 1)
	got = readAll(t, j, 48)
	if len(got) != 4 || got[3].Seq != 51 || string(got[3].Data) != "rec-50" {
		t.Fatalf("after reopen read %+v", got)
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 0, 3)
	j.Close()
	seg := filepath.Join(dir, segName(1))
	// A crash in the middle of a write: half a header, then a record with a
	// bad checksum.
	for _, tail := range [][]byte{{7, 0, 0}, EncodeRecord(nil, 1, []byte("torn"))[:10], corrupt(EncodeRecord(nil, 1, []byte("bad")))} {
		f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
		f.Write(tail)
		f.Close()
		j, err = Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if j.Next() != 4 {
			t.Fatalf("tail %v: next = %d, want 4", tail, j.Next())
		}
		if got := readAll(t, j, 1); len(got) != 3 {
			t.Fatalf("read %d records", len(got))
		}
		j.Close()
	}
	j, _ = Open(dir, Options{})
	appendN(t, j, 3, 1)
	got := readAll(t, j, 4)
	if len(got) != 1 || string(got[0].Data) != "rec-3" {
		t.Fatalf("append after truncation: %+v", got)
	}
	j.Close()
}

func corrupt(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }

func TestRetentionDropsOldestAndReaderSkips(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentBytes: 100, MaxBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r := j.NewReader(1)
	defer r.Close()
	for i := 0; i < 40; i++ {
		appendN(t, j, i, 1)
	}
	st := j.Stats()
	if st.Bytes > 300+100 || st.DroppedRecords == 0 || st.First == 1 {
		t.Fatalf("retention did not bite: %+v", st)
	}
	e, err := r.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != st.First || r.Skipped() != st.First-1 {
		t.Fatalf("reader got seq %d skipped %d; first is %d", e.Seq, r.Skipped(), st.First)
	}
}

func TestRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentBytes: 50, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := 0; i < 5; i++ {
		appendN(t, j, i, 2)
	}
	j.enforceRetention(time.Now().Add(2 * time.Hour))
	if st := j.Stats(); st.Segments != 1 || st.DroppedRecords == 0 {
		t.Fatalf("age retention: %+v", st)
	}
}

func TestConcurrentAppendersGroupCommit(t *testing.T) {
	j, err := Open(t.TempDir(), Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	r := j.NewReader(1)
	const writers, per = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := j.Append(context.Background(), [][]byte{[]byte(fmt.Sprintf("%d/%d", w, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(seen) < writers*per {
		e, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %d: %v", len(seen), err)
		}
		if seen[string(e.Data)] {
			t.Fatalf("duplicate %s", e.Data)
		}
		seen[string(e.Data)] = true
	}
	wg.Wait()
	if st := j.Stats(); st.Syncs >= writers*per {
		t.Errorf("no group commit: %d syncs for %d appends", st.Syncs, writers*per)
	}
}

func TestCursor(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCursor(dir, "webhook.soc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(); err != ErrNoCursor {
		t.Fatalf("fresh cursor: %v", err)
	}
	if err := c.Store(42); err != nil {
		t.Fatal(err)
	}
	c2, _ := OpenCursor(dir, "webhook.soc")
	if v, err := c2.Load(); err != nil || v != 42 {
		t.Fatalf("load = %d, %v", v, err)
	}
	if _, err := OpenCursor(dir, "../x"); err == nil {
		t.Fatal("path traversal accepted")
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(EncodeRecord(nil, 1, []byte("hello")))
	f.Add(append(EncodeRecord(nil, 1, []byte("a")), 1, 2, 3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DecodeRecords(b)
		if err == nil && n > len(b)/headerSize {
			t.Fatalf("%d records from %d bytes", n, len(b))
		}
	})
}

func TestAppendAfterCloseFails(t *testing.T) {
	j, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 0, 1)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(context.Background(), [][]byte{[]byte("late")}); err != ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := j.NewReader(2).Next(context.Background()); err != ErrClosed {
		t.Fatalf("reader at the end after close: %v", err)
	}
}
