package prefilter

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

const sharedFalco = "../../../../../shared/testdata/falco"

// rulesets are every shipped and shared ruleset that loads: Falco's
// stable file, each released file (a companion after the falco_rules
// release it loads with) and Harrier's own.
func rulesets(t *testing.T) map[string]*rules.Ruleset {
	t.Helper()
	out := map[string]*rules.Ruleset{}
	load := func(name string, paths ...string) bool {
		rs, _, err := rules.LoadFiles(paths, rules.Options{Registries: sources.Registries(), Matching: rules.MatchAll})
		if err != nil {
			return false
		}
		out[name] = rs
		return true
	}
	if !load("harrier rules/syscall.yaml", "../../../../rules/syscall.yaml") {
		t.Fatal("Harrier's rules/syscall.yaml does not load")
	}
	// No shipped rule filters on the uid alone; these do, in every form
	// the derivation reads.
	uidRules, _, err := rules.Load([]rules.File{{Name: "uid.yaml", Data: []byte(uidCases)}}, rules.Options{Registries: sources.Registries()})
	if err != nil {
		t.Fatalf("uid cases: %v", err)
	}
	out["uid cases"] = uidRules
	stable := filepath.Join(sharedFalco, "rules", "falco_rules.yaml")
	if _, err := os.Stat(stable); err != nil {
		require.Missing(t, "Falco's rules are not at "+stable)
		return out
	}
	load("falco_rules.yaml", stable)
	rel, _ := filepath.Glob(filepath.Join(sharedFalco, "rules-releases", "*.yaml"))
	sort.Strings(rel)
	var bases []string
	for _, f := range rel {
		if strings.HasPrefix(filepath.Base(f), "falco_rules-") {
			bases = append(bases, f)
		}
	}
	for _, f := range rel {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "k8s_audit") || load(name, f) {
			continue
		}
		for i := len(bases) - 1; i >= 0; i-- {
			if load(name, bases[i], f) {
				break
			}
		}
	}
	return out
}

const uidCases = `
- macro: open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.num>=0)
- rule: root reads etc
  desc: d
  condition: open_read and fd.name startswith /etc/ and user.uid = 0
  output: o
  priority: WARNING
- rule: user writes x
  desc: d
  condition: evt.type=openat and user.uid != 0 and fd.name=/x
  output: o
  priority: WARNING
- rule: not root or www-data
  desc: d
  condition: evt.type=openat and not user.uid in (0, 33) and proc.name=cat
  output: o
  priority: WARNING
- rule: high uid unlinks
  desc: d
  condition: evt.type=unlink and user.uid > 999
  output: o
  priority: WARNING
- rule: root or ubuntu unlinks
  desc: d
  condition: evt.type=unlinkat and user.uid <= 0 or evt.type=unlinkat and user.uid = 1000
  output: o
  priority: WARNING
- rule: some user chmods
  desc: d
  condition: evt.type=chmod and user.uid >= 1 and not user.uid = 1000
  output: o
  priority: WARNING
- rule: root mkdir or tmp
  desc: d
  condition: evt.type=mkdir and (user.uid < 1 or fd.name startswith /tmp/)
  output: o
  priority: WARNING
- rule: hex uid
  desc: d
  condition: evt.type=rmdir and user.uid = 0x3e8
  output: o
  priority: WARNING
`

// literals collects every literal a rule's condition compares with,
// macros and lists expanded.
func literals(r *rules.Rule) []string {
	e, env := r.Parsed()
	set := map[string]bool{}
	filter.Checks(e, func(m string) filter.Expr { return env.Macros[m] }, func(x *filter.Check) bool {
		for _, v := range x.Values {
			if v.Field != nil {
				continue
			}
			if items, ok := env.Lists[v.Text]; ok && !v.Quoted {
				for _, it := range items {
					set[strings.Trim(it, `"'`)] = true
				}
				continue
			}
			set[v.Text] = true
		}
		return true
	})
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// variants are paths around a literal: equal, extended, as a directory,
// with a suffix added before it, case changed.
func pathVariants(lits []string) []string {
	set := map[string]bool{"/tmp/x": true, "/": true}
	for _, l := range lits {
		if l == "" {
			continue
		}
		base := l
		if !strings.HasPrefix(base, "/") {
			base = "/" + base
		}
		base = strings.ReplaceAll(base, "*", "x")
		for _, v := range []string{base, base + "x", base + "/x", "/x" + base, "/etc" + base, path.Dir(base),
			strings.ToUpper(base), strings.ToLower(base)} {
			if kfilter.CleanAbs(v) {
				set[v] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func commVariants(lits []string) []string {
	set := map[string]bool{"bash": true}
	for _, l := range lits {
		if l != "" && len(l) <= kfilter.CommLen && !strings.ContainsAny(l, "/ ") {
			set[l] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// uidVariants are effective uids around the literals of the rule's
// user.uid tests, and root and an ordinary user; nil when the rule tests
// no uid.
func uidVariants(r *rules.Rule) []uint32 {
	set := map[uint32]bool{0: true, 1000: true}
	tests := false
	e, env := r.Parsed()
	filter.Checks(e, func(m string) filter.Expr { return env.Macros[m] }, func(x *filter.Check) bool {
		if x.Field == nil || x.Field.Name != "user.uid" {
			return true
		}
		tests = true
		for _, v := range x.Values {
			if n, err := parseUint(v.Text); err == nil && n <= maxUID {
				for _, u := range []uint64{n - 1, n, n + 1} {
					if u <= maxUID {
						set[uint32(u)] = true
					}
				}
			}
		}
		return true
	})
	if !tests {
		return nil
	}
	out := make([]uint32, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

func event(t sysevent.Type, p, comm, parent string, flags uint64, ret int64, uid uint32) (*sysevent.Event, kfilter.Facts) {
	th := &sysevent.Thread{Pid: 4242, VPid: 4242}
	th.Creds.EUID, th.Creds.UID = uid, uid
	th.SetImage(sysevent.NewImage(comm, comm, "/usr/bin/"+comm, []string{"-x"}))
	pt := &sysevent.Thread{Pid: 4241, VPid: 4241}
	pt.SetImage(sysevent.NewImage(parent, parent, "/usr/bin/"+parent, nil))
	th.SetParent(pt, 4241)
	ev := &sysevent.Event{Type: t, PID: 4242, TID: 4242, Ret: ret, Path: p, Target: p, Flags: flags, Thread: th, FD: sysevent.AtFDCWD}
	if kfilter.IsOpen(t) {
		num := ret
		if ret < 0 {
			num = -1
		}
		dir, base := path.Split(p)
		if len(dir) > 1 {
			dir = strings.TrimSuffix(dir, "/")
		}
		ev.FDInfo = &sysevent.FD{Num: num, Type: sysevent.FDFile, Name: p, Dir: dir, Base: base, OpenFlags: uint32(flags)}
	}
	return ev, kfilter.Facts{Type: t, RawPath: p, Comm: comm, CommKnown: true, Ret: ret, Flags: flags, EUID: uid}
}

// TestPrefilterNeverDropsAMatch generates, for every rule of every
// ruleset and every event type the prefilter filters, events around the
// literals of the rule's condition, and checks that every event the rule
// matches passes the compiled prefilter (evaluated with the kernel's
// semantics, kfilter.Compiled.Pass).
func TestPrefilterNeverDropsAMatch(t *testing.T) {
	flagSets := []uint64{0, 0o1 | 0o100, 0o2, 0o1 | 0o1000}
	rets := []int64{3, -2}
	total := 0
	// Released rulesets repeat most rules: a rule (by its condition) already checked against
	// the same filter of a type is not generated for again.
	seen := map[string]bool{}
	defer func() {
		// Some rulesets' filtered rules need more than a path, a name,
		// flags and a result to match (a parent, a container...); across
		// all of them the generator must have produced matches.
		if total < 500 { // 691 when written
			t.Errorf("only %d generated events matched a rule in all rulesets: the generator tests too little", total)
		}
	}()
	for name, rs := range rulesets(t) {
		t.Run(name, func(t *testing.T) {
			spec := Derive(rs)
			pf, err := spec.Compile()
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			matched, rulesChecked := 0, 0
			for _, r := range rs.Rules() {
				if !r.Enabled || r.Source != "syscall" {
					continue
				}
				lits := literals(r)
				paths, comms, uids := pathVariants(lits), commVariants(lits), uidVariants(r)
				for _, tn := range r.EventTypes {
					ty, ok := sysevent.TypeByName(tn)
					if !ok || pf.Types[ty] == nil {
						continue
					}
					key := fmt.Sprintf("%s\x00%s\x00%+v", r.Condition, ty, spec.Types[ty])
					if seen[key] {
						continue
					}
					seen[key] = true
					rulesChecked++
					check := func(p, comm string) {
						parent := comms[len(p)%len(comms)]
						uids := uids
						if uids == nil {
							// The rule does not test the uid: root and
							// a user in turn.
							uids = []uint32{uint32(len(p)+len(comm)) % 2 * 1000}
						}
						for _, fl := range flagSets {
							for _, ret := range rets {
								for _, uid := range uids {
									ev, facts := event(ty, p, comm, parent, fl, ret, uid)
									if !r.Match(ev) {
										continue
									}
									matched++
									if !pf.Pass(facts) {
										t.Fatalf("rule %q matches %s path=%q comm=%q flags=%#o ret=%d euid=%d, but the prefilter drops it\nterms: %+v",
											r.Name, ty, p, comm, fl, ret, uid, spec.Types[ty].Terms)
									}
								}
							}
						}
					}
					for i, p := range paths {
						check(p, comms[i%len(comms)])
						check(p, "bash")
					}
					for _, c := range comms {
						for _, p := range paths[:min(len(paths), 8)] {
							check(p, c)
						}
					}
				}
			}
			t.Logf("%d (rule, filtered type) pairs checked, %d generated events matched and passed; %d types filtered", rulesChecked, matched, len(pf.Types))
			total += matched
		})
	}
}
