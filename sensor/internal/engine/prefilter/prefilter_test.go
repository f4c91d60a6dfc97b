package prefilter

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func load(t *testing.T, yaml string) *rules.Ruleset {
	t.Helper()
	rs, _, err := rules.Load([]rules.File{{Name: "t.yaml", Data: []byte(yaml)}}, rules.Options{Registries: sources.Registries()})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func rule(cond string) string {
	return fmt.Sprintf(`
- list: keys
  items: [/etc/shadow, "/etc/gshadow"]
- macro: open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.num>=0)
- rule: r
  desc: d
  condition: %s
  output: o
  priority: WARNING
`, cond)
}

func TestDerive(t *testing.T) {
	openat := sysevent.SysOpenat
	for _, c := range []struct {
		name  string
		cond  string
		want  *kfilter.TypeFilter // openat's filter; nil: openat passes everything
		close bool                // close keeps only marked fds
	}{
		{"exact list", "open_read and fd.name in (keys)",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Exact: []string{"/etc/gshadow", "/etc/shadow"}, Preds: kfilter.PredSuccess | kfilter.PredOpenRead}}}, true},
		{"prefix and name", "evt.type=openat and fd.name startswith /root/ and proc.name in (cat, less)",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Prefix: []string{"/root/"}, Comms: []string{"cat", "less"}}}}, true},
		{"directory", "evt.type=openat and fd.directory = /etc",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Prefix: []string{"/etc/"}}}}, true},
		{"or of two", "evt.type=openat and (fd.name=/a or proc.name=x)",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Exact: []string{"/a"}}, {Comms: []string{"x"}}}}, true},
		{"contains is true", "evt.type=openat and fd.name contains shadow", nil, true},
		{"negation is true", "evt.type=openat and not fd.name startswith /etc", nil, true},
		{"failure", "evt.type=openat and evt.res != SUCCESS and fd.name=/x",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Exact: []string{"/x"}, Preds: kfilter.PredFailure}}}, true},
		{"traversal", "evt.type=openat and fd.nameraw contains '../'",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Exact: []string{}}}}, true},
		{"other type only", "evt.type=connect and fd.sport=22",
			&kfilter.TypeFilter{Terms: []kfilter.Term{}}, true},
		{"read rule on a file name", "evt.type=read and fd.name startswith /secret/",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Prefix: []string{"/secret/"}}}}, true},
		{"uid root", "evt.type=openat and user.uid = 0 and fd.name=/a",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Exact: []string{"/a"}, Preds: kfilter.PredUIDRoot}}}, true},
		{"uid not root", "evt.type=openat and not user.uid in (0) and fd.name=/a",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Exact: []string{"/a"}, Preds: kfilter.PredUIDOther}}}, true},
		{"uid above", "evt.type=openat and user.uid > 999",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Preds: kfilter.PredUIDOther}}}, true},
		{"uid below one", "evt.type=openat and user.uid < 1",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Preds: kfilter.PredUIDRoot}}}, true},
		{"uid contradiction", "evt.type=openat and user.uid = 0 and user.uid != 0",
			&kfilter.TypeFilter{Terms: []kfilter.Term{}}, true},
		{"uid either", "evt.type=openat and user.uid != 1000", nil, true},
		{"uid or name", "evt.type=openat and (user.uid = 0 or proc.name = x)",
			&kfilter.TypeFilter{Terms: []kfilter.Term{{Preds: kfilter.PredUIDRoot}, {Comms: []string{"x"}}}}, true},
		{"user name is not a uid", "evt.type=openat and user.name = root", nil, true},
		{"close rule on any fd", "evt.type=close and fd.typechar=f", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := Derive(load(t, rule(c.cond)))
			got, ok := spec.Types[openat]
			switch {
			case c.want == nil && ok:
				t.Fatalf("openat filtered: %+v", got)
			case c.want != nil && !ok:
				t.Fatalf("openat passes everything, want %+v", *c.want)
			case c.want != nil:
				if got.Terms == nil {
					got.Terms = []kfilter.Term{}
				}
				if !reflect.DeepEqual(got, *c.want) {
					t.Fatalf("openat: %+v\nwant %+v", got, *c.want)
				}
			}
			cl, ok := spec.Types[sysevent.SysClose]
			if c.close != (ok && cl.All && cl.DropMarkedFD) {
				t.Fatalf("close: %+v (present %v), want drop-marked=%v", cl, ok, c.close)
			}
			if _, err := spec.Compile(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
