package bpfcapture

import (
	"encoding/binary"
	"fmt"

	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// pfType is struct pf_type of harrier.bpf.c.
type pfType struct {
	Active   uint64
	NeedPath uint64
	NeedComm uint64
	NeedPred [kfilter.NumPreds]uint64
	Mode     uint8
	PathArg  uint8
	DropFD   uint8
	_        [5]uint8
}

// pfKey is struct pf_key: the LPM trie's key.
type pfKey struct {
	PrefixLen uint32
	Data      [256]uint8
}

// commKey is struct comm_key.
type commKey struct {
	Type uint32
	Comm [16]uint8
}

func pathKey(e kfilter.PathEntry) pfKey {
	var k pfKey
	binary.BigEndian.PutUint16(k.Data[:2], uint16(e.Type))
	n := copy(k.Data[2:], e.Key)
	if e.Exact {
		n++ // the NUL, already zero
	}
	k.PrefixLen = uint32(2+n) * 8
	return k
}

// SetPrefilter loads a compiled prefilter into the kernel (nil: none,
// everything of interest passes). Replacing one is safe while events flow:
// every type the old or the new filter mentions first passes everything,
// then the path and name tables are rewritten, then the new rows are set,
// so an event is never judged by half of a filter.
func (c *Capture) SetPrefilter(pf *kfilter.Compiled) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if pf == nil {
		pf = &kfilter.Compiled{}
	}
	for t := range c.prefilter {
		if err := c.objs.PfTypes.Put(uint32(t), pfType{}); err != nil {
			return fmt.Errorf("bpfcapture: clearing the prefilter of %s: %w", t, err)
		}
	}
	for _, k := range c.pfPaths {
		_ = c.objs.PfPaths.Delete(k)
	}
	for _, k := range c.pfComms {
		_ = c.objs.PfComms.Delete(k)
	}
	c.prefilter, c.pfPaths, c.pfComms = nil, nil, nil
	for _, e := range pf.Paths {
		k := pathKey(e)
		if err := c.objs.PfPaths.Put(k, e.Mask); err != nil {
			return fmt.Errorf("bpfcapture: prefilter path %q of %s: %w", e.Key, e.Type, err)
		}
		c.pfPaths = append(c.pfPaths, k)
	}
	for _, e := range pf.Comms {
		k := commKey{Type: uint32(e.Type)}
		copy(k.Comm[:kfilter.CommLen], e.Comm)
		if err := c.objs.PfComms.Put(k, e.Mask); err != nil {
			return fmt.Errorf("bpfcapture: prefilter name %q of %s: %w", e.Comm, e.Type, err)
		}
		c.pfComms = append(c.pfComms, k)
	}
	c.prefilter = map[sysevent.Type]bool{}
	for t, ct := range pf.Types {
		row := pfType{Active: ct.Active, NeedPath: ct.NeedPath, NeedComm: ct.NeedComm, NeedPred: ct.NeedPred, Mode: 1, PathArg: ct.PathArg}
		if ct.DropFD {
			row.DropFD = 1
		}
		if err := c.objs.PfTypes.Put(uint32(t), row); err != nil {
			return fmt.Errorf("bpfcapture: setting the prefilter of %s: %w", t, err)
		}
		c.prefilter[t] = true
	}
	return nil
}

// filteredStats reads the prefilter's per-type counters.
func (c *Capture) filteredStats(s *Stats) error {
	var (
		key     uint32
		percpu  []uint64
		entries = c.objs.Filtered.Iterate()
	)
	for entries.Next(&key, &percpu) {
		for _, n := range percpu {
			if n == 0 {
				continue
			}
			s.Filtered += n
			s.FilteredByType[sysevent.Type(key)] += n
		}
	}
	if err := entries.Err(); err != nil {
		return fmt.Errorf("bpfcapture: reading the prefilter counters: %w", err)
	}
	return nil
}
