package delivery

import (
	"sync/atomic"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// decodedRing shares decoded alerts between the outputs' workers: outputs
// that are caught up read the same journal records at about the same time,
// and decoding is a quarter of a worker's CPU. A slot holds the alert of one
// sequence number; a worker further behind than the ring simply decodes
// again. Alerts are shared, so outputs must treat them as read-only (the
// output contract's Deliver only reads).
type decodedRing struct {
	slots []atomic.Pointer[decodedAlert]
}

type decodedAlert struct {
	seq   uint64
	alert *harrierv1.Alert
}

func newDecodedRing(n int) *decodedRing {
	return &decodedRing{slots: make([]atomic.Pointer[decodedAlert], n)}
}

// get returns the alert of record seq, decoding data when no other worker
// has.
func (r *decodedRing) get(seq uint64, data []byte) (*harrierv1.Alert, error) {
	slot := &r.slots[seq%uint64(len(r.slots))]
	if d := slot.Load(); d != nil && d.seq == seq {
		return d.alert, nil
	}
	a := &harrierv1.Alert{}
	if err := harrierv1.UnmarshalAlert(data, a); err != nil {
		return nil, err
	}
	slot.Store(&decodedAlert{seq: seq, alert: a})
	return a, nil
}
