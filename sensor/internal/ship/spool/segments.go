package spool

import (
	"fmt"
	"os"
	"slices"
)

// syncDir makes the directory's entries (files created, renamed,
// removed) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// rotate starts a new active segment.
func (s *Spool) rotate() error {
	if a := s.active(); a != nil && a.size <= int64(len(segMagic)) {
		return nil
	}
	// The segment being left is made durable first: once a new one is
	// active, Sync only covers that one.
	if a := s.active(); a != nil && s.opts.SyncInterval >= 0 {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("spool: sync segment before rotating: %w", err)
		}
	}
	id := s.nextSegID
	f, err := os.OpenFile(s.segPath(id), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	s.nextSegID++
	if _, err := f.Write([]byte(segMagic)); err != nil {
		f.Close()
		return fmt.Errorf("spool: new segment: %w", err)
	}
	s.diskBytes += int64(len(segMagic))
	s.segs = append(s.segs, &segment{id: id, f: f, size: int64(len(segMagic))})
	if s.opts.SyncInterval >= 0 {
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("spool: new segment: %w", err)
		}
	}
	return nil
}

func (s *Spool) active() *segment {
	if len(s.segs) == 0 {
		return nil
	}
	return s.segs[len(s.segs)-1]
}

// reclaim deletes every non-active segment without live records.
func (s *Spool) reclaim() {
	kept := s.segs[:0]
	for i, seg := range s.segs {
		if seg.live == 0 && i != len(s.segs)-1 {
			seg.f.Close()
			if err := os.Remove(s.segPath(seg.id)); err != nil {
				s.log.Error("spool: remove segment", "err", err)
			}
			s.diskBytes -= seg.size
			continue
		}
		kept = append(kept, seg)
	}
	clear(s.segs[len(kept):])
	s.segs = kept
}

// flush writes buf at the end of the active segment.
func (s *Spool) flush(buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	a := s.active()
	if _, err := a.f.WriteAt(buf, a.size); err != nil {
		// Leave the torn bytes to the repair at the next Open; forget the
		// records of this write so nothing points at them, and count them
		// as dropped: they are lost (disk full, I/O error).
		var lost [9]uint64
		for seq, l := range s.recs {
			if l.seg == a && l.off >= a.size {
				lost[clampPrio(l.prio)]++
				s.kill(seq, l)
			}
		}
		s.reportDrops(lost)
		return fmt.Errorf("spool: write segment %016x: %w", a.id, err)
	}
	a.size += int64(len(buf))
	s.diskBytes += int64(len(buf))
	s.dirty = true
	s.writeGen++
	return nil
}

// compact copies the live records of seg to the active segment and deletes
// seg. Copies keep their seq, so a crash between the copy and the delete only
// leaves duplicates that replay folds.
func (s *Spool) compact(seg *segment) error {
	var seqs []uint64
	for seq, l := range s.recs {
		if l.seg == seg {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	a := s.active()
	var buf []byte
	for _, seq := range seqs {
		l := s.recs[seq]
		rec := make([]byte, l.n)
		if _, err := seg.f.ReadAt(rec, l.off); err != nil {
			return fmt.Errorf("spool: compact segment %016x: %w", seg.id, err)
		}
		off := a.size + int64(len(buf))
		buf = append(buf, rec...)
		l.seg.live--
		l.seg.liveBytes -= l.n
		l.seg, l.off = a, off
		a.live++
		a.liveBytes += l.n
	}
	if err := s.flush(buf); err != nil {
		return err
	}
	if s.opts.SyncInterval >= 0 {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("spool: sync: %w", err)
		}
	}
	s.stats.Compactions++
	s.log.Debug("spool: compacted segment", "segment", seg.id, "moved", len(seqs))
	s.reclaim()
	return nil
}
