// Package capturefile reads and writes Harrier capture files: decoded
// syscall events together with the process, container and fd state they
// were evaluated with, so that a replay evaluates them exactly as the live
// sensor did. The format is specified in docs/capture-format.md.
package capturefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"net/netip"
)

// Magic starts every capture file (8 bytes, PNG-style: a high byte to
// catch 7-bit transfers, CR LF and ^Z to catch line-ending conversions).
const Magic = "\x89HRCAP\r\n"

// Version is the format version this package writes and the highest it
// reads.
const Version = 1

// headerLen is the size of the fixed header: magic, version, flags.
const headerLen = len(Magic) + 4

// IsCapture reports whether header (the first bytes of a file, at least
// len(Magic)) starts a capture file.
func IsCapture(header []byte) bool { return bytes.HasPrefix(header, []byte(Magic)) }

// Record kinds.
const (
	recMeta      = 'M'
	recContainer = 'C'
	recThread    = 'T'
	recImage     = 'I'
	recReset     = 'R'
	recFD        = 'F'
	recEvent     = 'E'
)

// Limits that keep a corrupt or hostile file from making the reader
// allocate without bound.
const (
	maxRecord = 16 << 20
	maxList   = 1 << 16
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Error is a read error located in the file.
type Error struct {
	Offset int64 // byte offset of the record (or header) that is bad
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("capture file: offset %d: %s: %v", e.Offset, e.Msg, e.Err)
	}
	return fmt.Sprintf("capture file: offset %d: %s", e.Offset, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// enc appends primitive values to a buffer.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)     { e.b = append(e.b, v) }
func (e *enc) uv(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) sv(v int64)     { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)   { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) boolean(v bool) { e.u8(b2u(v)) }
func (e *enc) strs(ss []string) {
	e.uv(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *enc) addr(a netip.Addr) {
	switch {
	case !a.IsValid():
		e.u8(0)
	case a.Is4():
		e.u8(4)
		b := a.As4()
		e.b = append(e.b, b[:]...)
	default:
		e.u8(16)
		b := a.As16()
		e.b = append(e.b, b[:]...)
	}
}

func b2u(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// errShort is returned by dec when the payload ends early.
var errShort = errors.New("record payload too short")

// dec reads primitive values from a record payload; the first error
// sticks and later reads return zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *dec) u8() uint8 {
	if d.err != nil || len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad unsigned varint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) sv() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad signed varint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) u32() uint32 {
	v := d.uv()
	if v > math.MaxUint32 {
		d.fail(fmt.Errorf("value %d out of range", v))
	}
	return uint32(v)
}

func (d *dec) u16() uint16 {
	v := d.uv()
	if v > math.MaxUint16 {
		d.fail(fmt.Errorf("value %d out of range", v))
	}
	return uint16(v)
}

func (d *dec) str() string {
	n := d.uv()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("string of %d bytes overruns the record", n))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) boolean() bool { return d.u8() != 0 }

func (d *dec) strs() []string {
	n := d.uv()
	if d.err != nil {
		return nil
	}
	if n > maxList || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("list of %d strings overruns the record", n))
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *dec) addr() netip.Addr {
	switch n := d.u8(); n {
	case 0:
		return netip.Addr{}
	case 4:
		if len(d.b) < 4 {
			d.fail(errShort)
			return netip.Addr{}
		}
		a := netip.AddrFrom4([4]byte(d.b[:4]))
		d.b = d.b[4:]
		return a
	case 16:
		if len(d.b) < 16 {
			d.fail(errShort)
			return netip.Addr{}
		}
		a := netip.AddrFrom16([16]byte(d.b[:16]))
		d.b = d.b[16:]
		return a
	default:
		d.fail(fmt.Errorf("bad address length %d", n))
		return netip.Addr{}
	}
}
