package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recordOffset returns the offset of the i-th record (0-based) of a segment
// written by appendN with payloads "rec-<n>".
func recordOffset(t *testing.T, path string, i int) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for k := 0; k < i; k++ {
		n, ok := recordAt(b, off)
		if !ok {
			t.Fatalf("record %d at %d is not valid", k, off)
		}
		off += headerSize + n
	}
	return off
}

func flip(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x5a
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func readAllLosses(t *testing.T, j *Journal, from uint64) ([]Entry, []Loss) {
	t.Helper()
	r := j.NewReader(from)
	defer r.Close()
	var out []Entry
	for {
		e, ok, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out, r.TakeLosses()
		}
		out = append(out, e)
	}
}

// checkSeqData asserts each entry holds "rec-<seq-1>": numbering survived.
func checkSeqData(t *testing.T, got []Entry) {
	t.Helper()
	for _, e := range got {
		if want := fmt.Sprintf("rec-%d", e.Seq-1); string(e.Data) != want {
			t.Fatalf("seq %d holds %q, want %q", e.Seq, e.Data, want)
		}
	}
}

func TestDamageInTheActiveSegmentIsSkippedNotTruncated(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field int // byte offset inside the record
	}{
		{"payload", headerSize + 2},
		{"checksum", 5},
		{"stamp", 9},
		{"length", 1}, // the framing itself: found again by resync
		{"length low byte", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				appendN(t, j, i*10, 10)
			}
			j.Close()
			seg := filepath.Join(dir, segName(1))
			flip(t, seg, recordOffset(t, seg, 40)+tc.field) // seq 41
			j, err = Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			st := j.Stats()
			if st.Next != 101 || st.DamagedRecords != 1 {
				t.Fatalf("after open: %+v; want next 101 and 1 damaged", st)
			}
			appendN(t, j, 100, 5)
			got, losses := readAllLosses(t, j, 1)
			if len(got) != 104 {
				t.Fatalf("read %d records, want 104", len(got))
			}
			checkSeqData(t, got)
			if len(losses) != 1 || losses[0] != (Loss{From: 41, To: 41, Reason: LossDamaged}) {
				t.Fatalf("losses %v", losses)
			}
			j.Close()
			// A second open finds the same damage in the now sealed segment
			// and keeps the numbering.
			j2, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j2.Close()
			got, losses = readAllLosses(t, j2, 30)
			checkSeqData(t, got)
			if len(got) != 105-30 || len(losses) != 1 || j2.Next() != 106 {
				t.Fatalf("reopened: %d records, losses %v, next %d", len(got), losses, j2.Next())
			}
		})
	}
}

func TestDamageInASealedSegmentWhileRunning(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentBytes: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := 0; i < 60; i++ {
		appendN(t, j, i, 1)
	}
	seg := filepath.Join(dir, segName(1))
	// Two damaged records in one sealed segment, one with broken length.
	o2, o5 := recordOffset(t, seg, 2), recordOffset(t, seg, 5)
	flip(t, seg, o2+headerSize)
	flip(t, seg, o5+2)
	got, losses := readAllLosses(t, j, 1)
	checkSeqData(t, got)
	if len(got) != 58 || len(losses) != 2 || losses[0].From != 3 || losses[1].From != 6 || losses[1].To != 6 {
		t.Fatalf("read %d, losses %v", len(got), losses)
	}
	if st := j.Stats(); st.DamagedRecords != 2 {
		t.Fatalf("stats %+v", st)
	}
	// A reader starting after the damage seeks by the index.
	r := j.NewReader(7)
	defer r.Close()
	if e, ok, err := r.TryNext(); !ok || err != nil || e.Seq != 7 || string(e.Data) != "rec-6" {
		t.Fatalf("seek past damage: %v %v %v", e, ok, err)
	}
}

func TestTailBelowTheHighWaterMarkIsCountedMissing(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 0, 20)
	j.Close()
	// Damage the last, acknowledged record: it looks like a torn tail.
	seg := filepath.Join(dir, segName(1))
	flip(t, seg, recordOffset(t, seg, 19)+headerSize)
	j, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := j.Stats()
	if st.Next != 21 || st.MissingRecords != 1 {
		t.Fatalf("stats %+v: want next 21 (the mark) and 1 missing", st)
	}
	appendN(t, j, 20, 1)
	got, losses := readAllLosses(t, j, 1)
	checkSeqData(t, got)
	if len(got) != 20 || len(losses) != 1 || losses[0] != (Loss{From: 20, To: 20, Reason: LossMissing}) {
		t.Fatalf("read %d, losses %v", len(got), losses)
	}
	j.Close()
}

func TestDeletedSegmentsRestartAfterTheMark(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 0, 30)
	j.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	for _, s := range segs {
		os.Remove(s)
	}
	j, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.Next() != 31 {
		t.Fatalf("next = %d after deleting the segments; want 31", j.Next())
	}
}

func TestAdvanceSkipsForwardAndCounts(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 0, 5)
	if err := j.Advance(50, "test"); err != nil {
		t.Fatal(err)
	}
	if err := j.Advance(10, "test"); err != nil { // behind: no-op
		t.Fatal(err)
	}
	appendN(t, j, 49, 2)
	got, losses := readAllLosses(t, j, 1)
	checkSeqData(t, got)
	if len(got) != 7 || got[5].Seq != 50 || len(losses) != 1 || losses[0] != (Loss{From: 6, To: 49, Reason: LossMissing}) {
		t.Fatalf("read %d, losses %v", len(got), losses)
	}
	if st := j.Stats(); st.MissingRecords != 44 || st.Next != 52 {
		t.Fatalf("stats %+v", st)
	}
	j.Close()
	j, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.Next() != 52 {
		t.Fatalf("reopened next = %d", j.Next())
	}
	if err := j.Advance(60, "test"); err != nil {
		t.Fatal(err)
	}
	_ = context.Background()
}

func FuzzScan(f *testing.F) {
	var b []byte
	for i := range 5 {
		b = EncodeRecord(b, minStamp+int64(i), []byte(fmt.Sprintf("rec-%d", i)))
	}
	f.Add(b, int64(-1))
	f.Add(b[:len(b)-3], int64(7))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, int64(2))
	f.Fuzz(func(t *testing.T, data []byte, total int64) {
		if total > 1<<20 {
			total = 1 << 20
		}
		x := scan(data, total)
		last := int64(-1)
		for _, o := range x.offs {
			if o < 0 {
				continue
			}
			if o <= last || o >= int64(len(data)) {
				t.Fatalf("offsets not increasing inside the data: %v", x.offs)
			}
			last = o
		}
		if total >= 0 && int64(len(x.offs)) > total {
			t.Fatalf("%d positions for a segment of %d", len(x.offs), total)
		}
	})
}

func TestFailedWriteKeepsCommittedRecordsAfterDamage(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	appendN(t, j, 0, 10)
	seg := filepath.Join(dir, segName(1))
	flip(t, seg, recordOffset(t, seg, 3)+headerSize) // damage while running
	size := j.active.size.Load()
	// What a failed group commit leaves: a partial record after the
	// committed ones. recover must cut that, not the records after seq 4.
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(EncodeRecord(nil, minStamp, []byte("unacknowledged"))[:12])
	f.Close()
	j.recover()
	if fi, _ := os.Stat(seg); fi.Size() != size {
		t.Fatalf("after recover the segment holds %d bytes, want the committed %d", fi.Size(), size)
	}
}
