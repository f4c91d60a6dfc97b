package spool

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// TestFsyncErrorsAreReturned: a segment, ack log or directory that cannot
// be synced makes the operation fail with the error instead of reporting
// success. A closed file descriptor is the fsync failure that can be made
// on purpose here (EBADF through os.ErrClosed).
func TestFsyncErrorsAreReturned(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(s *Spool)
		op      func(s *Spool) error // called with s.mu held when internal
		want    string
		locked  bool
	}{
		{"rotate syncs the segment it leaves", func(s *Spool) { s.active().f.Close() },
			func(s *Spool) error { return s.rotate() }, "sync segment before rotating", true},
		{"Sync: the active segment", func(s *Spool) { s.active().f.Close() },
			func(s *Spool) error { return s.Sync() }, "sync segment", false},
		{"Sync: the ack log", func(s *Spool) { s.acks.Close() },
			func(s *Spool) error { return s.Sync() }, "sync ack log", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{SyncInterval: time.Hour, Logger: quiet} /* dirty until Sync */)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() }) // fails on the broken file; only stops the sync loop
			if err := s.Append(entry(1, harrierv1.Priority_PRIORITY_WARNING)); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			tc.breakIt(s)
			s.mu.Unlock()
			var opErr error
			if tc.locked {
				s.mu.Lock()
			}
			opErr = tc.op(s)
			if tc.locked {
				s.mu.Unlock()
			}
			if opErr == nil || !strings.Contains(opErr.Error(), tc.want) || !errors.Is(opErr, os.ErrClosed) {
				t.Errorf("error %v; want %q wrapping the fsync failure", opErr, tc.want)
			}
		})
	}
	// syncDir of a directory that is not there.
	if err := syncDir(t.TempDir() + "/gone"); err == nil {
		t.Error("syncDir of a missing directory succeeded")
	}
}

// TestCommitGroupsFsyncs: Commit makes what was appended durable, shares
// fsyncs among concurrent callers, costs nothing when nothing was written,
// and returns the fsync error of the active segment.
func TestCommitGroupsFsyncs(t *testing.T) {
	s, err := Open(t.TempDir(), Options{SyncInterval: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const callers = 64
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			if err := s.Append(entry(i, harrierv1.Priority_PRIORITY_WARNING)); err != nil {
				errs <- err
				return
			}
			errs <- s.Commit()
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Commits == 0 || st.Commits > callers {
		t.Fatalf("%d commits for %d callers", st.Commits, callers)
	}
	s.mu.Lock()
	durable := s.syncedGen == s.writeGen
	s.mu.Unlock()
	if !durable {
		t.Fatal("writes left unsynced after every Commit returned")
	}
	if err := s.Commit(); err != nil || s.Stats().Commits != st.Commits {
		t.Fatalf("Commit with nothing written: err %v, commits %d -> %d", err, st.Commits, s.Stats().Commits)
	}
	if err := s.Append(entry(1000, harrierv1.Priority_PRIORITY_WARNING)); err != nil {
		t.Fatal(err)
	}
	s.active().f.Close()
	if err := s.Commit(); err == nil || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("Commit on a broken segment: %v", err)
	}
}
