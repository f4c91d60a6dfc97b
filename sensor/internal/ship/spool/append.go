package spool

import (
	"container/heap"
	"encoding/binary"
	"hash/crc32"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// kill forgets a live record.
func (s *Spool) kill(seq uint64, l *loc) {
	if l.data != nil {
		s.cached -= int64(len(l.data))
		l.data = nil
	}
	delete(s.recs, seq)
	l.seg.live--
	l.seg.liveBytes -= l.n
	s.liveBytes -= l.n
}

// liveCap is the bound on live bytes: half the disk bound.
func (s *Spool) liveCap() int64 { return s.opts.MaxBytes / 2 }

// Append adds entries to the spool, dropping the oldest least severe records
// when the spool is full. It returns once the records are written to the
// segment file (and fsynced when SyncInterval is zero).
func (s *Spool) Append(entries ...Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var droppedNow [9]uint64
	buf := s.scratch[:0]
	for _, e := range entries {
		n := int64(headerLen + segPrefixLen + len(e.Data))
		if n > s.liveCap() || n > maxRecord {
			s.log.Error("spool: alert too large for the spool; dropped", "bytes", n)
			droppedNow[clampPrio(e.Priority)]++
			continue
		}
		for s.liveBytes+n > s.liveCap() {
			seq, l, ok := s.victim()
			if !ok {
				break
			}
			droppedNow[clampPrio(l.prio)]++
			s.kill(seq, l)
			if err := s.writeAck([]uint64{seq}); err != nil {
				return err
			}
		}
		a := s.active()
		if a.size+int64(len(buf))+n > s.opts.SegmentBytes && a.size+int64(len(buf)) > 0 {
			if err := s.flush(buf); err != nil {
				return err
			}
			buf = buf[:0]
			if err := s.makeRoom(n); err != nil {
				return err
			}
			if err := s.rotate(); err != nil {
				return err
			}
			a = s.active()
		}
		seq := s.nextSeq
		s.nextSeq++
		off := a.size + int64(len(buf))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(segPrefixLen+len(e.Data)))
		crcAt := len(buf)
		buf = append(buf, 0, 0, 0, 0)
		start := len(buf)
		buf = binary.LittleEndian.AppendUint64(buf, seq)
		buf = append(buf, byte(clampPrio(e.Priority)))
		buf = append(buf, e.Data...)
		binary.LittleEndian.PutUint32(buf[crcAt:], crc32.Checksum(buf[start:], castagnoli))
		l := &loc{seg: a, off: off, n: n, prio: e.Priority}
		if s.cached+int64(len(e.Data)) <= s.opts.CacheBytes {
			l.data = e.Data
			s.cached += int64(len(e.Data))
		}
		s.recs[seq] = l
		a.live++
		a.liveBytes += n
		s.liveBytes += n
		heap.Push(&s.pending, seq)
		s.byPrio[rank(e.Priority)].push(seq)
		s.stats.Appended++
	}
	err := s.flush(buf)
	s.scratch = buf[:0]
	if cap(s.scratch) > 4<<20 {
		s.scratch = nil
	}
	s.reportDrops(droppedNow)
	if err != nil {
		return err
	}
	if s.opts.SyncInterval == 0 {
		if err := s.syncLocked(); err != nil {
			return err
		}
	}
	s.signal()
	return nil
}

func (s *Spool) reportDrops(d [9]uint64) {
	for p, n := range d {
		if n == 0 {
			continue
		}
		s.stats.Dropped[p] += n
		s.log.Warn("spool full: dropped the oldest least severe alerts",
			"count", n, "priority", harrierv1.Priority(p).FalcoName(), "dropped_total", s.stats.DroppedTotal())
	}
}

// makeRoom keeps the segment files under MaxBytes by compacting the most
// dead segments before n more bytes are written.
func (s *Spool) makeRoom(n int64) error {
	for guard := 0; s.diskBytes+n > s.opts.MaxBytes && guard < 64; guard++ {
		var best *segment
		for _, seg := range s.segs[:len(s.segs)-1] {
			if best == nil || seg.size-seg.liveBytes > best.size-best.liveBytes {
				best = seg
			}
		}
		if best == nil || best.size-best.liveBytes <= 0 {
			return nil
		}
		if err := s.compact(best); err != nil {
			return err
		}
	}
	return nil
}

// victim picks the oldest record of the least severe priority present.
func (s *Spool) victim() (uint64, *loc, bool) {
	for r := len(s.byPrio) - 1; r >= 0; r-- {
		q := &s.byPrio[r]
		for q.len() > 0 {
			seq := q.peek()
			if l, ok := s.recs[seq]; ok {
				q.pop()
				return seq, l, true
			}
			q.pop()
		}
	}
	return 0, nil, false
}

// rank orders priorities by severity: 0 is the most severe, 9 unknown.
func rank(p harrierv1.Priority) int {
	if p >= harrierv1.Priority_PRIORITY_EMERGENCY && p <= harrierv1.Priority_PRIORITY_DEBUG {
		return int(p) - 1
	}
	return 9
}

func clampPrio(p harrierv1.Priority) harrierv1.Priority {
	if p < 0 || p > harrierv1.Priority_PRIORITY_DEBUG {
		return harrierv1.Priority_PRIORITY_UNSPECIFIED
	}
	return p
}
