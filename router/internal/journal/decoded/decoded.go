// Package decoded shares the decoded alert of each recent journal record
// between the stages that read the local journal after it: every output's
// delivery worker, the subscription hub and the console's index read the
// same records at about the same time, and decoding a record is a large
// share of each reader's CPU (docs/benchmarks.md). One Ring per journal:
// the key is the record's sequence number.
package decoded

import (
	"sync/atomic"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// DefaultSize is the ring's slots: a reader further behind the first
// decoder than this simply decodes again.
const DefaultSize = 4096

// Ring holds the alerts of the most recent records decoded. Alerts are
// shared, so readers must treat them as read-only (the output contract's
// Deliver, the hub's subscribers and the index only read).
type Ring struct {
	slots []atomic.Pointer[slot]
}

type slot struct {
	seq   uint64
	alert *harrierv1.Alert
}

// NewRing returns a ring of n slots (n < 1: DefaultSize).
func NewRing(n int) *Ring {
	if n < 1 {
		n = DefaultSize
	}
	return &Ring{slots: make([]atomic.Pointer[slot], n)}
}

// Get returns the alert of record seq, decoding data when no other reader
// has. Two readers may decode the same record at once; either result is
// kept, both are equal.
func (r *Ring) Get(seq uint64, data []byte) (*harrierv1.Alert, error) {
	s := &r.slots[seq%uint64(len(r.slots))]
	if d := s.Load(); d != nil && d.seq == seq {
		return d.alert, nil
	}
	a := &harrierv1.Alert{}
	if err := harrierv1.UnmarshalAlert(data, a); err != nil {
		return nil, err
	}
	s.Store(&slot{seq: seq, alert: a})
	return a, nil
}
