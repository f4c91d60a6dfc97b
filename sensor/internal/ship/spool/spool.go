// Package spool keeps the alerts that the router has not acknowledged yet in
// a bounded queue on disk, so that a router outage or a sensor restart loses
// nothing.
//
// Records are appended to segment files (NNNNNNNNNNNNNNNN.seg), each record
// framed by its length and a CRC-32C of its content. Acknowledgements (and
// drops) go to a separate append-only log (acks.log) that is checkpointed
// from time to time; a segment file is deleted once none of its records is
// live. At Open, every segment and the ack log are replayed; a torn record at
// the end of the newest file (a crash during a write) is cut off, so that the
// spool always reopens.
//
// The spool is bounded by Options.MaxBytes of disk. Live records may fill at
// most half of it; the other half lets dead records wait for their segment to
// be reclaimed, and segments that are at least half dead are compacted (their
// live records copied forward) when the disk bound is reached, so the cost of
// compaction stays proportional to the records written. When the live half is
// full, the oldest record of the least severe priority present is dropped to
// make room; every drop is counted (Stats.Dropped) and logged.
package spool

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

const (
	headerLen    = 8         // u32 length + u32 crc32c of the payload
	segPrefixLen = 9         // u64 seq + u8 priority at the start of a segment payload
	maxRecord    = 16 << 20  // larger lengths mean corruption
	defaultMax   = 256 << 20 // bytes of disk
	segSuffix    = ".seg"
	// segMagic starts every segment file: it names the format and its
	// version, so that a future format is recognised instead of misread.
	segMagic   = "HRSPOOL1"
	ackLogName = "acks.log"
	ackTmpName = "acks.tmp"

	ackKindRanges     = 1 // payload: ranges of dead seqs
	ackKindCheckpoint = 2 // payload: max seq, then ranges of live seqs <= max
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooLarge is returned by Append for a record that could never fit.
var ErrTooLarge = errors.New("spool: record larger than the spool's live capacity")

// ErrClosed is returned by operations on a closed spool.
var ErrClosed = errors.New("spool: closed")

// Options configure a Spool. The zero value is usable.
type Options struct {
	// MaxBytes bounds the disk used by segment files (default 256 MiB).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started
	// (default MaxBytes/8, between 64 KiB and 64 MiB).
	SegmentBytes int64
	// SyncInterval is how often written data is fsynced. Zero syncs on every
	// Append and Ack (safest, slowest); a negative value never syncs
	// explicitly (tests). A process crash never loses an appended record;
	// SyncInterval only bounds what a power loss can take.
	SyncInterval time.Duration
	// CacheBytes bounds the memory that keeps freshly appended records
	// until they are handed out, so that delivery does not read back what
	// was just written (default 16 MiB; records beyond it are read from the
	// segment files).
	CacheBytes int64
	// Logger receives drops, repairs and compactions (default slog.Default).
	Logger *slog.Logger
}

// Entry is one record to append: a serialised alert and its priority.
// Append keeps Data: the caller must not modify it afterwards.
type Entry struct {
	Priority harrierv1.Priority
	Data     []byte
}

// Record is a live record handed out for delivery.
type Record struct {
	Seq      uint64
	Priority harrierv1.Priority
	Data     []byte
}

// Stats are the spool's counters.
type Stats struct {
	Live      int    // live records (pending or handed out)
	Pending   int    // live records not handed out
	LiveBytes int64  // bytes of live records
	DiskBytes int64  // bytes of segment files
	Segments  int    // segment files
	Appended  uint64 // records appended since Open
	Acked     uint64 // records acknowledged since Open
	// Dropped counts the records dropped because the spool was full, by
	// priority (index: harrierv1.Priority value).
	Dropped [9]uint64
	// Corrupt counts records skipped at Open because they failed their
	// checksum in the middle of a file.
	Corrupt     uint64
	Compactions uint64
}

// DroppedTotal sums Dropped.
func (s Stats) DroppedTotal() uint64 {
	var n uint64
	for _, d := range s.Dropped {
		n += d
	}
	return n
}

type state uint8

const (
	statePending state = iota
	stateOut           // handed out by Next, not acknowledged yet
)

type loc struct {
	seg   *segment
	off   int64
	n     int64 // record length including its header
	prio  harrierv1.Priority
	state state
	data  []byte // cached payload until handed out, or nil
}

type segment struct {
	id        uint64
	f         *os.File
	size      int64
	live      int
	liveBytes int64
}

// Spool is a bounded on-disk queue of records. It is safe for concurrent use.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	closed    bool
	segs      []*segment // by id; the last one is active
	nextSegID uint64
	nextSeq   uint64
	recs      map[uint64]*loc
	pending   seqHeap
	byPrio    [10]fifo // victim order: oldest first per severity rank
	liveBytes int64
	diskBytes int64
	cached    int64
	acks      *os.File
	acksSize  int64
	ckptSize  int64
	dirty     bool
	stats     Stats
	scratch   []byte

	ready chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

// Open opens (creating when needed) the spool in dir and replays it.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = defaultMax
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = min(max(opts.MaxBytes/8, 64<<10), 64<<20)
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 16 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", dir, err)
	}
	s := &Spool{
		dir:       dir,
		opts:      opts,
		log:       opts.Logger.With("component", "spool"),
		recs:      make(map[uint64]*loc),
		nextSeq:   1,
		nextSegID: 1,
		ready:     make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if err := s.replay(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if s.opts.SyncInterval > 0 {
		go s.syncLoop()
	} else {
		close(s.done)
	}
	if len(s.recs) > 0 {
		s.signal()
	}
	return s, nil
}

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

func (s *Spool) segPath(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", id, segSuffix))
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

// parseRecord reads one framed record from b.
func parseRecord(b []byte) (payload []byte, n int64, ok bool) {
	if len(b) < headerLen {
		return nil, 0, false
	}
	ln := binary.LittleEndian.Uint32(b)
	sum := binary.LittleEndian.Uint32(b[4:])
	if ln > maxRecord || int64(len(b)-headerLen) < int64(ln) {
		return nil, 0, false
	}
	payload = b[headerLen : headerLen+int(ln)]
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, 0, false
	}
	return payload, int64(headerLen) + int64(ln), true
}

func appendRecord(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
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
	if s.opts.SyncInterval >= 0 {
		syncDir(s.dir)
	}
	if s.acks != nil {
		s.acks.Close()
	}
	s.acks, err = os.OpenFile(filepath.Join(s.dir, ackLogName), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: reopen ack log: %w", err)
	}
	s.acksSize = int64(len(rec))
	s.ckptSize = int64(len(rec))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// rotate starts a new active segment.
func (s *Spool) rotate() error {
	if a := s.active(); a != nil && a.size <= int64(len(segMagic)) {
		return nil
	}
	id := s.nextSegID
	f, err := os.OpenFile(s.segPath(id), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	s.nextSegID++
	if a := s.active(); a != nil && s.opts.SyncInterval >= 0 {
		_ = a.f.Sync()
	}
	if _, err := f.Write([]byte(segMagic)); err != nil {
		f.Close()
		return fmt.Errorf("spool: new segment: %w", err)
	}
	s.diskBytes += int64(len(segMagic))
	s.segs = append(s.segs, &segment{id: id, f: f, size: int64(len(segMagic))})
	if s.opts.SyncInterval >= 0 {
		syncDir(s.dir)
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

func (s *Spool) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when records may be available to Next. Receive from it,
// then call Next until it returns nothing.
func (s *Spool) Ready() <-chan struct{} { return s.ready }

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
	return nil
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

// Next hands out up to maxRecords pending records (at most maxBytes of data,
// but always at least one), oldest first. Handed-out records stay in the
// spool until Ack, or return to pending with Release or Rewind.
func (s *Spool) Next(maxRecords int, maxBytes int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Record
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

// Stats returns the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Live = len(s.recs)
	for _, l := range s.recs {
		if l.state == statePending {
			st.Pending++
		}
	}
	st.LiveBytes = s.liveBytes
	st.DiskBytes = s.diskBytes
	st.Segments = len(s.segs)
	return st
}

// Len is the number of live records.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

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

// Close syncs and closes the spool. Handed-out records that were not
// acknowledged stay in the spool for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	var err error
	if s.opts.SyncInterval >= 0 {
		err = s.syncLocked()
	}
	s.closed = true
	s.closeFiles()
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	return err
}

func (s *Spool) closeFiles() {
	for _, seg := range s.segs {
		seg.f.Close()
	}
	if s.acks != nil {
		s.acks.Close()
	}
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

// seqHeap is a min-heap of seqs: pending records go out oldest first.
type seqHeap []uint64

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
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
func (f *fifo) len() int        { return len(f.q) - f.head }
func (f *fifo) peek() uint64    { return f.q[f.head] }
func (f *fifo) pop() {
	f.head++
	if f.head > 1024 && f.head*2 > len(f.q) {
		f.q = append(f.q[:0], f.q[f.head:]...)
		f.head = 0
	}
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
