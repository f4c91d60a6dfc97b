package spool

import (
	"container/heap"
)

// Next hands out up to maxRecords pending records (at most maxBytes of data,
// but always at least one), oldest first. Handed-out records stay in the
// spool until Ack, or return to pending with Release or Rewind.
func (s *Spool) Next(maxRecords int, maxBytes int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	// Sized once: a batch of hundreds would otherwise grow it ten times.
	out := make([]Record, 0, min(maxRecords, s.pending.Len()))
	size := 0
	for len(out) < maxRecords && s.pending.Len() > 0 {
		seq := s.pending[0]
		l, ok := s.recs[seq]
		if !ok || l.state != statePending {
			heap.Pop(&s.pending)
			continue
		}
		dataLen := int(l.n) - headerLen - segPrefixLen
		if len(out) > 0 && size+dataLen > maxBytes {
			break
		}
		heap.Pop(&s.pending)
		if l.data != nil {
			// Written moments ago: no need to read it back.
			data := l.data
			s.cached -= int64(len(data))
			l.data = nil
			l.state = stateOut
			size += dataLen
			out = append(out, Record{Seq: seq, Priority: l.prio, Data: data})
			continue
		}
		data := make([]byte, dataLen)
		if _, err := l.seg.f.ReadAt(data, l.off+headerLen+segPrefixLen); err != nil {
			// The index and the file disagree: drop the record rather
			// than wedge delivery.
			s.log.Error("spool: unreadable record dropped", "seq", seq, "err", err)
			s.kill(seq, l)
			s.stats.Corrupt++
			continue
		}
		l.state = stateOut
		size += dataLen
		out = append(out, Record{Seq: seq, Priority: l.prio, Data: data})
	}
	return out, nil
}

// Ack forgets records for good (the router stored them, or rejected them).
func (s *Spool) Ack(seqs []uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var known []uint64
	for _, seq := range seqs {
		if l, ok := s.recs[seq]; ok {
			s.kill(seq, l)
			known = append(known, seq)
		}
	}
	s.stats.Acked += uint64(len(known))
	if len(known) == 0 {
		return nil
	}
	if err := s.writeAck(known); err != nil {
		return err
	}
	s.reclaim()
	if s.acksSize > max(64<<10, 4*s.ckptSize) {
		if err := s.checkpoint(); err != nil {
			return err
		}
	}
	if s.opts.SyncInterval == 0 {
		return s.syncLocked()
	}
	return nil
}

// Release returns handed-out records to pending, to be handed out again.
func (s *Spool) Release(seqs []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, seq := range seqs {
		if l, ok := s.recs[seq]; ok && l.state == stateOut {
			l.state = statePending
			heap.Push(&s.pending, seq)
			n++
		}
	}
	if n > 0 {
		s.signal()
	}
}

// Rewind returns every handed-out record to pending (after a reconnect).
func (s *Spool) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for seq, l := range s.recs {
		if l.state == stateOut {
			l.state = statePending
			heap.Push(&s.pending, seq)
			n++
		}
	}
	if n > 0 {
		s.signal()
	}
}

// seqHeap is a min-heap of seqs: pending records go out oldest first.
type seqHeap []uint64

func (h seqHeap) Len() int { return len(h) }

func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }

func (h seqHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *seqHeap) Push(x any) { *h = append(*h, x.(uint64)) }

func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// fifo is a queue of seqs in append order.
type fifo struct {
	q    []uint64
	head int
}

func (f *fifo) push(seq uint64) { f.q = append(f.q, seq) }

func (f *fifo) len() int { return len(f.q) - f.head }

func (f *fifo) peek() uint64 { return f.q[f.head] }

func (f *fifo) pop() {
	f.head++
	if f.head > 1024 && f.head*2 > len(f.q) {
		f.q = append(f.q[:0], f.q[f.head:]...)
		f.head = 0
	}
}
