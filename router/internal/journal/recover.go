package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Recovery tells two kinds of bad bytes apart:
//
//   - a torn tail: garbage after the last valid record of the active
//     segment, with no valid record after it. A crash in the middle of a
//     write leaves this; those records were never acknowledged (the fsync
//     had not returned), so the tail is truncated.
//   - damage: a bad record followed by valid ones (a flipped bit on disk,
//     a bad sector), in any segment. The bad records are skipped, counted
//     and logged as lost with their sequence range; the valid records after
//     them are kept and read.
//
// Sequence numbers are implicit (a record's position in its segment), so
// after damage the scanner has to decide how many records the bad bytes
// held. It follows the damaged headers' length fields when they chain
// exactly to the next valid record; otherwise, for a sealed segment, the
// records the segment must hold (its end minus its base) minus the valid
// ones fill the gap. Only several damaged regions with broken lengths in one
// segment make the numbering after them approximate.
//
// The high-water mark file (hwm) stores the journal's next sequence number
// after every group commit, so that an acknowledged record can never be
// silently forgotten: when the segments end below it (a damaged tail
// truncated, segments deleted), the journal starts again at the mark and
// counts the gap as missing.

// Loss reasons.
const (
	LossDamaged = "damaged" // bad bytes in a segment, skipped
	LossMissing = "missing" // a segment ends (or is gone) before its last sequence number
	LossDeleted = "deleted" // older than the oldest segment (retention, or removed by hand)
)

// Loss is a range of sequence numbers [From, To] a reader could not read.
type Loss struct {
	From, To uint64
	Reason   string
}

func (l Loss) String() string {
	return fmt.Sprintf("%d-%d (%d records, %s)", l.From, l.To, l.To-l.From+1, l.Reason)
}

// Plausible stamps, for resynchronizing on garbage: a random header passes
// the length check once in 256 tries, this check almost never, and only then
// is the checksum computed.
var (
	minStamp = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	maxStamp = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// recordAt returns the payload length of a valid record at off in data.
func recordAt(data []byte, off int) (int, bool) {
	if len(data)-off < headerSize {
		return 0, false
	}
	h := data[off : off+headerSize]
	n := int(binary.LittleEndian.Uint32(h[0:4]))
	if n > MaxRecordSize || len(data)-off-headerSize < n {
		return 0, false
	}
	c := crc32.Update(0, castagnoli, h[8:16])
	c = crc32.Update(c, castagnoli, data[off+headerSize:off+headerSize+n])
	return n, c == binary.LittleEndian.Uint32(h[4:8])
}

// resyncFrom finds the first valid record at or after off (-1: none).
func resyncFrom(data []byte, off int) int {
	for p := off; len(data)-p >= headerSize; p++ {
		n := int(binary.LittleEndian.Uint32(data[p : p+4]))
		if n > MaxRecordSize || len(data)-p-headerSize < n {
			continue
		}
		st := int64(binary.LittleEndian.Uint64(data[p+8 : p+16]))
		if st < minStamp || st > maxStamp {
			continue
		}
		if _, ok := recordAt(data, p); ok {
			return p
		}
	}
	return -1
}

// chainLen counts the records between off and next by following length
// fields; 0 when they do not chain exactly to next.
func chainLen(data []byte, off, next int) int {
	n := 0
	for p := off; p < next; n++ {
		if next-p < headerSize {
			return 0
		}
		l := int(binary.LittleEndian.Uint32(data[p : p+4]))
		if l > MaxRecordSize {
			return 0
		}
		p += headerSize + l
		if p > next {
			return 0
		}
	}
	return n
}

// segIndex is the layout of a segment found by scan: the offset of each
// record by position (seq - base), -1 for a damaged one.
type segIndex struct {
	offs  []int64
	tail  int64  // offset just past the last valid record
	torn  bool   // bad bytes after tail with no valid record after them
	gaps  []Loss // damaged ranges (as positions; add the segment's base)
	valid int
}

// endOf returns the offset just past position i of data's layout: the end
// of its record, or for a damaged one where the next valid record starts.
func (x *segIndex) endOf(data []byte, i int) int64 {
	if o := x.offs[i]; o >= 0 {
		return o + headerSize + int64(binary.LittleEndian.Uint32(data[o:o+4]))
	}
	for _, o := range x.offs[i+1:] {
		if o >= 0 {
			return o
		}
	}
	return x.tail
}

// damaged reports bad records followed by valid ones.
func (x *segIndex) damaged() bool { return len(x.gaps) > 0 }

// scan indexes data. total is how many records the segment must hold
// (sealed segments) or -1 (the active one).
func scan(data []byte, total int64) *segIndex {
	x := &segIndex{}
	type gap struct{ at, off, next, n int }
	var gaps []gap
	unknown := 0
	off := 0
	for off < len(data) {
		if n, ok := recordAt(data, off); ok {
			x.offs = append(x.offs, int64(off))
			x.valid++
			off += headerSize + n
			x.tail = int64(off)
			continue
		}
		next := resyncFrom(data, off+1)
		if next < 0 {
			x.torn = true
			break
		}
		g := gap{at: len(x.offs), off: off, next: next, n: chainLen(data, off, next)}
		if g.n == 0 {
			unknown++
		}
		gaps = append(gaps, g)
		x.offs = append(x.offs, -1) // a placeholder, sized below
		off = next
	}
	// Size the gaps whose lengths are broken: one record each, and what the
	// sealed segment's count says is missing goes to the last of them.
	known := x.valid
	for _, g := range gaps {
		known += g.n
	}
	extra := 0
	if total >= 0 && unknown > 0 {
		extra = int(total) - known - unknown
	}
	var offs []int64
	prev := 0
	seen := 0
	for _, g := range gaps {
		offs = append(offs, x.offs[prev:g.at]...)
		prev = g.at + 1
		n := g.n
		if n == 0 {
			n = 1
			seen++
			if seen == unknown && extra > 0 {
				n += extra
			}
		}
		from := len(offs)
		for range n {
			offs = append(offs, -1)
		}
		x.gaps = append(x.gaps, Loss{From: uint64(from), To: uint64(len(offs) - 1), Reason: LossDamaged})
	}
	offs = append(offs, x.offs[prev:]...)
	// x.offs held one placeholder per gap; rebuild without them.
	x.offs = offs
	if total >= 0 && int64(len(x.offs)) > total {
		x.offs = x.offs[:total]
	}
	return x
}

// indexOf returns the layout of s. A sealed segment's is computed once,
// and its damage logged and counted then; the active segment's is computed
// afresh (it grows).
func (j *Journal) indexOf(s *segment) (*segIndex, error) {
	end := s.end.Load()
	if end != 0 {
		s.idxMu.Lock()
		defer s.idxMu.Unlock()
		if s.idx != nil {
			return s.idx, nil
		}
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	total := int64(-1)
	if end != 0 {
		total = int64(end - s.base)
	}
	x := scan(data, total)
	if end != 0 {
		s.idx = x
		j.noteDamage(s, x)
	}
	return x, nil
}

// noteDamage logs and counts the damaged ranges of s, once.
func (j *Journal) noteDamage(s *segment, x *segIndex) {
	if !x.damaged() {
		return
	}
	var n uint64
	ranges := make([]string, len(x.gaps))
	for i, g := range x.gaps {
		n += g.To - g.From + 1
		ranges[i] = Loss{From: s.base + g.From, To: s.base + g.To, Reason: g.Reason}.String()
	}
	j.mu.Lock()
	j.damaged += n
	j.mu.Unlock()
	j.log.Error("journal: damaged records skipped; these alerts are lost", "segment", filepath.Base(s.path),
		"records", n, "ranges", strings.Join(ranges, ", "))
}

const hwmFile = "hwm"

// loadHWM reads the stored high-water mark (0 when absent or unreadable).
func (j *Journal) loadHWM() uint64 {
	b, err := os.ReadFile(filepath.Join(j.dir, hwmFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		j.log.Error("journal: cannot read the high-water mark; trusting the segments alone", "err", err)
		return 0
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		j.log.Error("journal: corrupt high-water mark; trusting the segments alone", "content", strings.TrimSpace(string(b)))
		return 0
	}
	return v
}

// openHWM opens (creating) the high-water mark file for in-place updates.
func (j *Journal) openHWM() error {
	f, err := os.OpenFile(filepath.Join(j.dir, hwmFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("journal: high-water mark: %w", err)
	}
	j.hwm = f
	j.hwmStored = 0
	return j.storeHWM(true)
}

// storeHWM writes the committed position in place: fixed width, so one
// small write replaces it. Without sync the page cache keeps it across a
// crash of the process (not of the host); sync is used at segment changes
// and close.
func (j *Journal) storeHWM(sync bool) error {
	if j.hwm == nil {
		return nil
	}
	v := j.committed.Load()
	if v == j.hwmStored && !sync {
		return nil
	}
	if _, err := j.hwm.WriteAt(fmt.Appendf(nil, "%020d\n", v), 0); err != nil {
		return fmt.Errorf("journal: high-water mark: %w", err)
	}
	if sync && !j.opts.NoSync {
		if err := j.hwm.Sync(); err != nil {
			return fmt.Errorf("journal: high-water mark: %w", err)
		}
	}
	j.hwmStored = v
	return nil
}

// recoverActive scans the last segment at open. A torn tail is truncated;
// damage seals the segment (its layout is then final and readers skip the
// bad records by its index) and a new active segment starts after it. When
// the high-water mark is above what the segments hold, the journal starts
// at the mark and the gap is counted missing, so no sequence number that
// was acknowledged, or that a cursor passed, is ever given again.
// It returns the next sequence number and whether last stays active.
func (j *Journal) recoverActive(last *segment, hwm uint64) (next uint64, active bool, err error) {
	data, err := os.ReadFile(last.path)
	if err != nil {
		return 0, false, fmt.Errorf("journal: %w", err)
	}
	x := scan(data, -1)
	end := last.base + uint64(len(x.offs))
	if len(x.offs) > 0 && x.offs[len(x.offs)-1] >= 0 {
		last.lastMod.Store(int64(binary.LittleEndian.Uint64(data[x.offs[len(x.offs)-1]+8:])))
	}
	if x.damaged() {
		last.end.Store(end)
		last.idx = x
		j.noteDamage(last, x)
	} else if x.torn {
		j.log.Warn("journal: truncating torn tail", "segment", last.path, "valid_bytes", x.tail, "size", len(data))
		if err := os.Truncate(last.path, x.tail); err != nil {
			return 0, false, fmt.Errorf("journal: truncate torn tail: %w", err)
		}
		last.size.Store(x.tail)
	}
	next = end
	if hwm > end {
		j.log.Error("journal: the segments end below the high-water mark; these acknowledged alerts are lost",
			"segment", filepath.Base(last.path), "ranges", Loss{From: end, To: hwm - 1, Reason: LossMissing}.String())
		j.mu.Lock()
		j.missing += hwm - end
		j.mu.Unlock()
		next = hwm
		last.end.Store(hwm)
	}
	return next, last.end.Load() == 0, nil
}

// Advance moves the next sequence number up to seq (no-op when it is
// there already): a consumer's cursor ahead of the journal (segments
// deleted, a damaged tail) would otherwise skip the alerts stored under
// sequence numbers it already passed. The skipped range is counted
// missing and logged with reason.
func (j *Journal) Advance(seq uint64, reason string) error {
	done := make(chan error, 1)
	j.appendMu.RLock()
	if j.stopping {
		j.appendMu.RUnlock()
		return ErrClosed
	}
	j.ctl <- func() { done <- j.advance(seq, reason) }
	j.appendMu.RUnlock()
	return <-done
}

// advance runs on the writer goroutine.
func (j *Journal) advance(seq uint64, reason string) error {
	if seq <= j.next {
		return nil
	}
	from := j.next
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("journal: advance: %w", err)
	}
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("journal: advance: %w", err)
	}
	// The old segment stays, sealed: a reader in it finds its end early and
	// counts the rest missing.
	j.active.end.Store(seq)
	if err := j.createSegment(seq); err != nil {
		return err
	}
	j.mu.Lock()
	j.missing += seq - from
	j.mu.Unlock()
	j.log.Error("journal: sequence numbers skipped forward; nothing was stored under them", "reason", reason,
		"ranges", Loss{From: from, To: seq - 1, Reason: LossMissing}.String())
	return j.storeHWM(true)
}
