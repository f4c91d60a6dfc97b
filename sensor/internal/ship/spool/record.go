package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *Spool) segPath(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", id, segSuffix))
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
