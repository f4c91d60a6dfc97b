package journal

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// An AckWritten append is answered before its fsync, stays invisible to
// readers until an fsync covers it, and is on disk for a new process to
// find even though this one never closed the journal (a SIGKILL).
func TestAckWrittenAnswersBeforeFsyncAndSurvivesAProcessCrash(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := j.AppendAck(context.Background(), [][]byte{[]byte(fmt.Sprintf("w-%d", i))}, AckWritten); err != nil {
			t.Fatal(err)
		}
	}
	if st := j.Stats(); st.Next != 1 || st.Syncs != 0 || st.Unsynced != 10 {
		t.Fatalf("after 10 written appends with an hour's window: %+v, want nothing fsynced or visible yet", st)
	}
	if got := readAll(t, j, 1); len(got) != 0 {
		t.Fatalf("a reader saw %d unsynced records", len(got))
	}
	// A second journal on the same directory is what a restarted router
	// sees after a SIGKILL: the file holds everything answered.
	j2, err := Open(dir, Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, j2, 1)
	j2.Close()
	if len(got) != 10 || string(got[9].Data) != "w-9" {
		t.Fatalf("reopened journal has %d records, want the 10 answered", len(got))
	}
	// An AckFsync append does not wait for the window: it fsyncs now,
	// covering the written records before it.
	start := time.Now()
	first, err := j.AppendAck(context.Background(), [][]byte{[]byte("f")}, AckFsync)
	if err != nil {
		t.Fatal(err)
	}
	if first != 11 || time.Since(start) > 30*time.Second {
		t.Fatalf("fsync append: first %d after %v", first, time.Since(start))
	}
	if st := j.Stats(); st.Next != 12 || st.Syncs == 0 {
		t.Fatalf("after an fsync append: %+v, want all 11 visible", st)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// Records answered AckWritten are fsynced and become readable within the
// window without any further append.
func TestAckWrittenIsFsyncedWithinTheInterval(t *testing.T) {
	for _, interval := range []time.Duration{time.Millisecond, 20 * time.Millisecond} {
		t.Run(interval.String(), func(t *testing.T) {
			j, err := Open(t.TempDir(), Options{SyncInterval: interval})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			// Several windows: each one's writes get their fsync.
			for round := range 4 {
				for i := range 5 {
					if _, err := j.AppendAck(context.Background(), [][]byte{[]byte(fmt.Sprint(i))}, AckWritten); err != nil {
						t.Fatal(err)
					}
				}
				want := uint64(5*round + 6)
				deadline := time.Now().Add(10 * time.Second)
				for j.Next() != want {
					if time.Now().After(deadline) {
						t.Fatalf("round %d: records not fsynced within 10s (window %v): %+v", round, interval, j.Stats())
					}
					time.Sleep(time.Millisecond)
				}
			}
			if j.Stats().Syncs == 0 {
				t.Fatal("visible without an fsync")
			}
		})
	}
}

// Close fsyncs what AckWritten appends left in the window.
func TestCloseFsyncsTheWindow(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendAck(t, j, AckWritten, 3)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if st := j.Stats(); st.Next != 4 || st.Syncs == 0 {
		t.Fatalf("after Close: %+v", st)
	}
}

func TestParseAck(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Ack
		ok   bool
	}{{"written", AckWritten, true}, {"FSYNC", AckFsync, true}, {" fsync ", AckFsync, true}, {"sync", 0, false}, {"", 0, false}} {
		got, err := ParseAck(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseAck(%q) = %v, %v", c.in, got, err)
		}
		if c.ok && got.String() != map[Ack]string{AckWritten: "written", AckFsync: "fsync"}[c.want] {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

func appendAck(t testing.TB, j *Journal, ack Ack, n int) {
	t.Helper()
	for i := range n {
		if _, err := j.AppendAck(context.Background(), [][]byte{[]byte(fmt.Sprint(i))}, ack); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkAppendOneAtATime is Falco's http_output seen by the journal: one
// writer, one 400-byte record per append, each waiting for its answer.
func BenchmarkAppendOneAtATime(b *testing.B) {
	for _, ack := range []Ack{AckWritten, AckFsync} {
		b.Run("ack="+ack.String(), func(b *testing.B) {
			j, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			rec := [][]byte{make([]byte, 400)}
			b.SetBytes(400)
			for b.Loop() {
				if _, err := j.AppendAck(context.Background(), rec, ack); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Concurrent callers of both policies, some writing inline and some through
// the writer, across segment rolls: every append gets its own sequence
// numbers and every record is there after a reopen.
func TestMixedPoliciesConcurrently(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentBytes: 4096, SyncInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 200
	firsts := make(chan uint64, workers*per)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			ack := AckWritten
			if w%3 == 0 {
				ack = AckFsync
			}
			for i := range per {
				first, err := j.AppendAck(context.Background(), [][]byte{[]byte(fmt.Sprintf("%d-%d", w, i)), []byte("x")}, ack)
				if err != nil {
					errs <- err
					return
				}
				firsts <- first
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(firsts)
	seen := map[uint64]bool{}
	for f := range firsts {
		if seen[f] || seen[f+1] {
			t.Fatalf("sequence %d given twice", f)
		}
		seen[f], seen[f+1] = true, true
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = Open(dir, Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if got := readAll(t, j, 1); len(got) != 2*workers*per || len(seen) != 2*workers*per {
		t.Fatalf("reopened: %d records, %d sequence numbers given; want %d", len(got), len(seen), 2*workers*per)
	}
}
