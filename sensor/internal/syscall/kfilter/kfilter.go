// Package kfilter is what the kernel-side prefilter can express: per
// syscall type, an OR of terms, each an AND of a path set (exact paths and
// prefixes of the first path argument), a process-name set (the comm the
// process had at exec) and a few result/flag/uid predicates. The engine derives
// a Spec from the loaded rules (package engine/prefilter); bpfcapture
// loads the compiled tables into BPF maps. Compiled.Pass evaluates the same
// tables in Go with the semantics of the BPF code, so that the soundness
// tests exercise what the kernel runs.
//
// Everything the Spec does not mention passes: correctness first. The uid
// predicates (PredUIDRoot, PredUIDOther) are the calling thread's
// effective uid, which the kernel reads from the task's credentials only
// for types whose terms need them.
//
// Not expressible: suffixes of the path (endswith, '*.ext' globs; see
// engine/prefilter for why) and contains on clean paths.
package kfilter

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Pred is a cheap fact about an event, computed in the kernel.
type Pred uint8

const (
	PredSuccess    Pred = 1 << iota // the syscall returned ≥ 0
	PredFailure                     // the syscall returned < 0
	PredOpenRead                    // open family: flags allow reading (access mode ≠ O_WRONLY)
	PredOpenWrite                   // open family: flags allow writing (access mode ≠ O_RDONLY)
	PredOpenCreate                  // open family: O_CREAT or O_TMPFILE
	PredOpenTrunc                   // open family: O_TRUNC
	PredUIDRoot                     // the thread's effective uid is 0 (user.uid)
	PredUIDOther                    // the thread's effective uid is not 0
)

// NumPreds is the number of predicates.
const NumPreds = 8

// Open flags, as syscallfields reads them (evt.is_open_*).
const (
	oAccMode = 0o3
	oWronly  = 0o1
	oCreat   = 0o100
	oTmpfile = 0o20000000
	oTrunc   = 0o1000
)

// MaxTerms bounds the terms of one type: they are bits of a 64-bit mask.
const MaxTerms = 64

// MaxPath is the longest path (in bytes) the kernel compares: longer paths
// are unknown and pass. It is the BPF LPM trie's key size (256 bytes)
// less the 2-byte type, the terminating NUL and one byte that tells a
// truncated read.
const MaxPath = 252

// CommLen is the significant length of a process name (the kernel's comm
// without its NUL).
const CommLen = 15

// MaxFD is the number of fds per process the kernel tracks (a bitmap): an
// fd at or above it is never marked.
const MaxFD = 1024

// Term is one alternative: every constraint it sets must hold.
type Term struct {
	// Exact and Prefix constrain the first path argument when either is
	// non-nil; a path passes when it equals an Exact item or starts with a
	// Prefix item.
	Exact, Prefix []string
	// Comms, when non-nil, are the process names (proc.name) allowed.
	Comms []string
	// Preds must all hold.
	Preds Pred
}

// HasPath says whether the term constrains the path.
func (t Term) HasPath() bool { return t.Exact != nil || t.Prefix != nil }

// TypeFilter is the prefilter of one event type.
type TypeFilter struct {
	// All: every event of the type passes (Terms is then ignored).
	All   bool
	Terms []Term
	// DropMarkedFD drops an event whose fd argument (the first) was
	// returned by an open the prefilter dropped: no rule on the type can
	// match it and no state needs it. For close it also forgets the mark.
	DropMarkedFD bool
}

// Spec is a prefilter for every event type it mentions; the others pass.
type Spec struct {
	Types map[sysevent.Type]TypeFilter
}

// PathArg is, per type, which syscall argument holds the first path (the
// one rules see as fd.name, evt.arg.name, fs.path.name...). Types not
// listed cannot be filtered by path.
var PathArg = map[sysevent.Type]uint8{
	sysevent.SysOpen: 0, sysevent.SysCreat: 0, sysevent.SysOpenat: 1, sysevent.SysOpenat2: 1,
	sysevent.SysUnlink: 0, sysevent.SysUnlinkat: 1, sysevent.SysRmdir: 0, sysevent.SysMkdir: 0,
	sysevent.SysMkdirat: 1, sysevent.SysChmod: 0, sysevent.SysFchmodat: 1, sysevent.SysFchmodat2: 1,
	sysevent.SysChown: 0, sysevent.SysLchown: 0, sysevent.SysFchownat: 1,
	sysevent.SysRename: 0, sysevent.SysRenameat: 1, sysevent.SysRenameat2: 1,
	sysevent.SysLink: 0, sysevent.SysLinkat: 1,
}

// IsOpen reports whether t is of the open family (the prefilter marks the
// fds of the opens it drops).
func IsOpen(t sysevent.Type) bool {
	switch t {
	case sysevent.SysOpen, sysevent.SysOpenat, sysevent.SysOpenat2, sysevent.SysCreat:
		return true
	}
	return false
}

// Filterable reports whether events of t may stay in the kernel: the
// process table's state changes (exec, fork, credentials, cwd, sockets,
// dup...) always leave it. The open family and close are state too, but
// the kernel remembers the fds of the opens it drops, so that the closes
// of those fds can stay as well.
func Filterable(t sysevent.Type) bool {
	if _, ok := PathArg[t]; ok {
		return true
	}
	switch t {
	case sysevent.SysClose, sysevent.SysFchmod, sysevent.SysFchown, sysevent.SysPtrace,
		sysevent.SysInitModule, sysevent.SysFinitModule, sysevent.SysMount, sysevent.SysUmount2,
		sysevent.SysUnshare, sysevent.SysSetns, sysevent.SysChroot, sysevent.SysKill,
		sysevent.SysTkill, sysevent.SysTgkill, sysevent.SysBpf, sysevent.SysSymlink, sysevent.SysSymlinkat,
		sysevent.SysRead, sysevent.SysWrite, sysevent.SysPread64, sysevent.SysPwrite64,
		sysevent.SysReadv, sysevent.SysWritev, sysevent.SysIoctl, sysevent.SysFtruncate,
		sysevent.SysFsync, sysevent.SysFdatasync:
		return true
	}
	return false
}

// FDArg0 reports whether t's first argument is an fd whose event a
// dropped open can make uninteresting (DropMarkedFD applies).
func FDArg0(t sysevent.Type) bool {
	switch t {
	case sysevent.SysClose, sysevent.SysFchmod, sysevent.SysFchown, sysevent.SysRead, sysevent.SysWrite,
		sysevent.SysPread64, sysevent.SysPwrite64, sysevent.SysReadv, sysevent.SysWritev,
		sysevent.SysIoctl, sysevent.SysFtruncate, sysevent.SysFsync, sysevent.SysFdatasync,
		sysevent.SysFinitModule:
		return true
	}
	return false
}

// Compiled is a Spec as the kernel's maps hold it.
type Compiled struct {
	Types map[sysevent.Type]*CompiledType
	// Paths are the LPM trie's entries; Comms the name hash's.
	Paths []PathEntry
	Comms []CommEntry
}

// CompiledType is one type's row of the type table.
type CompiledType struct {
	Active   uint64           // one bit per term
	NeedPath uint64           // terms that constrain the path
	NeedComm uint64           // terms that constrain the process name
	NeedPred [NumPreds]uint64 // per predicate, the terms that need it
	PathArg  uint8            // argument holding the path; NoPathArg: none
	DropFD   bool
}

// NoPathArg marks a type whose path is not looked at.
const NoPathArg = 0xff

// PathEntry is one LPM trie entry: Key (exact: the path with a trailing
// NUL; prefix: the prefix) under Type, and the terms it satisfies,
// including those of every shorter entry it extends (the trie returns only
// the longest match).
type PathEntry struct {
	Type  sysevent.Type
	Key   string
	Exact bool
	Mask  uint64
}

// CommEntry is one entry of the (type, name) hash.
type CommEntry struct {
	Type sysevent.Type
	Comm string // at most CommLen bytes
	Mask uint64
}

// Compile turns s into the kernel's tables. Types whose terms do not fit
// (more than MaxTerms) or that cannot be filtered pass everything.
func (s *Spec) Compile() (*Compiled, error) {
	c := &Compiled{Types: map[sysevent.Type]*CompiledType{}}
	if s == nil {
		return c, nil
	}
	types := make([]sysevent.Type, 0, len(s.Types))
	for t := range s.Types {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		tf := s.Types[t]
		if !t.IsSyscall() || !Filterable(t) {
			continue
		}
		ct := &CompiledType{PathArg: NoPathArg, DropFD: tf.DropMarkedFD && FDArg0(t)}
		if tf.All {
			if !ct.DropFD {
				continue
			}
			ct.Active = 1 // one term without constraints: everything passes but marked fds
			c.Types[t] = ct
			continue
		}
		if len(tf.Terms) > MaxTerms {
			return nil, fmt.Errorf("kfilter: %s has %d terms (at most %d)", t, len(tf.Terms), MaxTerms)
		}
		arg, hasArg := PathArg[t]
		if hasArg {
			ct.PathArg = arg
		}
		exact := map[string]uint64{}
		prefix := map[string]uint64{}
		comms := map[string]uint64{}
		for i, term := range tf.Terms {
			bit := uint64(1) << i
			ct.Active |= bit
			if term.HasPath() {
				if !hasArg {
					return nil, fmt.Errorf("kfilter: %s has no path argument", t)
				}
				ct.NeedPath |= bit
				for _, p := range term.Exact {
					if len(p) > MaxPath || strings.IndexByte(p, 0) >= 0 {
						return nil, fmt.Errorf("kfilter: %s: path %q cannot be compared in the kernel", t, p)
					}
					exact[p] |= bit
				}
				for _, p := range term.Prefix {
					if len(p) > MaxPath || p == "" || strings.IndexByte(p, 0) >= 0 {
						return nil, fmt.Errorf("kfilter: %s: prefix %q cannot be compared in the kernel", t, p)
					}
					prefix[p] |= bit
				}
			}
			if term.Comms != nil {
				ct.NeedComm |= bit
				for _, n := range term.Comms {
					if len(n) > CommLen {
						n = n[:CommLen]
					}
					comms[n] |= bit
				}
			}
			for p := 0; p < NumPreds; p++ {
				if term.Preds&(1<<p) != 0 {
					ct.NeedPred[p] |= bit
				}
			}
		}
		c.Types[t] = ct
		// Each entry carries the terms of the prefixes it extends.
		prefs := make([]string, 0, len(prefix))
		for p := range prefix {
			prefs = append(prefs, p)
		}
		sort.Strings(prefs)
		inherit := func(key string) uint64 {
			var m uint64
			for _, p := range prefs {
				if strings.HasPrefix(key, p) {
					m |= prefix[p]
				}
			}
			return m
		}
		for _, p := range prefs {
			c.Paths = append(c.Paths, PathEntry{Type: t, Key: p, Mask: inherit(p)})
		}
		ex := make([]string, 0, len(exact))
		for p := range exact {
			ex = append(ex, p)
		}
		sort.Strings(ex)
		for _, p := range ex {
			c.Paths = append(c.Paths, PathEntry{Type: t, Key: p, Exact: true, Mask: exact[p] | inherit(p)})
		}
		names := make([]string, 0, len(comms))
		for n := range comms {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			c.Comms = append(c.Comms, CommEntry{Type: t, Comm: n, Mask: comms[n]})
		}
	}
	return c, nil
}

// Facts are what the kernel knows of an event when it decides.
type Facts struct {
	Type sysevent.Type
	// RawPath is the first path argument as passed; PathFault: it could
	// not be read.
	RawPath   string
	PathFault bool
	// Comm is the process's name at its exec; CommKnown is false for
	// processes that started before the capture (the kernel has no name).
	Comm      string
	CommKnown bool
	Ret       int64
	Flags     uint64 // open flags (open family)
	// EUID is the thread's effective uid (the kernel reads its cred at
	// the event; user space's user.uid is the process table's copy).
	EUID uint32
	// FDMarked: the fd argument came from an open the prefilter dropped.
	FDMarked bool
}

// CleanAbs reports whether the kernel compares raw as the path rules see:
// absolute, short enough, and with nothing normalising could change: no
// "//", no "./" (which covers "/./" and "/../"), no trailing '/' or '.'.
// Other paths are unknown to the prefilter and pass; a path term without
// entries (Exact and Prefix empty, not nil) therefore passes exactly the
// paths that are not clean (a rule on "../" in fd.nameraw).
func CleanAbs(raw string) bool {
	if len(raw) == 0 || raw[0] != '/' || len(raw) > MaxPath {
		return false
	}
	if strings.Contains(raw, "//") || strings.Contains(raw, "./") {
		return false
	}
	if len(raw) > 1 && (raw[len(raw)-1] == '/' || raw[len(raw)-1] == '.') {
		return false
	}
	return true
}

// Preds computes the predicates of an event as the kernel does.
func (f Facts) Preds() Pred {
	var p Pred
	if f.Ret >= 0 {
		p |= PredSuccess
	} else {
		p |= PredFailure
	}
	if IsOpen(f.Type) {
		if f.Flags&oAccMode != oWronly {
			p |= PredOpenRead
		}
		if f.Flags&oAccMode != 0 {
			p |= PredOpenWrite
		}
		if f.Flags&(oCreat|oTmpfile) != 0 {
			p |= PredOpenCreate
		}
		if f.Flags&oTrunc != 0 {
			p |= PredOpenTrunc
		}
	}
	if f.EUID == 0 {
		p |= PredUIDRoot
	} else {
		p |= PredUIDOther
	}
	return p
}

// Verdict is what the kernel decides from everything but the result: for
// which results the event leaves the kernel (the capture's sys_exit then
// applies it to the result, Ships).
type Verdict uint8

const (
	ShipOK   Verdict = 1 << iota // the syscall returned ≥ 0
	ShipFail                     // the syscall returned < 0
	ShipAll  = ShipOK | ShipFail
)

// Ships reports whether an event with result ret leaves the kernel.
func (v Verdict) Ships(ret int64) bool {
	if ret >= 0 {
		return v&ShipOK != 0
	}
	return v&ShipFail != 0
}

// Pass reports whether the kernel sends the event to user space.
func (c *Compiled) Pass(f Facts) bool { return c.Verdict(f).Ships(f.Ret) }

// Verdict is the kernel's decision from everything but the result (f.Ret
// is ignored), in the order the BPF code (pf_verdict) takes it: a marked
// fd, the open flags, then the path and the process name only for terms
// still alive, then which results leave.
func (c *Compiled) Verdict(f Facts) Verdict {
	ct := c.Types[f.Type]
	if ct == nil {
		return ShipAll
	}
	if ct.DropFD && f.FDMarked {
		return 0
	}
	ok := ct.Active
	open := f
	open.Ret = 0
	preds := open.Preds() &^ (PredSuccess | PredFailure)
	for p := 2; p < NumPreds; p++ {
		if preds&(1<<p) == 0 {
			ok &^= ct.NeedPred[p]
		}
	}
	if ok&ct.NeedPath != 0 {
		m := ^uint64(0)
		if !f.PathFault && CleanAbs(f.RawPath) {
			m = c.lookupPath(f.Type, f.RawPath)
		}
		ok &= m | ^ct.NeedPath
	}
	if ok&ct.NeedComm != 0 {
		m := ^uint64(0)
		if f.CommKnown {
			m = 0
			comm := f.Comm
			if len(comm) > CommLen {
				comm = comm[:CommLen]
			}
			for _, e := range c.Comms {
				if e.Type == f.Type && e.Comm == comm {
					m = e.Mask
				}
			}
		}
		ok &= m | ^ct.NeedComm
	}
	// a term needing failure fails on success, and the other way round
	var v Verdict
	if ok&^ct.NeedPred[1] != 0 {
		v |= ShipOK
	}
	if ok&^ct.NeedPred[0] != 0 {
		v |= ShipFail
	}
	return v
}

// lookupPath is the LPM trie's longest match of path+NUL under t.
func (c *Compiled) lookupPath(t sysevent.Type, path string) uint64 {
	best, bestLen := uint64(0), -1
	for _, e := range c.Paths {
		if e.Type != t {
			continue
		}
		n := len(e.Key)
		match := false
		if e.Exact {
			match = e.Key == path
			n++ // the NUL
		} else {
			match = strings.HasPrefix(path, e.Key)
		}
		if match && n > bestLen {
			best, bestLen = e.Mask, n
		}
	}
	return best
}

// Summary describes the compiled filter in one line per filtered type,
// for logs and `harrier-sensor bench`.
func (c *Compiled) Summary() []string {
	types := make([]sysevent.Type, 0, len(c.Types))
	for t := range c.Types {
		types = append(types, t)
	}
	slices.Sort(types)
	paths := map[sysevent.Type]int{}
	for _, e := range c.Paths {
		paths[e.Type]++
	}
	comms := map[sysevent.Type]int{}
	for _, e := range c.Comms {
		comms[e.Type]++
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		ct := c.Types[t]
		out = append(out, fmt.Sprintf("%s: %d terms, %d paths, %d names, drop-marked-fd=%v",
			t, bits.OnesCount64(ct.Active), paths[t], comms[t], ct.DropFD))
	}
	return out
}
