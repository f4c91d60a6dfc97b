// Package scapfile reads the capture files Falco and sysdig write (.scap):
// libscap's block format, little-endian, possibly gzip-compressed. A file is
// a sequence of blocks, each
//
//	u32 block_type | u32 block_total_length | body, padded to 4 bytes | u32 block_total_length
//
// starting with a section header (type 0x0A0D0D0A, magic 0x1A2B3C4D, version
// 1.x), then metadata blocks (machine info, process list, fd list, interface
// and user lists), then event blocks. An event block body is u16 cpu
// [u32 flags, for the EVF kinds], then the event: u64 ts, u64 tid, u32 len,
// u16 type, u32 nparams (absent in version-1 event blocks), the parameter
// lengths (u16 each, u32 in the LARGE kinds) and the parameters.
//
// The process list seeds a process table (so the processes running when
// the capture started have names, parents and working directories), and
// the events of the syscalls Harrier's rules use are decoded into
// sysevent.Events, whose process and fd state the table then keeps, as
// the live source does. Other events are counted and skipped. The fd list
// is skipped: fds opened before the capture began are unknown, as they are
// to the live source for processes it reads from /proc without fds.
package scapfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Block types (libscap's scap_savefile.h).
const (
	blockSHB       = 0x0A0D0D0A
	shbMagic       = 0x1A2B3C4D
	blockMI        = 0x201
	blockMIInt     = 0x8002ABCD
	blockPLv1      = 0x202
	blockPLv1Int   = 0x8000ABCD
	blockPLv2      = 0x207
	blockPLv2Int   = 0x8013ABCD
	blockPLv3      = 0x209
	blockPLv3Int   = 0x8014ABCD
	blockPLv4      = 0x210
	blockPLv5      = 0x211
	blockPLv6      = 0x212
	blockPLv7      = 0x213
	blockPLv8      = 0x214
	blockPLv9      = 0x215
	blockEV        = 0x204
	blockEVInt     = 0x8010ABCD
	blockEVv2      = 0x216
	blockEVv2Large = 0x221
	blockEVF       = 0x208
	blockEVFv2     = 0x217
	blockEVFv2Lg   = 0x222
)

// MaxBlock bounds a block's length: a corrupt length must not make the
// reader allocate gigabytes.
const MaxBlock = 64 << 20

// IsScap reports whether head, the first bytes of a file, start a scap
// capture (plain or gzip-compressed).
func IsScap(head []byte) bool {
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(head))
		if err != nil {
			return false
		}
		var b [12]byte
		n, _ := io.ReadFull(zr, b[:])
		return isSHB(b[:n])
	}
	return isSHB(head)
}

func isSHB(b []byte) bool {
	return len(b) >= 12 && binary.LittleEndian.Uint32(b) == blockSHB && binary.LittleEndian.Uint32(b[8:]) == shbMagic
}

// Error locates a problem in the file.
type Error struct {
	Offset int64 // of the block
	Block  uint32
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("scap file: block 0x%x at offset %d: %s", e.Block, e.Offset, e.Msg)
}

// blockReader reads blocks, checking their framing.
type blockReader struct {
	r   *bufio.Reader
	off int64
}

type block struct {
	typ  uint32
	off  int64
	body []byte // without header, trailer; padding included
}

func (br *blockReader) next() (*block, error) {
	var hdr [8]byte
	n, err := io.ReadFull(br.r, hdr[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, &Error{Offset: br.off, Msg: fmt.Sprintf("truncated block header (%d bytes)", n)}
	}
	b := &block{typ: binary.LittleEndian.Uint32(hdr[:]), off: br.off}
	total := binary.LittleEndian.Uint32(hdr[4:])
	if total < 12 || total > MaxBlock {
		return nil, &Error{Offset: br.off, Block: b.typ, Msg: fmt.Sprintf("bad block length %d", total)}
	}
	// Read through a limit rather than into a buffer of the announced
	// size: a corrupt length costs only the bytes that are really there.
	var buf bytes.Buffer
	if n, _ := buf.ReadFrom(io.LimitReader(br.r, int64(total-8))); n != int64(total-8) {
		return nil, &Error{Offset: br.off, Block: b.typ, Msg: fmt.Sprintf("truncated block (want %d bytes)", total)}
	}
	rest := buf.Bytes()
	if tr := binary.LittleEndian.Uint32(rest[len(rest)-4:]); tr != total {
		return nil, &Error{Offset: br.off, Block: b.typ, Msg: fmt.Sprintf("trailer length %d differs from header length %d", tr, total)}
	}
	b.body = rest[:len(rest)-4]
	br.off += int64(total)
	return b, nil
}

// cursor decodes little-endian fields of a body, remembering the first
// overrun.
type cursor struct {
	b   []byte
	bad bool
}

func (c *cursor) take(n int) []byte {
	if c.bad || n < 0 || n > len(c.b) {
		c.bad = true
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) u8() uint8 {
	if v := c.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (c *cursor) u16() uint16 {
	if v := c.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (c *cursor) u32() uint32 {
	if v := c.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (c *cursor) u64() uint64 {
	if v := c.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

// str16 is a string with a u16 length, not NUL-terminated on file.
func (c *cursor) str16() string { return string(c.take(int(c.u16()))) }

var errNotScap = errors.New("not a scap capture (no section header block)")
