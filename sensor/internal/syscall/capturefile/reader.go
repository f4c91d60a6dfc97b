package capturefile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Reader reads a capture file. Events come back with Thread and FDInfo set
// to the state recorded with them, ready for field extraction: a replay
// must not run them through a process table again.
type Reader struct {
	r       *bufio.Reader
	closer  io.Closer
	off     int64
	version uint16
	meta    Meta
	buf     []byte

	threads    map[uint64]*sysevent.Thread
	fds        map[uint64]*sysevent.FD
	containers map[uint64]*sysevent.Container
	images     map[uint64]*sysevent.Image
}

// Open opens the capture file at path; Close releases it.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// NewReader reads the header and meta record from r.
func NewReader(r io.Reader) (*Reader, error) {
	cr := &Reader{
		r:          bufio.NewReaderSize(r, 256<<10),
		threads:    map[uint64]*sysevent.Thread{},
		fds:        map[uint64]*sysevent.FD{},
		containers: map[uint64]*sysevent.Container{},
		images:     map[uint64]*sysevent.Image{},
	}
	hdr := make([]byte, headerLen)
	n, err := io.ReadFull(cr.r, hdr)
	if !IsCapture(hdr[:n]) {
		if n < len(Magic) && err != nil {
			return nil, &Error{Offset: 0, Msg: fmt.Sprintf("file too short for a capture header (%d bytes)", n)}
		}
		return nil, &Error{Offset: 0, Msg: "bad magic number", Err: ErrNotCapture}
	}
	if err != nil {
		return nil, &Error{Offset: int64(n), Msg: "truncated header", Err: err}
	}
	cr.off = int64(headerLen)
	cr.version = binary.LittleEndian.Uint16(hdr[len(Magic):])
	if cr.version == 0 || cr.version > Version {
		return nil, &Error{Offset: int64(len(Magic)), Msg: fmt.Sprintf("format version %d is not supported (this build reads up to %d)", cr.version, Version)}
	}
	kind, payload, start, err := cr.record()
	if err == io.EOF {
		return nil, &Error{Offset: cr.off, Msg: "missing meta record"}
	}
	if err != nil {
		return nil, err
	}
	if kind != recMeta {
		return nil, &Error{Offset: start, Msg: fmt.Sprintf("first record is %q, want meta", kind)}
	}
	d := &dec{b: payload}
	cnt := d.uv()
	if cnt > maxList {
		return nil, &Error{Offset: start, Msg: "meta record too large"}
	}
	cr.meta = Meta{}
	for i := uint64(0); i < cnt && d.err == nil; i++ {
		k := d.str()
		cr.meta[k] = d.str()
	}
	if d.err != nil {
		return nil, &Error{Offset: start, Msg: "bad meta record", Err: d.err}
	}
	return cr, nil
}

// Meta returns the capture's meta data.
func (r *Reader) Meta() Meta { return r.meta }

// Version is the file's format version.
func (r *Reader) Version() int { return int(r.version) }

// Close closes the file opened by Open.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// record reads one framed record. io.EOF means the file ended cleanly
// between records.
func (r *Reader) record() (kind byte, payload []byte, start int64, err error) {
	start = r.off
	kind, err = r.r.ReadByte()
	if err == io.EOF {
		return 0, nil, start, io.EOF
	}
	if err != nil {
		return 0, nil, start, &Error{Offset: start, Msg: "read", Err: err}
	}
	r.off++
	size, err := binary.ReadUvarint(byteCounter{r})
	if err != nil {
		return 0, nil, start, &Error{Offset: start, Msg: "truncated or bad record length", Err: noEOF(err)}
	}
	if size > maxRecord {
		return 0, nil, start, &Error{Offset: start, Msg: fmt.Sprintf("record length %d exceeds the limit of %d bytes", size, maxRecord)}
	}
	need := int(size) + 4
	// Grow the buffer as data arrives, so that a corrupt length cannot
	// make us allocate far more than the file holds.
	b := r.buf[:0]
	for len(b) < need {
		chunk := min(need-len(b), 1<<20)
		if cap(b)-len(b) < chunk {
			nb := make([]byte, len(b), len(b)+chunk)
			copy(nb, b)
			b = nb
		}
		n, err := io.ReadFull(r.r, b[len(b):len(b)+chunk])
		b = b[:len(b)+n]
		r.off += int64(n)
		if err != nil {
			return 0, nil, start, &Error{Offset: start, Msg: fmt.Sprintf("truncated record: want %d bytes, file has %d", need, len(b)), Err: noEOF(err)}
		}
	}
	r.buf = b
	payload = b[:size]
	crc := crc32.Update(0, crcTable, []byte{kind})
	crc = crc32.Update(crc, crcTable, payload)
	if got := binary.LittleEndian.Uint32(b[size:]); got != crc {
		return 0, nil, start, &Error{Offset: start, Msg: fmt.Sprintf("checksum mismatch in record %q (corrupt file)", kind)}
	}
	return kind, payload, start, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

type byteCounter struct{ r *Reader }

func (b byteCounter) ReadByte() (byte, error) {
	c, err := b.r.r.ReadByte()
	if err == nil {
		b.r.off++
	}
	return c, err
}

// Next returns the next event, or io.EOF at the end of the file. Any
// other error is an *Error naming the offset of the bad record.
func (r *Reader) Next() (*sysevent.Event, error) {
	for {
		kind, payload, start, err := r.record()
		if err != nil {
			return nil, err
		}
		d := &dec{b: payload}
		switch kind {
		case recContainer:
			id, c := decodeContainer(d)
			if d.err == nil {
				r.containers[id] = c
			}
		case recThread:
			id, t := decodeThread(d,
				func(id uint64) (*sysevent.Thread, bool) { t, ok := r.threads[id]; return t, ok },
				func(id uint64) (*sysevent.Container, bool) { c, ok := r.containers[id]; return c, ok },
				func(id uint64) (*sysevent.Image, bool) { im, ok := r.images[id]; return im, ok },
				func(id uint64) (*sysevent.FD, bool) { f, ok := r.fds[id]; return f, ok })
			if d.err == nil {
				r.threads[id] = t
			}
		case recImage:
			id, im := decodeImage(d)
			if d.err == nil {
				r.images[id] = im
			}
		case recFD:
			id, f := decodeFD(d)
			if d.err == nil {
				r.fds[id] = f
			}
		case recEvent:
			ev := &sysevent.Event{}
			tid, fid := decodeEvent(d, ev)
			if d.err == nil && tid != 0 {
				if ev.Thread = r.threads[tid]; ev.Thread == nil {
					d.fail(errUnknownRef("thread", tid))
				}
			}
			if d.err == nil && fid != 0 {
				if ev.FDInfo = r.fds[fid]; ev.FDInfo == nil {
					d.fail(errUnknownRef("fd", fid))
				}
			}
			if d.err != nil {
				return nil, &Error{Offset: start, Msg: "bad event record", Err: d.err}
			}
			return ev, nil
		case recReset:
			// The writer forgot its snapshots; so do we (bounded memory).
			clear(r.threads)
			clear(r.fds)
			clear(r.containers)
			clear(r.images)
		case recMeta:
			return nil, &Error{Offset: start, Msg: "second meta record"}
		default:
			continue // a record kind from a newer minor revision: skip
		}
		if d.err != nil {
			return nil, &Error{Offset: start, Msg: fmt.Sprintf("bad %q record", kind), Err: d.err}
		}
	}
}

// ErrNotCapture is returned (wrapped) for files without the magic number.
var ErrNotCapture = errors.New("not a Harrier capture file")
