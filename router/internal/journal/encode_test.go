package journal

import (
	"bytes"
	"testing"
)

// Every ingested alert is framed by EncodeRecord: into a reused buffer it
// allocates nothing, and ReadRecord gives back what it framed.
func TestEncodeRecordReusesItsBuffer(t *testing.T) {
	payload := bytes.Repeat([]byte("alert"), 100)
	scratch := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { scratch = EncodeRecord(scratch[:0], 42, payload) }); n != 0 {
		t.Fatalf("EncodeRecord made %v allocations per record, want 0", n)
	}
	got, stamp, err := ReadRecord(bytes.NewReader(scratch), nil)
	if err != nil || stamp != 42 || !bytes.Equal(got, payload) {
		t.Fatalf("read back %d bytes, stamp %d, err %v", len(got), stamp, err)
	}
}
