package spool

import (
	"fmt"
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
