package spool

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// replay rebuilds the in-memory index from the files in dir.
func (s *Spool) replay() error {
	names, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: read %s: %w", s.dir, err)
	}
	var ids []uint64
	for _, e := range names {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)

	// Segments first (in order), then the ack log decides which are dead.
	for i, id := range ids {
		last := i == len(ids)-1
		if err := s.replaySegment(id, last); err != nil {
			return err
		}
		s.nextSegID = id + 1
	}
	dead, ckptMax, live, err := s.replayAcks()
	if err != nil {
		return err
	}
	var maxSeq uint64
	for seq := range s.recs {
		maxSeq = max(maxSeq, seq)
	}
	maxSeq = max(maxSeq, ckptMax)
	for _, r := range dead {
		maxSeq = max(maxSeq, r.last())
	}
	s.nextSeq = maxSeq + 1

	// A record is dead when a checkpoint covering it did not list it as
	// live, or when a later ack names it.
	isDead := func(seq uint64) bool {
		if live != nil && seq <= ckptMax && !live.contains(seq) {
			return true
		}
		return dead.contains(seq)
	}
	seqs := make([]uint64, 0, len(s.recs))
	for seq, l := range s.recs {
		if isDead(seq) {
			s.kill(seq, l)
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		l := s.recs[seq]
		heap.Push(&s.pending, seq)
		s.byPrio[rank(l.prio)].push(seq)
	}
	// Start a fresh active segment: the replayed ones may end in a repaired
	// tail and are only read from now on.
	if err := s.rotate(); err != nil {
		return err
	}
	s.reclaim()
	// Rewrite the ack log as a checkpoint of what is live now.
	if err := s.checkpoint(); err != nil {
		return err
	}
	return nil
}

func (s *Spool) replaySegment(id uint64, last bool) error {
	path := s.segPath(id)
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: open segment: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: read segment %s: %w", path, err)
	}
	seg := &segment{id: id, f: f}
	switch {
	case len(data) >= len(segMagic) && string(data[:len(segMagic)]) == segMagic:
	case len(data) < len(segMagic) && string(data) == segMagic[:len(data)]:
		// Torn while being created: make it a valid empty segment.
		if _, err := f.WriteAt([]byte(segMagic), 0); err != nil {
			f.Close()
			return fmt.Errorf("spool: repair %s: %w", path, err)
		}
		data = []byte(segMagic)
	default:
		f.Close()
		return fmt.Errorf("spool: %s is not a Harrier spool segment of a known format (want header %q); move it away", path, segMagic)
	}
	off := int64(len(segMagic))
	for off < int64(len(data)) {
		payload, n, ok := parseRecord(data[off:])
		if !ok || len(payload) < segPrefixLen {
			if last {
				s.log.Warn("spool: cutting off a torn record at the end of the newest segment",
					"file", path, "offset", off, "bytes", int64(len(data))-off)
				if err := f.Truncate(off); err != nil {
					f.Close()
					return fmt.Errorf("spool: repair %s: %w", path, err)
				}
			} else {
				s.log.Error("spool: corrupt record in segment; the rest of the segment is skipped",
					"file", path, "offset", off)
				s.stats.Corrupt++
			}
			break
		}
		seq := binary.LittleEndian.Uint64(payload)
		prio := harrierv1.Priority(payload[8])
		if old, dup := s.recs[seq]; dup {
			// A copy made by compaction: keep the newer one.
			old.seg.live--
			old.seg.liveBytes -= old.n
			s.liveBytes -= old.n
		}
		s.recs[seq] = &loc{seg: seg, off: off, n: n, prio: prio}
		seg.live++
		seg.liveBytes += n
		s.liveBytes += n
		off += n
	}
	seg.size = off
	s.diskBytes += seg.size
	s.segs = append(s.segs, seg)
	return nil
}

func (s *Spool) replayAcks() (dead ranges, ckptMax uint64, live ranges, err error) {
	path := filepath.Join(s.dir, ackLogName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil, nil
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spool: read ack log: %w", err)
	}
	off := 0
	for off < len(data) {
		payload, n, ok := parseRecord(data[off:])
		if !ok || len(payload) < 1 {
			s.log.Warn("spool: cutting off a torn record at the end of the ack log", "offset", off)
			break
		}
		off += int(n)
		switch payload[0] {
		case ackKindRanges:
			rs, ok := decodeRanges(payload[1:])
			if !ok {
				return nil, 0, nil, fmt.Errorf("spool: ack log %s: bad record at offset %d", path, off-int(n))
			}
			dead = append(dead, rs...)
		case ackKindCheckpoint:
			m, k := binary.Uvarint(payload[1:])
			if k <= 0 {
				return nil, 0, nil, fmt.Errorf("spool: ack log %s: bad checkpoint at offset %d", path, off-int(n))
			}
			rs, ok := decodeRanges(payload[1+k:])
			if !ok {
				return nil, 0, nil, fmt.Errorf("spool: ack log %s: bad checkpoint at offset %d", path, off-int(n))
			}
			ckptMax, live, dead = m, rs, nil
			if live == nil {
				live = ranges{}
			}
		default:
			return nil, 0, nil, fmt.Errorf("spool: ack log %s: unknown record kind %d at offset %d", path, payload[0], off-int(n))
		}
	}
	dead.normalize()
	live.normalize()
	return dead, ckptMax, live, nil
}
