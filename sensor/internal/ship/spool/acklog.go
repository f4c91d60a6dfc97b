package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// checkpoint replaces the ack log by one record listing the live seqs.
func (s *Spool) checkpoint() error {
	seqs := make([]uint64, 0, len(s.recs))
	for seq := range s.recs {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	payload := []byte{ackKindCheckpoint}
	payload = binary.AppendUvarint(payload, s.nextSeq-1)
	payload = encodeRanges(payload, rangesOf(seqs))
	rec := appendRecord(nil, payload)

	tmp := filepath.Join(s.dir, ackTmpName)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("spool: checkpoint: %w", err)
	}
	if _, err := f.Write(rec); err != nil {
		f.Close()
		return fmt.Errorf("spool: checkpoint: %w", err)
	}
	if s.opts.SyncInterval >= 0 {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("spool: checkpoint: %w", err)
		}
	}
	f.Close()
	if err := os.Rename(tmp, filepath.Join(s.dir, ackLogName)); err != nil {
		return fmt.Errorf("spool: checkpoint: %w", err)
	}
	// The rename is done: whatever the directory sync says, the new log is
	// the one to append to; its error is returned after.
	var dirErr error
	if s.opts.SyncInterval >= 0 {
		if err := syncDir(s.dir); err != nil {
			dirErr = fmt.Errorf("spool: checkpoint: %w", err)
		}
	}
	if s.acks != nil {
		s.acks.Close()
	}
	s.acks, err = os.OpenFile(filepath.Join(s.dir, ackLogName), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return errors.Join(dirErr, fmt.Errorf("spool: reopen ack log: %w", err))
	}
	s.acksSize = int64(len(rec))
	s.ckptSize = int64(len(rec))
	return dirErr
}

func (s *Spool) writeAck(seqs []uint64) error {
	slices.Sort(seqs)
	payload := encodeRanges([]byte{ackKindRanges}, rangesOf(seqs))
	rec := appendRecord(nil, payload)
	if _, err := s.acks.Write(rec); err != nil {
		return fmt.Errorf("spool: write ack log: %w", err)
	}
	s.acksSize += int64(len(rec))
	s.dirty = true
	return nil
}

// seqRange is the inclusive run [first, first+count-1].
type seqRange struct{ first, count uint64 }

func (r seqRange) last() uint64 { return r.first + r.count - 1 }

type ranges []seqRange

// rangesOf turns sorted seqs into runs.
func rangesOf(seqs []uint64) ranges {
	var rs ranges
	for _, s := range seqs {
		if n := len(rs); n > 0 && rs[n-1].last()+1 == s {
			rs[n-1].count++
			continue
		} else if n > 0 && rs[n-1].last() >= s {
			continue
		}
		rs = append(rs, seqRange{s, 1})
	}
	return rs
}

func (rs *ranges) normalize() {
	sort.Slice(*rs, func(i, j int) bool { return (*rs)[i].first < (*rs)[j].first })
}

// contains reports whether seq is in the sorted ranges rs.
func (rs ranges) contains(seq uint64) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].last() >= seq })
	return i < len(rs) && rs[i].first <= seq
}

func encodeRanges(dst []byte, rs ranges) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(rs)))
	prev := uint64(0)
	for _, r := range rs {
		dst = binary.AppendUvarint(dst, r.first-prev)
		dst = binary.AppendUvarint(dst, r.count)
		prev = r.first
	}
	return dst
}

func decodeRanges(b []byte) (ranges, bool) {
	rd := bytes.NewReader(b)
	n, err := binary.ReadUvarint(rd)
	if err != nil || n > uint64(len(b)) {
		return nil, false
	}
	rs := make(ranges, 0, n)
	prev := uint64(0)
	for range n {
		d, err1 := binary.ReadUvarint(rd)
		c, err2 := binary.ReadUvarint(rd)
		if err1 != nil || err2 != nil || c == 0 {
			return nil, false
		}
		prev += d
		rs = append(rs, seqRange{prev, c})
	}
	return rs, rd.Len() == 0
}
