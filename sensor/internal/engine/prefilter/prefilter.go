// Package prefilter derives the kernel prefilter (kfilter.Spec) from a
// loaded ruleset: for each event type, a necessary condition of every
// enabled syscall rule that can match it, in the terms the kernel can test
// (path sets of the first path argument, process names, result and open
// flag predicates), ORed over the rules. Whatever a condition says that the
// kernel cannot test counts as "true": the prefilter may pass too much,
// never too little.
//
// State: the process table needs the open family for fds; the kernel
// remembers the fds of the opens it drops, so opens are filtered like any
// other type as long as no rule on a later event of an fd (read, write,
// close, ...) needs the file's name: such rules add their fd.name
// conditions to the opens' terms, or make the opens pass when they have
// none the kernel can test. Output fields are not a reason to pass an
// open: an alert on an fd the table never saw reads it from /proc
// (proctable.Table.ResolveFD).
//
// User ids: user.uid tests become "effective uid is 0" or "is not 0", the
// two classes the kernel tells apart with one read of the task's
// credentials. The kernel reads the calling thread's effective uid at the
// event; user.uid is the process table's copy, which follows exec and the
// setuid family. They differ only when one thread changes its own
// credentials with a raw syscall (glibc and Go change every thread's) or
// when the table could not read the process from /proc: there the kernel
// decides by the thread's real uid. user.name is not derived (see uid).
//
// Suffixes: endswith, glob patterns that start with a wildcard
// ('*.pem') and fd.filename are "true". A sound kernel test exists (per
// type, the set of distinct suffix lengths; for each, a hash lookup of
// the path's last bytes, the path being clean as for prefixes), but it
// costs a variable-offset copy and one lookup per length on every
// filtered event, and among Falco's rules the only file suffix test
// (fd.name endswith release_agent) is ANDed with an open for writing,
// which the predicate already narrows. Not worth the kernel's cycles
// today; the place to add it is kfilter.Term beside Prefix.
package prefilter

import (
	"slices"
	"strconv"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// term is one alternative of a necessary condition.
type term struct {
	hasPath       bool
	exact, prefix []string
	hasComm       bool
	comms         []string
	preds         kfilter.Pred
}

func (t term) isTrue() bool { return !t.hasPath && !t.hasComm && t.preds == 0 }

// dnf is an OR of terms: empty is false, a term without constraints true.
type dnf []term

var dnfTrue = dnf{{}}

func (d dnf) isTrue() bool {
	for _, t := range d {
		if t.isTrue() {
			return true
		}
	}
	return false
}

const maxTerms = kfilter.MaxTerms

func or(a, b dnf) dnf {
	if a.isTrue() || b.isTrue() {
		return dnfTrue
	}
	out := append(slices.Clone(a), b...)
	if len(out) > maxTerms {
		return widen(out)
	}
	return out
}

func and(a, b dnf) dnf {
	if a.isTrue() {
		return b
	}
	if b.isTrue() {
		return a
	}
	if len(a)*len(b) > maxTerms {
		a, b = widen(a), widen(b)
	}
	var out dnf
	for _, x := range a {
		for _, y := range b {
			if t, ok := merge(x, y); ok {
				if t.isTrue() {
					return dnfTrue
				}
				out = append(out, t)
			}
		}
	}
	return out
}

// merge is x AND y; false when they contradict.
func merge(x, y term) (term, bool) {
	t := term{preds: x.preds | y.preds}
	if t.preds&kfilter.PredSuccess != 0 && t.preds&kfilter.PredFailure != 0 ||
		t.preds&kfilter.PredUIDRoot != 0 && t.preds&kfilter.PredUIDOther != 0 {
		return term{}, false
	}
	switch {
	case x.hasPath && y.hasPath:
		// Either is necessary: keep the smaller set.
		if len(y.exact)+len(y.prefix) < len(x.exact)+len(x.prefix) {
			t.hasPath, t.exact, t.prefix = true, y.exact, y.prefix
		} else {
			t.hasPath, t.exact, t.prefix = true, x.exact, x.prefix
		}
	case x.hasPath:
		t.hasPath, t.exact, t.prefix = true, x.exact, x.prefix
	case y.hasPath:
		t.hasPath, t.exact, t.prefix = true, y.exact, y.prefix
	}
	switch {
	case x.hasComm && y.hasComm:
		t.hasComm = true
		for _, c := range x.comms {
			if slices.Contains(y.comms, c) {
				t.comms = append(t.comms, c)
			}
		}
		if len(t.comms) == 0 {
			return term{}, false
		}
	case x.hasComm:
		t.hasComm, t.comms = true, x.comms
	case y.hasComm:
		t.hasComm, t.comms = true, y.comms
	}
	return t, true
}

// widen folds d into one term implied by each of its terms.
func widen(d dnf) dnf {
	if len(d) <= 1 {
		return d
	}
	w := d[0]
	w.exact, w.prefix, w.comms = slices.Clone(w.exact), slices.Clone(w.prefix), slices.Clone(w.comms)
	for _, t := range d[1:] {
		if w.hasPath && t.hasPath {
			w.exact = append(w.exact, t.exact...)
			w.prefix = append(w.prefix, t.prefix...)
		} else {
			w.hasPath, w.exact, w.prefix = false, nil, nil
		}
		if w.hasComm && t.hasComm {
			w.comms = append(w.comms, t.comms...)
		} else {
			w.hasComm, w.comms = false, nil
		}
		w.preds &= t.preds
	}
	return dnf{w}
}

// mode says what the derivation looks at: the event itself, or (fdMode)
// only the name of the file behind its fd, as its open saw it.
type mode uint8

const (
	eventMode mode = iota
	fdMode
)

type deriver struct {
	env   filter.Env
	t     sysevent.Type
	mode  mode
	depth int
}

func (d *deriver) nec(e filter.Expr, neg bool) dnf {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > 200 {
		return dnfTrue
	}
	switch n := e.(type) {
	case *filter.And:
		out := dnfTrue
		if neg {
			out = nil
		}
		for _, x := range n.Terms {
			if neg {
				out = or(out, d.nec(x, true))
			} else {
				out = and(out, d.nec(x, false))
			}
		}
		return out
	case *filter.Or:
		var out dnf
		if neg {
			out = dnfTrue
		}
		for _, x := range n.Terms {
			if neg {
				out = and(out, d.nec(x, true))
			} else {
				out = or(out, d.nec(x, false))
			}
		}
		return out
	case *filter.Not:
		return d.nec(n.X, !neg)
	case *filter.Ident:
		body, ok := d.env.Macros[n.Name]
		if !ok || body == nil {
			return dnfTrue
		}
		return d.nec(body, neg)
	case *filter.Check:
		return d.check(n, neg)
	}
	return dnfTrue
}

// literals expands the check's values as the compiler does; ok is false
// when one cannot be known statically.
func (d *deriver) literals(c *filter.Check) ([]string, bool) {
	var out []string
	for _, v := range c.Values {
		if v.Field != nil || v.Tuple != nil {
			return nil, false
		}
		if !v.Quoted {
			if items, ok := d.env.Lists[v.Text]; ok {
				for _, it := range items {
					if len(it) >= 2 && (it[0] == '"' || it[0] == '\'') && it[len(it)-1] == it[0] {
						it = it[1 : len(it)-1]
						if strings.ContainsRune(it, '\\') {
							return nil, false
						}
					}
					out = append(out, it)
				}
				continue
			}
		}
		out = append(out, v.Text)
	}
	return out, true
}

func (d *deriver) check(c *filter.Check, neg bool) dnf {
	f := c.Field
	if f == nil || f.Func != "" || f.HasArg || c.Modifier != "" {
		return dnfTrue
	}
	op := c.Op
	if op == "==" {
		op = "="
	}
	if f.Name == "evt.type" {
		vals, ok := d.literals(c)
		if !ok {
			return dnfTrue
		}
		in := false
		for _, v := range vals {
			if t, ok := sysevent.TypeByName(v); ok && t == d.t {
				in = true
			}
		}
		var holds bool
		switch op {
		case "=", "in", "intersects":
			holds = in
		case "!=":
			holds = !in
		default:
			return dnfTrue
		}
		if neg {
			holds = !holds
		}
		if holds {
			return dnfTrue
		}
		return nil
	}
	if d.mode == fdMode {
		if neg {
			return dnfTrue
		}
		switch f.Name {
		case "fd.type", "fd.typechar":
			// An fd of another type than a file never came from an open.
			vals, ok := d.literals(c)
			if !ok || (op != "=" && op != "in") {
				return dnfTrue
			}
			for _, v := range vals {
				if v == "file" || v == "directory" || v == "f" || v == "d" {
					return dnfTrue
				}
			}
			return nil
		case "fd.name", "fd.nameraw":
			if op == "contains" {
				return d.unclean(c)
			}
			return d.paths(c, op, false)
		case "fd.directory":
			return d.paths(c, op, true)
		}
		return dnfTrue
	}
	if f.Name == "user.uid" {
		return d.uid(c, op, neg)
	}
	if p, ok := d.pred(c, op, neg); ok {
		return dnf{{preds: p}}
	}
	if neg {
		return dnfTrue
	}
	if isPathField(d.t, f.Name) {
		if op == "contains" {
			return d.unclean(c)
		}
		return d.paths(c, op, false)
	}
	if kfilter.IsOpen(d.t) && f.Name == "fd.directory" {
		return d.paths(c, op, true)
	}
	if f.Name == "proc.name" {
		switch op {
		case "=", "in", "intersects":
			vals, ok := d.literals(c)
			if !ok {
				return dnfTrue
			}
			t := term{hasComm: true}
			for _, v := range vals {
				if len(v) > kfilter.CommLen {
					v = v[:kfilter.CommLen]
				}
				t.comms = append(t.comms, v)
			}
			slices.Sort(t.comms)
			t.comms = slices.Compact(t.comms)
			return dnf{t}
		}
	}
	return dnfTrue
}

// pred recognises the result and open-flag tests.
func (d *deriver) pred(c *filter.Check, op string, neg bool) (kfilter.Pred, bool) {
	vals, ok := d.literals(c)
	if !ok || len(vals) != 1 {
		return 0, false
	}
	v := vals[0]
	flip := func(p kfilter.Pred) kfilter.Pred {
		if p == kfilter.PredSuccess {
			return kfilter.PredFailure
		}
		return kfilter.PredSuccess
	}
	var p kfilter.Pred
	switch c.Field.Name {
	case "evt.is_open_read", "evt.is_open_write", "evt.is_open_create":
		if !kfilter.IsOpen(d.t) || neg || op != "=" || v != "true" {
			return 0, false
		}
		switch c.Field.Name {
		case "evt.is_open_read":
			return kfilter.PredOpenRead, true
		case "evt.is_open_write":
			return kfilter.PredOpenWrite, true
		}
		return kfilter.PredOpenCreate, true
	case "evt.arg.flags":
		// The flags' names: O_TRUNC and O_CREAT name one bit each.
		if !kfilter.IsOpen(d.t) || neg || op != "contains" {
			return 0, false
		}
		switch v {
		case "O_TRUNC":
			return kfilter.PredOpenTrunc, true
		case "O_CREAT":
			return kfilter.PredOpenCreate, true
		}
		return 0, false
	case "evt.res":
		switch {
		case op == "=" && v == "SUCCESS":
			p = kfilter.PredSuccess
		case op == "!=" && v == "SUCCESS", (op == "=" || op == "startswith") && strings.HasPrefix(v, "E"):
			p = kfilter.PredFailure
		default:
			return 0, false
		}
	case "evt.failed":
		switch {
		case op == "=" && v == "true", op == "!=" && v == "false":
			p = kfilter.PredFailure
		case op == "=" && v == "false", op == "!=" && v == "true":
			p = kfilter.PredSuccess
		default:
			return 0, false
		}
	case "evt.rawres", "fd.num":
		if c.Field.Name == "fd.num" && !kfilter.IsOpen(d.t) {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 0, 64)
		if err != nil {
			return 0, false
		}
		switch {
		case op == ">=" && n >= 0, op == ">" && n >= -1, op == "=" && n >= 0:
			p = kfilter.PredSuccess
		case op == "<" && n <= 0, op == "<=" && n < 0, op == "=" && n < 0:
			p = kfilter.PredFailure
		default:
			return 0, false
		}
	default:
		return 0, false
	}
	if neg {
		p = flip(p)
	}
	return p, true
}

// maxUID is the largest effective uid (kuid_t is 32 bits).
const maxUID = 1<<32 - 1

// uid turns a user.uid test (or its negation) into the uid classes the
// kernel tells apart, root (0) and the others: the class predicate when
// only one can satisfy it, false when none can, true otherwise.
// user.name is not derived: the name comes from the passwd file of the
// process's container, and nothing makes "root" uid 0 there (or uid 0
// only "root").
func (d *deriver) uid(c *filter.Check, op string, neg bool) dnf {
	vals, ok := d.literals(c)
	if !ok || len(vals) == 0 {
		return dnfTrue
	}
	nums := make([]uint64, 0, len(vals))
	for _, v := range vals {
		n, err := parseUint(v)
		if err != nil {
			return dnfTrue
		}
		nums = append(nums, n)
	}
	holds := func(u uint64) (bool, bool) {
		var r bool
		switch op {
		case "=", "in":
			r = slices.Contains(nums, u)
		case "!=":
			if len(nums) != 1 {
				return false, false
			}
			r = u != nums[0]
		case "<", "<=", ">", ">=":
			if len(nums) != 1 {
				return false, false
			}
			n := nums[0]
			r = op == "<" && u < n || op == "<=" && u <= n || op == ">" && u > n || op == ">=" && u >= n
		default:
			return false, false
		}
		return r != neg, true
	}
	root, ok := holds(0)
	if !ok {
		return dnfTrue
	}
	// Over 1..maxUID the test only changes at the literals: the bounds
	// and each literal's neighbours are enough witnesses.
	other := false
	cands := []uint64{1, maxUID}
	for _, n := range nums {
		cands = append(cands, n-1, n, n+1)
	}
	for _, u := range cands {
		if u < 1 || u > maxUID {
			continue
		}
		if h, _ := holds(u); h {
			other = true
			break
		}
	}
	switch {
	case root && other:
		return dnfTrue
	case root:
		return dnf{{preds: kfilter.PredUIDRoot}}
	case other:
		return dnf{{preds: kfilter.PredUIDOther}}
	}
	return nil
}

// parseUint reads a number as the filter compiler does for an unsigned
// field: decimal or 0x hexadecimal, an optional '+'.
func parseUint(s string) (uint64, error) {
	t := strings.TrimPrefix(s, "+")
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		return strconv.ParseUint(t[2:], 16, 64)
	}
	return strconv.ParseUint(t, 10, 64)
}

// paths turns a path test into a path set; dir: the field is the file's
// directory (fd.directory), which constrains the path's prefix.
func (d *deriver) paths(c *filter.Check, op string, dir bool) dnf {
	if _, ok := kfilter.PathArg[d.t]; !ok && d.mode != fdMode {
		return dnfTrue
	}
	vals, ok := d.literals(c)
	if !ok || len(vals) == 0 {
		return dnfTrue
	}
	t := term{hasPath: true}
	for _, v := range vals {
		switch op {
		case "=", "in", "intersects":
			if dir {
				if !strings.HasSuffix(v, "/") {
					v += "/"
				}
				t.prefix = append(t.prefix, v)
			} else {
				t.exact = append(t.exact, v)
			}
		case "startswith", "pmatch", "glob":
			if i := strings.IndexAny(v, "*?[\\"); i >= 0 && op != "startswith" {
				v = v[:i]
			}
			if v == "" {
				return dnfTrue
			}
			t.prefix = append(t.prefix, v)
		default:
			return dnfTrue
		}
	}
	for _, p := range append(slices.Clone(t.exact), t.prefix...) {
		if len(p) > kfilter.MaxPath || strings.IndexByte(p, 0) >= 0 {
			return dnfTrue
		}
	}
	return dnf{t}
}

// unclean turns "the path contains a piece that only a path needing
// normalisation has" ("../", "./", "//") into a path term without
// entries: the kernel passes exactly the paths it cannot compare.
func (d *deriver) unclean(c *filter.Check) dnf {
	if _, ok := kfilter.PathArg[d.t]; !ok && d.mode != fdMode {
		return dnfTrue
	}
	vals, ok := d.literals(c)
	if !ok || len(vals) == 0 {
		return dnfTrue
	}
	for _, v := range vals {
		if !strings.Contains(v, "./") && !strings.Contains(v, "//") {
			return dnfTrue
		}
	}
	return dnf{{hasPath: true}}
}

// firstPathArg names, per type, the evt.arg that is the first path.
var firstPathArg = map[sysevent.Type]string{
	sysevent.SysOpen: "name", sysevent.SysOpenat: "name", sysevent.SysOpenat2: "name", sysevent.SysCreat: "name",
	sysevent.SysUnlink: "path", sysevent.SysUnlinkat: "name", sysevent.SysRmdir: "path", sysevent.SysMkdir: "path",
	sysevent.SysMkdirat: "path", sysevent.SysChmod: "filename", sysevent.SysFchmodat: "filename",
	sysevent.SysChown: "path", sysevent.SysLchown: "path", sysevent.SysFchownat: "pathname",
	sysevent.SysRename: "oldpath", sysevent.SysRenameat: "oldpath", sysevent.SysRenameat2: "oldpath",
	sysevent.SysLink: "oldpath", sysevent.SysLinkat: "oldpath",
}

func twoPath(t sysevent.Type) bool {
	switch t {
	case sysevent.SysRename, sysevent.SysRenameat, sysevent.SysRenameat2, sysevent.SysLink, sysevent.SysLinkat:
		return true
	}
	return false
}

// isPathField reports whether field is, for events of t, the first path
// argument made absolute (what the kernel compares).
func isPathField(t sysevent.Type, field string) bool {
	if _, ok := kfilter.PathArg[t]; !ok {
		return false
	}
	if kfilter.IsOpen(t) && (field == "fd.name" || field == "fd.nameraw") {
		return true
	}
	if a, ok := firstPathArg[t]; ok && field == "evt.arg."+a {
		return true
	}
	if twoPath(t) {
		return field == "fs.path.source" || field == "evt.abspath.src"
	}
	return field == "fs.path.name" || field == "evt.abspath"
}

// fdConsumer reports whether t acts on an fd that an open may have
// returned.
func fdConsumer(t sysevent.Type) bool {
	switch t {
	case sysevent.SysDup, sysevent.SysDup2, sysevent.SysDup3, sysevent.SysFcntl, sysevent.SysFchdir,
		sysevent.SysSendfile, sysevent.SysMmap, sysevent.SysLseek, sysevent.SysGetdents64:
		return true
	}
	return kfilter.FDArg0(t)
}

// usesFD reports whether a rule reads fd.* (condition or output).
func usesFD(r *rules.Rule) bool {
	// The output is not looked at: an alert of a rule that fires on an fd
	// whose open stayed in the kernel reads the fd from /proc instead
	// (proctable.Table.ResolveFD).
	e, env := r.Parsed()
	found := false
	filter.Checks(e, func(m string) filter.Expr { return env.Macros[m] }, func(x *filter.Check) bool {
		found = fieldUsesFD(x.Field)
		for _, v := range x.Values {
			found = found || fieldUsesFD(v.Field)
		}
		return !found
	})
	return found
}

func fieldUsesFD(f *filter.FieldRef) bool {
	if f == nil {
		return false
	}
	if strings.HasPrefix(f.Name, "fd.") {
		return true
	}
	for _, a := range f.Args {
		if fieldUsesFD(a.Field) {
			return true
		}
	}
	return false
}

// Derive computes the prefilter of rs's enabled syscall rules for the
// event types in interest (sources.SyscallInterest). A nil rs derives
// nothing (everything passes).
func Derive(rs *rules.Ruleset) *kfilter.Spec {
	spec := &kfilter.Spec{Types: map[sysevent.Type]kfilter.TypeFilter{}}
	if rs == nil {
		return spec
	}
	interest := sources.SyscallInterest(rs)
	byType := map[sysevent.Type]dnf{}
	passAll := map[sysevent.Type]bool{}
	openAll := false
	var openExtra dnf
	fdDropOK := map[sysevent.Type]bool{}
	for _, t := range interest {
		fdDropOK[t] = true
	}
	for _, r := range rs.Rules() {
		if !r.Enabled || r.Source != syscallfields.Source {
			continue
		}
		types := interest
		if len(r.EventTypes) > 0 {
			types = nil
			for _, n := range r.EventTypes {
				if t, ok := sysevent.TypeByName(n); ok {
					types = append(types, t)
				}
			}
		}
		e, env := r.Parsed()
		fdRule := usesFD(r)
		for _, t := range types {
			if e == nil {
				passAll[t] = true
				openAll = true
				continue
			}
			d := &deriver{env: env, t: t}
			if !passAll[t] {
				n := d.nec(e, false)
				if n.isTrue() {
					passAll[t] = true
				} else {
					byType[t] = append(byType[t], n...)
				}
			}
			if !fdConsumer(t) {
				continue
			}
			// A rule on a later event of an fd: its file's name must
			// reach user space when the rule reads fd.*.
			if !fdRule {
				fdDropOK[t] = false
				continue
			}
			fd := &deriver{env: env, t: t, mode: fdMode}
			n := fdPaths(fd.nec(e, false))
			if n.isTrue() {
				openAll = true
				fdDropOK[t] = false
				continue
			}
			openExtra = append(openExtra, n...)
		}
	}
	for _, t := range interest {
		if !t.IsSyscall() || !kfilter.Filterable(t) || passAll[t] {
			if kfilter.FDArg0(t) && fdDropOK[t] && !passAll[t] {
				spec.Types[t] = kfilter.TypeFilter{All: true, DropMarkedFD: true}
			}
			continue
		}
		if !kfilter.IsOpen(t) && slices.Contains(proctable.StateTypes(), t) {
			// State the process table needs: only the events of fds it
			// never heard of may stay.
			if kfilter.FDArg0(t) && fdDropOK[t] {
				spec.Types[t] = kfilter.TypeFilter{All: true, DropMarkedFD: true}
			}
			continue
		}
		terms := byType[t]
		if kfilter.IsOpen(t) {
			if openAll {
				continue
			}
			terms = append(slices.Clone(terms), openExtra...)
		}
		tf := kfilter.TypeFilter{Terms: toTerms(compact(terms)), DropMarkedFD: kfilter.FDArg0(t) && fdDropOK[t]}
		spec.Types[t] = tf
	}
	return spec
}

// fdPaths keeps the path constraints of an fd-mode derivation: a term
// without one is true.
func fdPaths(d dnf) dnf {
	var out dnf
	for _, t := range d {
		if !t.hasPath {
			return dnfTrue
		}
		out = append(out, term{hasPath: true, exact: t.exact, prefix: t.prefix})
	}
	return out
}

// compact merges terms that differ only by their paths, then widens what
// still exceeds MaxTerms.
func compact(d dnf) dnf {
	type key struct {
		preds   kfilter.Pred
		hasComm bool
		comms   string
	}
	idx := map[key]int{}
	var out dnf
	for _, t := range d {
		if !t.hasPath {
			out = append(out, t)
			continue
		}
		k := key{t.preds, t.hasComm, strings.Join(t.comms, "\x00")}
		if i, ok := idx[k]; ok {
			out[i].exact = append(out[i].exact, t.exact...)
			out[i].prefix = append(out[i].prefix, t.prefix...)
			continue
		}
		idx[k] = len(out)
		out = append(out, term{hasPath: true, exact: slices.Clone(t.exact), prefix: slices.Clone(t.prefix), hasComm: t.hasComm, comms: t.comms, preds: t.preds})
	}
	if len(out) > maxTerms {
		out = widen(out)
	}
	return out
}

func toTerms(d dnf) []kfilter.Term {
	out := make([]kfilter.Term, 0, len(d))
	for _, t := range d {
		kt := kfilter.Term{Preds: t.preds}
		if t.hasPath {
			kt.Exact = dedupe(t.exact)
			kt.Prefix = dedupe(t.prefix)
			if kt.Exact == nil && kt.Prefix == nil {
				kt.Exact = []string{} // constrained to nothing
			}
		}
		if t.hasComm {
			kt.Comms = dedupe(t.comms)
			if kt.Comms == nil {
				kt.Comms = []string{}
			}
		}
		out = append(out, kt)
	}
	return out
}

func dedupe(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
