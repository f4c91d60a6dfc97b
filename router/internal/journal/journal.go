// Package journal is the router's durable log of accepted alerts: append-only
// segment files of length-prefixed, checksummed records. Appends are group
// committed: one write covers every append queued while the previous one
// ran, and a separate syncer goroutine fsyncs (sync.go). Each append says
// when it is answered (Ack): once written to the file (AckWritten: in the
// kernel's page cache, so it survives the router process dying; fsynced
// within Options.SyncInterval) or once fsynced (AckFsync). Either way a
// record becomes visible to readers only once it is on disk, so whatever a
// reader sees (and an output delivers) survives a crash.
//
// Record layout (little endian):
//
//	u32 payload length | u32 CRC-32C of (stamp, payload) | i64 stamp (unix ns) | payload
//
// Sequence numbers start at 1 and are implicit: a segment file is named after
// the sequence number of its first record, and records follow without gaps.
// At open, the last segment is scanned: a torn tail (a crash in the middle of
// a write) is truncated away, damage (a bad record followed by valid ones) is
// skipped and counted as lost; see recover.go.
//
// Retention: when the segments exceed Options.MaxBytes, or a sealed segment
// is older than Options.MaxAge, the oldest sealed segments are deleted even if
// some reader has not consumed them yet. Ingest is never refused because an
// output lags; the loss is counted (Stats.DroppedRecords) and logged, and a
// lagging reader skips forward to the oldest remaining record.
package journal

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	headerSize = 16
	// MaxRecordSize bounds one record; a larger length in a header is
	// treated as corruption.
	MaxRecordSize = 16 << 20
	segmentSuffix = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("journal closed")

// Options tune a Journal. Zero values pick the defaults.
type Options struct {
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started (default 64 MiB).
	SegmentBytes int64
	// MaxBytes bounds the total size of all segments (0: unbounded).
	MaxBytes int64
	// MaxAge deletes sealed segments whose newest record is older (0: keep).
	MaxAge time.Duration
	// NoSync skips fsync (tests and benchmarks of the non-durable path only).
	NoSync bool
	// SyncInterval bounds how long a record acknowledged with AckWritten
	// waits for its fsync to start (default DefaultSyncInterval). An
	// AckFsync append in the queue starts the fsync at once.
	SyncInterval time.Duration
	Logger       *slog.Logger
}

// Entry is one stored record.
type Entry struct {
	Seq    uint64
	Stored time.Time // when the router stored it
	Data   []byte
}

// Stats is a snapshot of the journal's state.
type Stats struct {
	First          uint64 `json:"first"` // oldest stored sequence number
	Next           uint64 `json:"next"`  // sequence number the next record will get
	Bytes          int64  `json:"bytes"`
	Segments       int    `json:"segments"`
	DroppedRecords uint64 `json:"dropped_records"` // records deleted by retention since open
	DroppedBytes   int64  `json:"dropped_bytes"`
	Syncs          uint64 `json:"fsyncs"`
	// DamagedRecords counts bad records skipped since open (found at open
	// or by a reader): alerts lost to a damaged disk.
	DamagedRecords uint64 `json:"damaged_records"`
	// MissingRecords counts sequence numbers skipped with nothing stored:
	// segments that end below the high-water mark, cursors ahead of the
	// journal.
	MissingRecords uint64 `json:"missing_records"`
	// WriteError is the last failed commit (a full or failing disk), empty
	// once a commit succeeds again; appends are refused meanwhile.
	WriteError     string    `json:"write_error,omitempty"`
	WriteErrorTime time.Time `json:"write_error_time,omitzero"`
	// Unsynced counts records written (acknowledged with AckWritten) but
	// not yet fsynced: what a power loss now could take.
	Unsynced   uint64 `json:"unsynced"`
	SyncErrors uint64 `json:"fsync_errors"`
}

type segment struct {
	base    uint64
	path    string
	size    atomic.Int64
	end     atomic.Uint64 // one past the last seq once sealed; 0 while active
	lastMod atomic.Int64  // unix ns of the newest record

	idxMu sync.Mutex
	idx   *segIndex // layout, once computed for a damaged or short sealed segment
}

type appendReq struct {
	recs [][]byte
	ack  Ack
	done chan Result
	end  uint64 // one past its last record, set by the writer
}

// Result is the outcome of an append: records got sequence numbers
// [First, First+n).
type Result struct {
	First uint64
	Err   error
}

// Journal is safe for concurrent use.
type Journal struct {
	dir  string
	opts Options
	log  *slog.Logger

	// appendMu orders appends against Close: appenders hold it shared
	// while queueing, Close exclusively while marking the journal closed,
	// so every queued append is answered before the writer stops.
	appendMu sync.RWMutex
	stopping bool

	mu       sync.Mutex
	segs     []*segment // sorted by base; last is active
	waitCh   chan struct{}
	dropped  uint64
	dropB    int64
	syncs    uint64
	closed   bool
	closeErr error
	damaged  uint64 // bad records skipped (found at open or by readers)
	missing  uint64 // sequence numbers skipped with nothing stored (below the high-water mark, cursors ahead)
	writeErr string // the last failed commit's error, cleared by the next good one
	writeAt  time.Time

	committed atomic.Uint64 // records with seq < committed are durable
	written   atomic.Uint64 // records with seq < written are in the file (page cache)
	sy        syncer

	// owned by the writer goroutine
	active  *segment
	f       *os.File
	w       *bufio.Writer
	next    uint64
	scratch []byte

	hwm       *os.File // high-water mark file (recover.go)
	hwmStored uint64

	ctl chan func() // work run on the writer goroutine (Advance)

	reqs    chan *appendReq
	stop    chan struct{}
	stopped chan struct{}
}

// Open opens or creates the journal in dir.
func Open(dir string, opts Options) (*Journal, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{
		dir: dir, opts: opts, log: opts.Logger,
		waitCh:  make(chan struct{}),
		reqs:    make(chan *appendReq, 1024),
		ctl:     make(chan func()),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := j.load(); err != nil {
		return nil, err
	}
	if err := j.openHWM(); err != nil {
		j.f.Close()
		return nil, err
	}
	j.enforceRetention(time.Now())
	j.sy.init()
	go j.writer()
	go j.syncLoop()
	return j, nil
}

func segName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentSuffix) }

func (j *Journal) load() error {
	names, err := os.ReadDir(j.dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	for _, de := range names {
		n := de.Name()
		if !strings.HasSuffix(n, segmentSuffix) {
			continue
		}
		base, err := strconv.ParseUint(strings.TrimSuffix(n, segmentSuffix), 10, 64)
		if err != nil || base == 0 {
			j.log.Warn("journal: ignoring unexpected file", "file", n)
			continue
		}
		s := &segment{base: base, path: filepath.Join(j.dir, n)}
		fi, err := de.Info()
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		s.size.Store(fi.Size())
		s.lastMod.Store(fi.ModTime().UnixNano())
		j.segs = append(j.segs, s)
	}
	sort.Slice(j.segs, func(a, b int) bool { return j.segs[a].base < j.segs[b].base })
	for i := 0; i+1 < len(j.segs); i++ {
		j.segs[i].end.Store(j.segs[i+1].base)
	}
	hwm := j.loadHWM()
	if len(j.segs) == 0 {
		base := max(hwm, 1)
		if base > 1 {
			j.log.Error("journal: no segments left below the high-water mark (deleted?); starting after it",
				"dir", j.dir, "next", base)
		}
		return j.createSegment(base)
	}
	last := j.segs[len(j.segs)-1]
	next, active, err := j.recoverActive(last, hwm)
	if err != nil {
		return err
	}
	if !active {
		return j.createSegment(next)
	}
	f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.active, j.f = last, f
	j.w = bufio.NewWriterSize(f, 1<<20)
	j.next = next
	j.committed.Store(j.next)
	j.written.Store(j.next)
	return nil
}

// scanSegmentUpTo counts up to limit records of a segment (damaged ones
// included, see scan) and returns the offset just past the last one and the
// stamp of the last valid one.
func scanSegmentUpTo(path string, limit uint64) (n uint64, valid int64, stamp int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("journal: %w", err)
	}
	x := scan(data, -1)
	n = min(limit, uint64(len(x.offs)))
	if n == 0 {
		return 0, 0, 0, nil
	}
	for i := int(n) - 1; i >= 0; i-- {
		if o := x.offs[i]; o >= 0 {
			stamp = int64(binary.LittleEndian.Uint64(data[o+8:]))
			break
		}
	}
	return n, x.endOf(data, int(n)-1), stamp, nil
}

// ErrCorrupt marks a record whose header or checksum is wrong.
var ErrCorrupt = errors.New("corrupt record")

// readRecord reads one record into buf (reused when large enough).
func readRecord(r io.Reader, buf []byte) ([]byte, int64, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, 0, ErrCorrupt
		}
		return nil, 0, err
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	sum := binary.LittleEndian.Uint32(h[4:8])
	if n > MaxRecordSize {
		return nil, 0, ErrCorrupt
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, 0, ErrCorrupt
	}
	c := crc32.Update(0, castagnoli, h[8:16])
	c = crc32.Update(c, castagnoli, buf)
	if c != sum {
		return nil, 0, ErrCorrupt
	}
	return buf, int64(binary.LittleEndian.Uint64(h[8:16])), nil
}

// DecodeRecords splits b into records; it is exposed for fuzzing the framing.
func DecodeRecords(b []byte) (n int, err error) {
	r := bufio.NewReader(strings.NewReader(string(b)))
	var buf []byte
	for {
		buf, _, err = readRecord(r, buf)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// EncodeRecord appends the framed record to dst.
func EncodeRecord(dst []byte, stamp int64, payload []byte) []byte {
	// The header is built in dst itself: a local array passed to crc32
	// escapes, an allocation per record.
	n := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	h := dst[n : n+headerSize]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:16], uint64(stamp))
	c := crc32.Update(0, castagnoli, h[8:16])
	c = crc32.Update(c, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:8], c)
	return append(dst, payload...)
}

// createSegment starts a new active segment whose first record is base.
// Called at open or by the writer goroutine.
func (j *Journal) createSegment(base uint64) error {
	path := filepath.Join(j.dir, segName(base))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil && !j.opts.NoSync {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	s := &segment{base: base, path: path}
	s.lastMod.Store(time.Now().UnixNano())
	j.mu.Lock()
	j.segs = append(j.segs, s)
	j.mu.Unlock()
	j.active, j.f = s, f
	if j.w == nil {
		j.w = bufio.NewWriterSize(f, 1<<20)
	} else {
		j.w.Reset(f)
	}
	j.next = base
	j.committed.Store(base)
	j.written.Store(base)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append stores recs durably and returns the first sequence number given to
// them. It blocks until the records are on disk (AckFsync).
func (j *Journal) Append(ctx context.Context, recs [][]byte) (uint64, error) {
	return j.AppendAck(ctx, recs, AckFsync)
}

// AppendAck is Append answered when ack says.
func (j *Journal) AppendAck(ctx context.Context, recs [][]byte, ack Ack) (uint64, error) {
	r, err := j.AppendWait(ctx, Batch{Recs: recs, Ack: ack})
	return r.First, err
}

// AppendAsync queues recs and returns a channel that yields the Result once
// they are durable. Appends are stored in the order they are queued.
func (j *Journal) AppendAsync(recs [][]byte) (<-chan Result, error) {
	return j.AppendAsyncAck(recs, AckFsync)
}

// AppendAsyncAck is AppendAsync answered when ack says.
func (j *Journal) AppendAsyncAck(recs [][]byte, ack Ack) (<-chan Result, error) {
	if err := checkSizes(recs); err != nil {
		return nil, err
	}
	req := &appendReq{recs: recs, ack: ack, done: make(chan Result, 1)}
	if err := j.enqueue(req); err != nil {
		return nil, err
	}
	return req.done, nil
}

// reqPool recycles appends awaited by AppendWait. The writer and the
// syncer never touch a request after sending its result, so the receiver
// owns it again then.
var reqPool = sync.Pool{New: func() any { return &appendReq{done: make(chan Result, 1)} }}

// AppendWait is AppendBatch awaited, without an allocation per call (a
// pooled request and channel). When ctx ends first it returns ctx.Err()
// and the records may still be written later: the caller must leave
// b.Recs untouched.
func (j *Journal) AppendWait(ctx context.Context, b Batch) (Result, error) {
	if err := checkSizes(b.Recs); err != nil {
		return Result{}, err
	}
	req := reqPool.Get().(*appendReq)
	req.recs, req.ack, req.end = b.Recs, b.Ack, 0
	if err := j.enqueue(req); err != nil {
		req.recs = nil
		reqPool.Put(req)
		return Result{}, err
	}
	select {
	case res := <-req.done:
		req.recs = nil
		reqPool.Put(req)
		return res, res.Err
	case <-ctx.Done():
		return Result{}, ctx.Err() // req stays with the writer
	}
}

// checkSizes refuses a batch holding a record the journal cannot frame.
func checkSizes(recs [][]byte) error {
	for _, r := range recs {
		if len(r) > MaxRecordSize {
			return fmt.Errorf("journal: record of %d bytes exceeds %d", len(r), MaxRecordSize)
		}
	}
	return nil
}

func (j *Journal) enqueue(req *appendReq) error {
	j.appendMu.RLock()
	defer j.appendMu.RUnlock()
	if j.stopping {
		return ErrClosed
	}
	j.reqs <- req // the writer runs until stopping is set, so this cannot block forever
	return nil
}

func (j *Journal) writer() {
	defer close(j.stopped)
	batch := make([]*appendReq, 0, 256)
	ticker := time.NewTicker(time.Minute)
	defer ticker.Stop()
	for {
		batch = batch[:0]
		select {
		case r := <-j.reqs:
			batch = append(batch, r)
		case <-ticker.C:
			j.enforceRetention(time.Now())
			continue
		case fn := <-j.ctl:
			fn()
			continue
		case <-j.stop:
			j.drainOnStop()
			return
		}
		// Group commit: take whatever else is already queued.
		bytes := 0
	more:
		for len(batch) < cap(batch) && bytes < 8<<20 {
			select {
			case r := <-j.reqs:
				batch = append(batch, r)
				for _, rec := range r.recs {
					bytes += len(rec)
				}
			default:
				break more
			}
		}
		j.commit(batch)
		if err := j.storeHWM(false); err != nil {
			j.log.Error("journal: cannot store the high-water mark", "err", err)
		}
	}
}

func (j *Journal) drainOnStop() {
	for {
		select {
		case r := <-j.reqs:
			j.commit([]*appendReq{r})
		default:
			return
		}
	}
}

func (j *Journal) commit(batch []*appendReq) {
	now := time.Now().UnixNano()
	firsts := make([]uint64, len(batch))
	var err error
	for i, req := range batch {
		firsts[i] = j.next
		for _, rec := range req.recs {
			if err = j.writeRecord(now, rec); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
		req.end = j.next
	}
	if err == nil {
		err = j.w.Flush()
	}
	if err != nil {
		// The state of the file is unknown: refuse this batch, and resync
		// the writer to what was written (and acknowledged) before it.
		err = fmt.Errorf("journal: write: %w", err)
		j.log.Error("journal write failed", "err", err)
		j.setWriteError(err)
		j.recover()
		for _, req := range batch {
			req.done <- Result{Err: err}
		}
		return
	}
	j.active.lastMod.Store(now)
	// Only a good write ends a disk-full episode: an fsync of what was
	// written before it can still succeed while new writes fail.
	j.mu.Lock()
	j.writeErr = ""
	j.mu.Unlock()
	// The batch is in the page cache: AckWritten appends are answered now,
	// AckFsync ones by the syncer once an fsync covers them.
	j.written.Store(j.next)
	if j.opts.NoSync {
		j.publish(j.next, false)
	}
	urgent := false
	for i, req := range batch {
		if req.ack == AckWritten || j.opts.NoSync {
			req.done <- Result{First: firsts[i]}
			continue
		}
		j.sy.wait(req, firsts[i])
		urgent = true
	}
	j.sy.kick(urgent)
	if j.opts.MaxBytes > 0 {
		j.enforceRetention(time.Now())
	}
}

// recover truncates the active segment back to its committed size after a
// failed write.
func (j *Journal) recover() {
	j.w.Reset(j.f)
	committed := j.written.Load()
	// Keep exactly the records written by earlier groups (some may be
	// acknowledged already); whatever this group wrote after them was not.
	if _, valid, _, err := scanSegmentUpTo(j.active.path, committed-j.active.base); err == nil {
		if err := os.Truncate(j.active.path, valid); err != nil {
			j.log.Error("journal: cannot truncate after a failed write", "err", err)
		}
		j.active.size.Store(valid)
	}
	j.next = committed
}

func (j *Journal) writeRecord(stamp int64, rec []byte) error {
	if j.active.size.Load() >= j.opts.SegmentBytes {
		if err := j.roll(); err != nil {
			return err
		}
	}
	j.scratch = EncodeRecord(j.scratch[:0], stamp, rec)
	if _, err := j.w.Write(j.scratch); err != nil {
		return err
	}
	j.active.size.Add(int64(len(j.scratch)))
	j.next++
	return nil
}

// roll seals the active segment (after making it durable) and starts a new
// one.
func (j *Journal) roll() error {
	if err := j.w.Flush(); err != nil {
		return err
	}
	// The syncer must not fsync the file being closed.
	j.sy.fileMu.Lock()
	defer j.sy.fileMu.Unlock()
	if !j.opts.NoSync {
		if err := j.f.Sync(); err != nil {
			return err
		}
	}
	// Records written so far in this group are durable now; publish them so
	// readers of the sealed segment see its whole content.
	j.written.Store(j.next)
	j.publish(j.next, !j.opts.NoSync)
	if err := j.f.Close(); err != nil {
		return err
	}
	j.active.end.Store(j.next)
	if err := j.createSegment(j.next); err != nil {
		return err
	}
	return j.storeHWM(true)
}

// enforceRetention deletes the oldest sealed segments beyond MaxBytes or
// MaxAge.
func (j *Journal) enforceRetention(now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var total int64
	for _, s := range j.segs {
		total += s.size.Load()
	}
	for len(j.segs) > 1 {
		s := j.segs[0]
		end := s.end.Load()
		if end == 0 {
			break
		}
		overSize := j.opts.MaxBytes > 0 && total > j.opts.MaxBytes
		overAge := j.opts.MaxAge > 0 && now.Sub(time.Unix(0, s.lastMod.Load())) > j.opts.MaxAge
		if !overSize && !overAge {
			break
		}
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			j.log.Error("journal: cannot delete segment", "segment", s.path, "err", err)
			break
		}
		reason := "max_age"
		if overSize {
			reason = "max_bytes"
		}
		j.log.Warn("journal: retention deleted a segment", "reason", reason, "segment", filepath.Base(s.path),
			"records", end-s.base, "bytes", s.size.Load())
		j.dropped += end - s.base
		j.dropB += s.size.Load()
		total -= s.size.Load()
		j.segs = j.segs[1:]
	}
}

// Stats returns a snapshot.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := Stats{Next: j.committed.Load(), Segments: len(j.segs), DroppedRecords: j.dropped, DroppedBytes: j.dropB, Syncs: j.syncs,
		DamagedRecords: j.damaged, MissingRecords: j.missing, WriteError: j.writeErr,
		SyncErrors: j.sy.errors.Load()}
	if j.writeErr != "" {
		st.WriteErrorTime = j.writeAt
	}
	if w := j.written.Load(); w > st.Next {
		st.Unsynced = w - st.Next
	}
	if len(j.segs) > 0 {
		st.First = j.segs[0].base
	}
	for _, s := range j.segs {
		st.Bytes += s.size.Load()
	}
	return st
}

// Next is the sequence number the next stored record will get; every record
// below it is durable and readable.
func (j *Journal) Next() uint64 { return j.committed.Load() }

// First is the oldest sequence number still stored.
func (j *Journal) First() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.segs[0].base
}

// wait returns a channel closed at the next commit.
func (j *Journal) wait() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.waitCh
}

// segmentFor returns the segment holding seq, or the oldest one when seq
// has been deleted by retention.
func (j *Journal) segmentFor(seq uint64) *segment {
	j.mu.Lock()
	defer j.mu.Unlock()
	i := sort.Search(len(j.segs), func(i int) bool { return j.segs[i].base > seq })
	if i == 0 {
		return j.segs[0]
	}
	return j.segs[i-1]
}

// Close stops the writer after storing what was queued, and closes files.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return j.closeErr
	}
	j.closed = true
	j.mu.Unlock()
	j.appendMu.Lock()
	j.stopping = true
	j.appendMu.Unlock()
	close(j.stop)
	<-j.stopped
	err := j.w.Flush()
	// The syncer's last round fsyncs what the writer wrote and answers every
	// AckFsync append still waiting.
	if serr := j.sy.stop(); err == nil {
		err = serr
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	if herr := j.storeHWM(true); err == nil {
		err = herr
	}
	if cerr := j.hwm.Close(); err == nil {
		err = cerr
	}
	j.mu.Lock()
	j.closeErr = err
	close(j.waitCh)
	j.waitCh = make(chan struct{})
	j.mu.Unlock()
	return err
}

// ReadRecord reads one framed record (as written by EncodeRecord) from r,
// reusing buf. It returns io.EOF at a clean end and an error for a torn or
// corrupt record.
func ReadRecord(r io.Reader, buf []byte) (payload []byte, stamp int64, err error) {
	return readRecord(r, buf)
}

func (j *Journal) setWriteError(err error) {
	j.mu.Lock()
	j.writeErr, j.writeAt = err.Error(), time.Now()
	j.mu.Unlock()
}
