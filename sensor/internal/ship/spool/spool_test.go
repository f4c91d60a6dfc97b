package spool

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	o.Logger = quiet
	if o.SyncInterval == 0 {
		o.SyncInterval = -1
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func entry(i int, p harrierv1.Priority) Entry {
	return Entry{Priority: p, Data: []byte(fmt.Sprintf("alert-%06d", i))}
}

func drain(t *testing.T, s *Spool) []Record {
	t.Helper()
	var all []Record
	for {
		rs, err := s.Next(100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			return all
		}
		all = append(all, rs...)
	}
}

func seqsOf(rs []Record) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func TestAppendNextAckAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4096})
	for i := range 500 {
		if err := s.Append(entry(i, harrierv1.Priority_PRIORITY_WARNING)); err != nil {
			t.Fatal(err)
		}
	}
	got := drain(t, s)
	if len(got) != 500 {
		t.Fatalf("Next handed out %d records, want 500", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("alert-%06d", i); string(r.Data) != want {
			t.Fatalf("record %d = %q, want %q (order must be kept)", i, r.Data, want)
		}
	}
	// Acknowledge the even ones; the odd ones stay handed out (in flight).
	var even []uint64
	for i, r := range got {
		if i%2 == 0 {
			even = append(even, r.Seq)
		}
	}
	if err := s.Ack(even); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 250 {
		t.Fatalf("Len after ack = %d, want 250", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4096})
	defer s.Close()
	got = drain(t, s)
	if len(got) != 250 {
		t.Fatalf("after reopen %d records live, want the 250 unacknowledged", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("alert-%06d", 2*i+1); string(r.Data) != want {
			t.Fatalf("after reopen record %d = %q, want %q", i, r.Data, want)
		}
	}
	// New seqs never reuse old ones.
	if err := s.Append(entry(9999, harrierv1.Priority_PRIORITY_WARNING)); err != nil {
		t.Fatal(err)
	}
	nw := drain(t, s)
	if len(nw) != 1 || nw[0].Seq <= got[len(got)-1].Seq {
		t.Fatalf("new record seq %v does not follow %d", seqsOf(nw), got[len(got)-1].Seq)
	}
}

func TestFullyAckedSegmentsAreDeleted(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 2048})
	defer s.Close()
	for i := range 1000 {
		if err := s.Append(entry(i, harrierv1.Priority_PRIORITY_NOTICE)); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Stats().Segments
	if before < 5 {
		t.Fatalf("only %d segments for 1000 records of 2 KiB segments", before)
	}
	got := drain(t, s)
	if err := s.Ack(seqsOf(got)); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Segments != 1 || st.Live != 0 || st.LiveBytes != 0 {
		t.Fatalf("after acking all: %+v, want one (active) segment and nothing live", st)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(files) != 1 {
		t.Fatalf("%d segment files on disk, want 1", len(files))
	}
}

func TestReleaseAndRewind(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	for i := range 10 {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_ERROR))
	}
	a, _ := s.Next(4, 1<<20)
	b, _ := s.Next(4, 1<<20)
	s.Release(seqsOf(a))
	again, _ := s.Next(4, 1<<20)
	if !slices.Equal(seqsOf(again), seqsOf(a)) {
		t.Fatalf("released records came back as %v, want %v", seqsOf(again), seqsOf(a))
	}
	if string(again[0].Data) != "alert-000000" || string(again[3].Data) != "alert-000003" {
		t.Fatalf("released records read back as %q..%q", again[0].Data, again[3].Data)
	}
	s.Rewind()
	all := drain(t, s)
	if len(all) != 10 {
		t.Fatalf("after Rewind %d records pending, want 10", len(all))
	}
	_ = b
}

func TestTornTailIsRepaired(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 1 << 20})
	for i := range 100 {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_WARNING))
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(files)
	last := files[len(files)-1]
	fi, _ := os.Stat(last)
	// Cut the last record in half, as a crash during write would.
	if err := os.Truncate(last, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{SegmentBytes: 1 << 20})
	got := drain(t, s)
	if len(got) != 99 {
		t.Fatalf("after a torn tail %d records, want 99", len(got))
	}
	// Appends go on after the repair and survive another reopen.
	_ = s.Append(entry(100, harrierv1.Priority_PRIORITY_WARNING))
	s.Close()
	s = open(t, dir, Options{SegmentBytes: 1 << 20})
	defer s.Close()
	if got := drain(t, s); len(got) != 100 || string(got[99].Data) != "alert-000100" {
		t.Fatalf("after repair and append: %d records, last %q", len(got), got[len(got)-1].Data)
	}
}

func TestCorruptRecordIsSkippedNotFatal(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 1 << 20})
	for i := range 50 {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_WARNING))
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(files)
	data, _ := os.ReadFile(files[0])
	data[len(data)/2] ^= 0xff // flip a byte in the middle
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{SegmentBytes: 1 << 20})
	defer s.Close()
	got := drain(t, s)
	if len(got) == 0 || len(got) >= 50 {
		t.Fatalf("after corrupting a record: %d records, want some but fewer than 50", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("alert-%06d", i); string(r.Data) != want {
			t.Fatalf("record %d = %q, want %q", i, r.Data, want)
		}
	}
}

func TestFullSpoolDropsOldestLeastSevereFirst(t *testing.T) {
	// Each record is 8+9+12 = 29 bytes; live capacity is MaxBytes/2.
	const recLen = 29
	s := open(t, t.TempDir(), Options{MaxBytes: 2 * 100 * recLen, SegmentBytes: 10 * recLen})
	defer s.Close()
	// 50 critical, then 50 debug: the spool is exactly full.
	for i := range 50 {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_CRITICAL))
	}
	for i := 50; i < 100; i++ {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_DEBUG))
	}
	if st := s.Stats(); st.DroppedTotal() != 0 || st.Live != 100 {
		t.Fatalf("before overflow: %+v", st)
	}
	// 30 more warnings: the 30 oldest debug records must go.
	for i := 100; i < 130; i++ {
		if err := s.Append(entry(i, harrierv1.Priority_PRIORITY_WARNING)); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Dropped[harrierv1.Priority_PRIORITY_DEBUG] != 30 || st.DroppedTotal() != 30 {
		t.Fatalf("dropped %v, want 30 debug", st.Dropped)
	}
	got := drain(t, s)
	var names []string
	for _, r := range got {
		names = append(names, string(r.Data))
	}
	if len(got) != 100 {
		t.Fatalf("%d live, want 100", len(got))
	}
	if names[50] != "alert-000080" {
		t.Fatalf("oldest surviving debug record is %q, want alert-000080 (oldest go first)", names[50])
	}
	// 30 more criticals: the rest of the debug (20), then the oldest warnings (10).
	for i := 130; i < 160; i++ {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_CRITICAL))
	}
	st = s.Stats()
	if st.Dropped[harrierv1.Priority_PRIORITY_DEBUG] != 50 || st.Dropped[harrierv1.Priority_PRIORITY_WARNING] != 10 {
		t.Fatalf("dropped %v, want 50 debug then 10 warning", st.Dropped)
	}
	if fresh := drain(t, s); len(fresh) != 30 || string(fresh[0].Data) != "alert-000130" {
		t.Fatalf("pending after the second overflow: %d records; only the 30 new ones should be", len(fresh))
	}
	s.Rewind()
	got = drain(t, s)
	crit := 0
	for _, r := range got {
		if r.Priority == harrierv1.Priority_PRIORITY_CRITICAL {
			crit++
		}
	}
	if crit != 80 {
		t.Fatalf("%d critical records kept, want all 80", crit)
	}
}

func TestDiskStaysBoundedUnderChurn(t *testing.T) {
	// Router away: records pile up past capacity with mixed priorities,
	// so drops are spread across segments and compaction must reclaim.
	const max = 64 << 10
	s := open(t, t.TempDir(), Options{MaxBytes: max, SegmentBytes: 4 << 10})
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		p := harrierv1.Priority(1 + rng.IntN(8))
		if err := s.Append(entry(i, p)); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.DiskBytes > max+4<<10+512 {
			t.Fatalf("after %d appends disk use %d exceeds bound %d (+1 segment)", i, st.DiskBytes, max)
		}
	}
	st := s.Stats()
	if st.DroppedTotal() == 0 || st.Compactions == 0 {
		t.Fatalf("expected drops and compactions: %+v", st)
	}
	if uint64(st.Live)+st.DroppedTotal() != 20000 {
		t.Fatalf("live %d + dropped %d != appended 20000", st.Live, st.DroppedTotal())
	}
	// What is left is the most severe.
	got := drain(t, s)
	sev := map[harrierv1.Priority]int{}
	for _, r := range got {
		sev[r.Priority]++
	}
	if sev[harrierv1.Priority_PRIORITY_DEBUG] > 0 && sev[harrierv1.Priority_PRIORITY_EMERGENCY] < 2000 {
		t.Fatalf("debug records kept while emergencies were dropped: %v", sev)
	}
}

// TestCrashAtAnyPointReopens truncates the newest segment and the ack log at
// every length: Open must always succeed, keep every record written before
// the cut and never resurrect a record whose ack survived.
func TestCrashAtAnyPointReopens(t *testing.T) {
	src := t.TempDir()
	s := open(t, src, Options{SegmentBytes: 1 << 20})
	for i := range 20 {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_WARNING))
	}
	got := drain(t, s)
	_ = s.Ack(seqsOf(got[:5]))
	s.Close()
	files, _ := filepath.Glob(filepath.Join(src, "*.seg"))
	slices.Sort(files)
	seg := files[len(files)-1]
	segData, _ := os.ReadFile(seg)
	ackData, _ := os.ReadFile(filepath.Join(src, ackLogName))

	for cut := 0; cut <= len(segData); cut += 3 {
		dir := t.TempDir()
		_ = os.WriteFile(filepath.Join(dir, filepath.Base(seg)), segData[:cut], 0o600)
		_ = os.WriteFile(filepath.Join(dir, ackLogName), ackData, 0o600)
		s, err := Open(dir, Options{Logger: quiet, SyncInterval: -1})
		if err != nil {
			t.Fatalf("cut %d: Open: %v", cut, err)
		}
		rs := drain(t, s)
		for _, r := range rs {
			if r.Seq <= 5 {
				t.Fatalf("cut %d: acknowledged record %d came back", cut, r.Seq)
			}
		}
		s.Close()
	}
	for cut := 0; cut <= len(ackData); cut++ {
		dir := t.TempDir()
		_ = os.WriteFile(filepath.Join(dir, filepath.Base(seg)), segData, 0o600)
		_ = os.WriteFile(filepath.Join(dir, ackLogName), ackData[:cut], 0o600)
		s, err := Open(dir, Options{Logger: quiet, SyncInterval: -1})
		if err != nil {
			t.Fatalf("ack cut %d: Open: %v", cut, err)
		}
		if n := len(drain(t, s)); n < 15 {
			t.Fatalf("ack cut %d: %d records, want at least the 15 unacknowledged", cut, n)
		}
		s.Close()
	}
}

func TestCheckpointKeepsAckLogSmall(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 1 << 20})
	for i := range 30000 {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_INFORMATIONAL))
		rs, _ := s.Next(1, 1<<20)
		// Ack out of order every other record, the worst case for ranges.
		if i%2 == 1 {
			_ = s.Ack(seqsOf(rs))
		}
	}
	s.Close()
	fi, err := os.Stat(filepath.Join(dir, ackLogName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 256<<10 {
		t.Fatalf("ack log is %d bytes after 15000 acks; checkpoints should bound it", fi.Size())
	}
	s = open(t, dir, Options{SegmentBytes: 1 << 20})
	defer s.Close()
	got := drain(t, s)
	if len(got) != 15000 {
		t.Fatalf("after reopen %d live, want 15000", len(got))
	}
	for _, r := range got {
		var i int
		fmt.Sscanf(strings.TrimPrefix(string(r.Data), "alert-"), "%d", &i)
		if i%2 == 1 {
			t.Fatalf("acknowledged record %s came back", r.Data)
		}
	}
}

func TestRangesRoundTrip(t *testing.T) {
	cases := [][]uint64{nil, {1}, {1, 2, 3}, {1, 3, 5, 6, 7, 100, 1 << 40}}
	for _, seqs := range cases {
		rs := rangesOf(seqs)
		back, ok := decodeRanges(encodeRanges(nil, rs))
		if !ok {
			t.Fatalf("%v: decode failed", seqs)
		}
		for _, s := range seqs {
			if !back.contains(s) {
				t.Fatalf("%v: %d missing after round trip", seqs, s)
			}
		}
		if back.contains(4) && !slices.Contains(seqs, 4) {
			t.Fatalf("%v: 4 present after round trip", seqs)
		}
	}
	if _, ok := decodeRanges([]byte{5, 1}); ok {
		t.Fatal("truncated ranges decoded")
	}
}

func TestForeignSegmentIsRefusedClearly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "0000000000000001.seg"), []byte("SOMETHING ELSE ENTIRELY"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{Logger: quiet, SyncInterval: -1})
	if err == nil || !strings.Contains(err.Error(), "not a Harrier spool segment") {
		t.Fatalf("Open over a foreign segment: %v", err)
	}
}

// TestCacheAndDiskAgree hands out records partly from the in-memory cache
// and partly from the segment files (a cache that holds two records).
func TestCacheAndDiskAgree(t *testing.T) {
	s := open(t, t.TempDir(), Options{CacheBytes: 24})
	defer s.Close()
	for i := range 10 {
		_ = s.Append(entry(i, harrierv1.Priority_PRIORITY_WARNING))
	}
	got := drain(t, s)
	if len(got) != 10 {
		t.Fatalf("%d records", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("alert-%06d", i); string(r.Data) != want {
			t.Fatalf("record %d = %q, want %q", i, r.Data, want)
		}
	}
	if s.cached != 0 {
		t.Fatalf("cache holds %d bytes after everything was handed out", s.cached)
	}
}
