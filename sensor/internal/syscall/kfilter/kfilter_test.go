package kfilter

import (
	"slices"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestCleanAbs(t *testing.T) {
	for _, c := range []struct {
		p    string
		want bool
	}{
		{"/", true}, {"/etc/passwd", true}, {"/etc/ld.so.cache", true}, {"/a/.hidden", true},
		{"etc/passwd", false}, {"", false}, {"//etc", false}, {"/etc/", false}, {"/etc/.", false},
		{"/etc/..", false}, {"/tmp/../etc/shadow", false}, {"/a/./b", false}, {"/a/foo../b", false},
		{"/" + string(make([]byte, MaxPath)), false},
	} {
		if got := CleanAbs(c.p); got != c.want {
			t.Errorf("CleanAbs(%q) = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestCompiledPass(t *testing.T) {
	spec := &Spec{Types: map[sysevent.Type]TypeFilter{
		sysevent.SysOpenat: {Terms: []Term{
			{Exact: []string{"/etc/shadow"}, Preds: PredOpenRead},
			{Prefix: []string{"/root/.ssh/"}, Comms: []string{"sshd"}},
			{Prefix: []string{"/etc/"}, Preds: PredOpenWrite},
			{Exact: []string{}, Preds: PredFailure}, // unclean paths that failed
			{Prefix: []string{"/boot/"}, Preds: PredUIDOther},
		}},
		sysevent.SysUnlink: {Terms: []Term{{Preds: PredUIDRoot}}},
		sysevent.SysClose:  {All: true, DropMarkedFD: true},
	}}
	pf, err := spec.Compile()
	if err != nil {
		t.Fatal(err)
	}
	const rd, wr = 0, 1
	for _, c := range []struct {
		name string
		f    Facts
		want bool
	}{
		{"exact read", Facts{Type: sysevent.SysOpenat, RawPath: "/etc/shadow", Flags: rd}, true},
		{"exact longer", Facts{Type: sysevent.SysOpenat, RawPath: "/etc/shadowx", Flags: rd}, false},
		{"prefix write inherits", Facts{Type: sysevent.SysOpenat, RawPath: "/etc/shadow", Flags: wr}, true},
		{"prefix write", Facts{Type: sysevent.SysOpenat, RawPath: "/etc/x", Flags: wr}, true},
		{"other path", Facts{Type: sysevent.SysOpenat, RawPath: "/dev/null", Flags: rd}, false},
		{"name wanted", Facts{Type: sysevent.SysOpenat, RawPath: "/root/.ssh/id", Comm: "sshd", CommKnown: true}, true},
		{"other name", Facts{Type: sysevent.SysOpenat, RawPath: "/root/.ssh/id", Comm: "cat", CommKnown: true}, false},
		{"name unknown", Facts{Type: sysevent.SysOpenat, RawPath: "/root/.ssh/id", Comm: "cat"}, true},
		{"unclean passes the path test", Facts{Type: sysevent.SysOpenat, RawPath: "/tmp/../etc/x", Ret: -2}, true},
		{"unclean: every path test holds", Facts{Type: sysevent.SysOpenat, RawPath: "/tmp/../dev/null", Comm: "cat", CommKnown: true, Flags: 0o1}, true},
		{"relative", Facts{Type: sysevent.SysOpenat, RawPath: "shadow", Ret: -2}, true},
		{"path fault", Facts{Type: sysevent.SysOpenat, PathFault: true, Ret: -14}, true},
		{"not root", Facts{Type: sysevent.SysOpenat, RawPath: "/boot/vmlinuz", Flags: rd, EUID: 1000}, true},
		{"root", Facts{Type: sysevent.SysOpenat, RawPath: "/boot/vmlinuz", Flags: rd}, false},
		{"unlink as root", Facts{Type: sysevent.SysUnlink, RawPath: "/tmp/x"}, true},
		{"unlink as a user", Facts{Type: sysevent.SysUnlink, RawPath: "/tmp/x", EUID: 1}, false},
		{"close unmarked", Facts{Type: sysevent.SysClose}, true},
		{"close marked", Facts{Type: sysevent.SysClose, FDMarked: true}, false},
		{"unfiltered type", Facts{Type: sysevent.SysConnect}, true},
	} {
		if got := pf.Pass(c.f); got != c.want {
			t.Errorf("%s: Pass = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	terms := make([]Term, MaxTerms+1)
	for i := range terms {
		terms[i] = Term{Preds: PredSuccess}
	}
	for name, s := range map[string]*Spec{
		"too many terms": {Types: map[sysevent.Type]TypeFilter{sysevent.SysOpenat: {Terms: terms}}},
		"no path arg":    {Types: map[sysevent.Type]TypeFilter{sysevent.SysPtrace: {Terms: []Term{{Exact: []string{"/x"}}}}}},
		"empty prefix":   {Types: map[sysevent.Type]TypeFilter{sysevent.SysOpenat: {Terms: []Term{{Prefix: []string{""}}}}}},
	} {
		if _, err := s.Compile(); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

// termsPass is the Spec's meaning, term by term, without the compiled
// masks and tries: the reference Compiled.Pass and Verdict must agree
// with.
func termsPass(s *Spec, f Facts) bool {
	tf, ok := s.Types[f.Type]
	if !ok || (tf.All && !tf.DropMarkedFD) {
		return true
	}
	if tf.DropMarkedFD && f.FDMarked {
		return false
	}
	if tf.All {
		return true
	}
	for _, term := range tf.Terms {
		if term.HasPath() && !f.PathFault && CleanAbs(f.RawPath) {
			hit := slices.Contains(term.Exact, f.RawPath)
			for _, p := range term.Prefix {
				hit = hit || strings.HasPrefix(f.RawPath, p)
			}
			if !hit {
				continue
			}
		}
		if term.Comms != nil && f.CommKnown {
			comm := f.Comm
			if len(comm) > CommLen {
				comm = comm[:CommLen]
			}
			hit := false
			for _, n := range term.Comms {
				if len(n) > CommLen {
					n = n[:CommLen]
				}
				hit = hit || n == comm
			}
			if !hit {
				continue
			}
		}
		if f.Preds()&term.Preds != term.Preds {
			continue
		}
		return true
	}
	return false
}

// TestVerdictMatchesTerms checks the compiled decision, taken as the kernel
// takes it (a verdict per result, then the result applied), against the terms' meaning
// over every combination of paths around the literals, names, open flags,
// results and fd marks.
func TestVerdictMatchesTerms(t *testing.T) {
	spec := &Spec{Types: map[sysevent.Type]TypeFilter{
		sysevent.SysOpenat: {Terms: []Term{
			{Exact: []string{"/etc/shadow"}, Preds: PredOpenRead | PredSuccess},
			{Prefix: []string{"/root/.ssh/"}, Comms: []string{"sshd", "a-very-long-process-name"}},
			{Prefix: []string{"/etc/"}, Preds: PredOpenWrite},
			{Exact: []string{}, Preds: PredFailure},
			{Preds: PredOpenCreate | PredOpenTrunc | PredSuccess},
			{Comms: []string{"cat"}, Preds: PredFailure},
			{Prefix: []string{"/dev/"}, Preds: PredUIDOther | PredSuccess},
		}},
		sysevent.SysClose: {All: true, DropMarkedFD: true},
		sysevent.SysRead:  {Terms: []Term{{Comms: []string{"dd"}}}, DropMarkedFD: true},
	}}
	pf, err := spec.Compile()
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/etc/shadow", "/etc/shadowx", "/etc/x", "/etc", "/root/.ssh/id", "/root/.ssh", "/dev/null",
		"/tmp/../etc/shadow", "//etc/shadow", "relative", ""}
	comms := []string{"sshd", "cat", "dd", "a-very-long-process-name-cut", "other"}
	flags := []uint64{0, 0o1, 0o2, 0o100 | 0o1, 0o1000 | 0o100 | 0o2, 0o20000000 | 0o2}
	n := 0
	for _, typ := range []sysevent.Type{sysevent.SysOpenat, sysevent.SysClose, sysevent.SysRead, sysevent.SysConnect} {
		for _, p := range paths {
			for _, comm := range comms {
				for _, fl := range flags {
					for _, known := range []bool{true, false} {
						for _, marked := range []bool{false, true} {
							euid := uint32(0)
							if marked == known { // both uids, without doubling the cases
								euid = 1000
							}
							f := Facts{Type: typ, RawPath: p, PathFault: p == "", Comm: comm, CommKnown: known, Flags: fl, FDMarked: marked, EUID: euid}
							v := pf.Verdict(f)
							for _, ret := range []int64{3, 0, -2} {
								f.Ret = ret
								want := termsPass(spec, f)
								if got := pf.Pass(f); got != want {
									t.Fatalf("%+v: Pass = %v, the terms say %v", f, got, want)
								}
								if got := v.Ships(ret); got != want {
									t.Fatalf("%+v: Verdict %b ships %v, the terms say %v", f, v, got, want)
								}
								n++
							}
						}
					}
				}
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d cases", n)
	}
}
