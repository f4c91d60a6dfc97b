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
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	// Commits counts the fsyncs Commit ran (one per group of callers).
	Commits uint64
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
	// writeGen counts writes to segments, syncedGen the last one known
	// durable; commitMu serialises Commit's fsyncs (group commit).
	writeGen  uint64
	syncedGen uint64
	commits   uint64
	commitMu  sync.Mutex
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

func (s *Spool) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when records may be available to Next. Receive from it,
// then call Next until it returns nothing.
func (s *Spool) Ready() <-chan struct{} { return s.ready }

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
	st.Commits = s.commits
	return st
}

// Len is the number of live records.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
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
