package spool

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Sync fsyncs the active segment and the ack log.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.syncLocked()
}

func (s *Spool) syncLocked() error {
	if !s.dirty {
		return nil
	}
	if a := s.active(); a != nil {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("spool: sync segment: %w", err)
		}
	}
	if err := s.acks.Sync(); err != nil {
		return fmt.Errorf("spool: sync ack log: %w", err)
	}
	s.dirty = false
	s.syncedGen = s.writeGen
	return nil
}

// Commit makes every record appended before the call durable (fsync of the
// active segment; segments left behind were synced when rotated). Callers
// that arrive while a commit is running share the next one (group commit),
// and the fsync runs outside the spool's lock, so appends and delivery go
// on meanwhile. With a negative SyncInterval it does nothing.
func (s *Spool) Commit() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	want := s.writeGen
	if s.opts.SyncInterval < 0 || s.syncedGen >= want {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()

	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.syncedGen >= want {
		s.mu.Unlock()
		return nil // a commit that ran while this one waited covered it
	}
	target := s.writeGen
	f := s.active().f
	s.mu.Unlock()
	err := f.Sync()
	s.mu.Lock()
	if err != nil && errors.Is(err, os.ErrClosed) && s.active().f != f {
		// The segment was rotated away (synced then) and reclaimed since.
		err = nil
	}
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("spool: commit: %w", err)
	}
	if target > s.syncedGen {
		s.syncedGen = target
	}
	s.commits++
	s.mu.Unlock()
	return nil
}

func (s *Spool) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if !s.closed {
				if err := s.syncLocked(); err != nil {
					s.log.Error("spool: periodic sync", "err", err)
				}
			}
			s.mu.Unlock()
		}
	}
}
