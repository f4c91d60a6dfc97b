package journal

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// Reader reads the journal in order from a sequence number. It only ever
// returns durable records. A Reader is not safe for concurrent use.
type Reader struct {
	j       *Journal
	next    uint64
	seg     *segment
	f       *os.File
	br      *bufio.Reader
	buf     []byte
	skipped uint64
	losses  []Loss
	// resyncAt is 1 + the position last repositioned to by its index.
	resyncAt uint64
}

// NewReader returns a reader whose first record will be seq (or the oldest
// stored record, if retention deleted seq).
func (j *Journal) NewReader(seq uint64) *Reader {
	if seq == 0 {
		seq = 1
	}
	return &Reader{j: j, next: seq}
}

// Position is the sequence number of the next record Next returns.
func (r *Reader) Position() uint64 { return r.next }

// Skipped counts records the reader never saw: deleted by retention first,
// damaged or missing.
func (r *Reader) Skipped() uint64 { return r.skipped }

// TakeLosses returns the ranges skipped since the last call, with reasons.
func (r *Reader) TakeLosses() []Loss {
	l := r.losses
	r.losses = nil
	return l
}

func (r *Reader) lose(from, to uint64, reason string) {
	if to < from {
		return
	}
	r.skipped += to - from + 1
	if n := len(r.losses); n > 0 && r.losses[n-1].Reason == reason && r.losses[n-1].To+1 == from {
		r.losses[n-1].To = to
		return
	}
	r.losses = append(r.losses, Loss{From: from, To: to, Reason: reason})
}

// Close releases the open segment file.
func (r *Reader) Close() error {
	if r.f != nil {
		err := r.f.Close()
		r.f, r.seg = nil, nil
		return err
	}
	return nil
}

// Next blocks until the next record is durable, ctx ends or the journal is
// closed (ErrClosed).
func (r *Reader) Next(ctx context.Context) (Entry, error) {
	for {
		e, ok, err := r.TryNext()
		if err != nil || ok {
			return e, err
		}
		ch := r.j.wait()
		if r.next < r.j.committed.Load() {
			continue
		}
		r.j.mu.Lock()
		closed := r.j.closed
		r.j.mu.Unlock()
		if closed {
			return Entry{}, ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		}
	}
}

// Wait returns a channel that is closed when new records may be available.
func (r *Reader) Wait() <-chan struct{} { return r.j.wait() }

// TryNext returns the next record if one is durable, without blocking.
func (r *Reader) TryNext() (Entry, bool, error) {
	e, ok, err := r.TryNextView()
	if ok {
		e.Data = append([]byte(nil), e.Data...)
	}
	return e, ok, err
}

// TryNextView is TryNext without copying: Entry.Data is only valid until
// the reader's next call (decode it at once). Damaged and missing records of
// sealed segments are skipped (see TakeLosses); damage in the active segment
// is an error until the segment is sealed, because its extent is not final.
func (r *Reader) TryNextView() (Entry, bool, error) {
	for {
		if r.next >= r.j.committed.Load() {
			return Entry{}, false, nil
		}
		if r.seg == nil || (r.seg.end.Load() != 0 && r.next >= r.seg.end.Load()) {
			if err := r.open(); err != nil {
				return Entry{}, false, err
			}
			continue
		}
		data, stamp, err := readRecord(r.br, r.buf)
		if err != nil {
			if rerr := r.resync(err); rerr != nil {
				r.Close()
				return Entry{}, false, rerr
			}
			continue
		}
		r.buf = data
		e := Entry{Seq: r.next, Stored: time.Unix(0, stamp), Data: data}
		r.next++
		return e, true, nil
	}
}

// resync moves the reader past unreadable records at its position in a
// sealed segment, using the segment's index, and records the loss.
func (r *Reader) resync(cause error) error {
	s := r.seg
	end := s.end.Load()
	if end == 0 {
		return fmt.Errorf("journal: reading record %d in %s: %w", r.next, s.path, cause)
	}
	x, err := r.j.indexOf(s)
	if err != nil {
		return err
	}
	i := r.next - s.base
	if i < uint64(len(x.offs)) && x.offs[i] >= 0 {
		if r.resyncAt == r.next+1 {
			// Sound on disk by the index, yet it failed again from its
			// own offset: the read itself fails (EIO). Report it.
			return fmt.Errorf("journal: reading record %d in %s: %w", r.next, s.path, cause)
		}
		r.resyncAt = r.next + 1
	}
	for ; i < uint64(len(x.offs)) && x.offs[i] < 0; i++ {
	}
	r.lose(r.next, s.base+min(i, uint64(len(x.offs)))-1, LossDamaged)
	if i >= uint64(len(x.offs)) {
		// Nothing valid left: the rest up to the segment's end is missing.
		r.lose(max(r.next, s.base+uint64(len(x.offs))), end-1, LossMissing)
		r.Close()
		r.next = end
		return nil
	}
	if _, err := r.f.Seek(x.offs[i], io.SeekStart); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	r.br.Reset(r.f)
	r.next = s.base + i
	return nil
}

// open positions the reader on the segment holding r.next.
func (r *Reader) open() error {
	r.Close()
	s := r.j.segmentFor(r.next)
	if r.next < s.base {
		r.lose(r.next, s.base-1, LossDeleted)
		r.next = s.base
	}
	f, err := os.Open(s.path)
	if err != nil {
		if os.IsNotExist(err) {
			// Deleted by retention between lookup and open: look again.
			s2 := r.j.segmentFor(r.next)
			if s2 != s {
				return r.open()
			}
			if end := s.end.Load(); end != 0 {
				r.lose(r.next, end-1, LossMissing)
				r.next = end
				return nil
			}
		}
		return fmt.Errorf("journal: %w", err)
	}
	r.f, r.seg = f, s
	if r.br == nil {
		r.br = bufio.NewReaderSize(f, 256<<10)
	} else {
		r.br.Reset(f)
	}
	s.idxMu.Lock()
	x := s.idx
	s.idxMu.Unlock()
	if x != nil {
		// A damaged segment: its index knows where each record starts.
		i := r.next - s.base
		if i < uint64(len(x.offs)) && x.offs[i] >= 0 {
			if _, err := f.Seek(x.offs[i], io.SeekStart); err != nil {
				r.Close()
				return fmt.Errorf("journal: %w", err)
			}
			r.br.Reset(f)
			return nil
		}
		return r.resync(ErrCorrupt)
	}
	for seq := s.base; seq < r.next; seq++ {
		if err := skipRecord(r.br); err != nil {
			if s.end.Load() != 0 {
				return r.resync(err)
			}
			r.Close()
			return fmt.Errorf("journal: seeking to %d in %s: %w", r.next, s.path, err)
		}
	}
	return nil
}
func skipRecord(br *bufio.Reader) error {
	h, err := br.Peek(headerSize)
	if err != nil {
		return err
	}
	n := int(uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16 | uint32(h[3])<<24)
	if n > MaxRecordSize {
		return ErrCorrupt
	}
	_, err = br.Discard(headerSize + n)
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
