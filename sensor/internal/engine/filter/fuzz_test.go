package filter

import (
	"errors"
	"testing"
)

var fuzzSeeds = []string{
	"evt.type = execve and proc.name in (bash, sh) and not proc.pname = sshd",
	"(evt.type in (open, openat, openat2) and fd.name pmatch (/etc)) or proc.aname[2] startswith sys",
	`proc.cmdline contains "curl -s" and proc.env[HOME] exists`,
	"fd.sip in (10.0.0.0/8, 192.168.0.1) or fd.sport < 1024",
	"tolower(basename(fd.name)) glob '*.sh' and len(proc.argv) > 3",
	"proc.name = val(proc.pname) or concat(proc.name, '-', proc.pname) = a-b",
	"getopt(proc.argv, 'c:')[c] icontains wget and join(',', proc.aname) contains sshd",
	"proc.cmdline startswith anyof (a, b) and proc.argv contains allof shells",
	"evt.buffer bcontains 7f454c46 and evt.failed = true",
	"not not (a or (b and not c))",
	"ka.images in (trusted) and ka.privileged intersects (true)",
	"fd.name regex '^/proc/[0-9]+/.*' and evt.latency > 5ms",
	`proc.name = "a\"b" or proc.name = 'c\'d' or proc.name = "\\"`,
	"proc.pid = 0x10 and evt.rawflags >= 4 and proc.apid in (1)",
	"evt.type != close and not evt.type in (open)",
	"fd.ips != 10.0.0.0/8 and fd.nets in (127.0.0.0/8) and ka.images != x and proc.apid != 3",
	"proc.name = oneof (a, b) or proc.cmdline icontains allof (A, b) or proc.name != allof ()",
	"join(',', (proc.name, 'x', proc.argv)) = a and concat(join(' ', (proc.pname)), b) != c",
	"proc.name = shells and fd.ip = 10.0.0.1 and fd.port in (80, 443)",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cond string) {
		e, err := Parse(cond)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error %T is not *Error", err)
			}
			if pe.Offset < 0 || pe.Offset > len(cond) || pe.Line < 1 || pe.Col < 1 {
				t.Fatalf("bad error position %+v", pe)
			}
			return
		}
		printed := e.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("printed form %q of %q does not parse: %v", printed, cond, err)
		}
		if again.String() != printed {
			t.Fatalf("print/parse unstable: %q -> %q", printed, again.String())
		}
	})
}

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	macros := map[string]Expr{}
	for name, body := range map[string]string{
		"a": "proc.name = a", "b": "evt.type = open", "c": "a or b",
		"loop": "c and loop2", "loop2": "loop",
	} {
		e, err := Parse(body)
		if err != nil {
			f.Fatal(err)
		}
		macros[name] = e
	}
	env := Env{Registry: reg, Macros: macros, Lists: map[string][]string{
		"shells": {"bash", `"sh"`}, "trusted": {"nginx"}, "opens": {"open", "openat"},
	}}
	events := []*tev{bash, ev(tev{}), ev(tev{typ: 1, argv: []string{"-c"}, anc: []string{"x"}})}
	f.Fuzz(func(t *testing.T, cond string) {
		e, err := Parse(cond)
		if err != nil {
			return
		}
		recoverPanics = false
		defer func() { recoverPanics = true }()
		flt, err := Compile(e, env)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Compile error %T is not *Error: %v", err, err)
			}
			return
		}
		var s, cached Scratch
		for _, ev := range events {
			cached.BeginEvent()
			want := flt.Match(ev)
			if want != flt.MatchScratch(ev, &s) || want != flt.MatchScratch(ev, &cached) {
				t.Fatalf("Match, MatchScratch and the cached path disagree on %q", cond)
			}
		}
		flt.EventTypes()
	})
}
