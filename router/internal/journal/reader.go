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

// Skipped counts records the reader never saw because retention deleted them
// first.
func (r *Reader) Skipped() uint64 { return r.skipped }

// SkipSegment moves the reader past the sealed segment holding its
// position, after a corrupt record there (a damaged disk: record boundaries
// after it cannot be trusted). It returns the records skipped, 0 when the
// position is in the active segment.
func (r *Reader) SkipSegment() uint64 {
	s := r.j.segmentFor(r.next)
	end := s.end.Load()
	if end == 0 || end <= r.next {
		return 0
	}
	n := end - r.next
	r.Close()
	r.next = end
	r.skipped += n
	return n
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
// the reader's next call (decode it at once).
func (r *Reader) TryNextView() (Entry, bool, error) {
	if r.next >= r.j.committed.Load() {
		return Entry{}, false, nil
	}
	if r.seg == nil || (r.seg.end.Load() != 0 && r.next >= r.seg.end.Load()) {
		if err := r.open(); err != nil {
			return Entry{}, false, err
		}
		if r.next >= r.j.committed.Load() {
			return Entry{}, false, nil
		}
	}
	data, stamp, err := readRecord(r.br, r.buf)
	if err != nil {
		r.Close()
		return Entry{}, false, fmt.Errorf("journal: reading record %d in %s: %w", r.next, r.segPath(), err)
	}
	r.buf = data
	e := Entry{Seq: r.next, Stored: time.Unix(0, stamp), Data: data}
	r.next++
	return e, true, nil
}

func (r *Reader) segPath() string {
	if r.seg == nil {
		return "?"
	}
	return r.seg.path
}

// open positions the reader on the segment holding r.next.
func (r *Reader) open() error {
	r.Close()
	s := r.j.segmentFor(r.next)
	if r.next < s.base {
		r.skipped += s.base - r.next
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
		}
		return fmt.Errorf("journal: %w", err)
	}
	r.f, r.seg = f, s
	if r.br == nil {
		r.br = bufio.NewReaderSize(f, 256<<10)
	} else {
		r.br.Reset(f)
	}
	for seq := s.base; seq < r.next; seq++ {
		if err := skipRecord(r.br); err != nil {
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
