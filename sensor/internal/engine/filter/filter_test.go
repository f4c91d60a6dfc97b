package filter

import (
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

var reg = testRegistry()

func compile(t *testing.T, cond string, env Env) *Filter {
	t.Helper()
	e, err := Parse(cond)
	if err != nil {
		t.Fatalf("Parse(%q): %v", cond, err)
	}
	if env.Registry == nil {
		env.Registry = reg
	}
	f, err := Compile(e, env)
	if err != nil {
		t.Fatalf("Compile(%q): %v", cond, err)
	}
	return f
}

var bash = ev(tev{
	typ: 3, name: "bash", pname: "sshd", cmdline: "bash -c ls", argv: []string{"-c", "ls"},
	anc: []string{"sshd", "systemd"}, apids: []int64{100, 1}, pid: 4242,
	fdname: "/etc/shadow", hasFD: true, sip: netip.MustParseAddr("10.1.2.3"), sport: 443,
	cip: netip.MustParseAddr("127.0.0.1"),
	buf: []byte("\x7fELF\x02\x01"), latency: 1500, flags: 0x241,
	env: map[string]string{"HOME": "/root"}, args: map[string]string{"flags": "O_RDONLY|O_CLOEXEC"},
	images: []string{"nginx", "busybox"}, priv: []bool{false, true}, hasImage: true,
})

func TestMatch(t *testing.T) {
	env := Env{
		Lists: map[string][]string{
			"shells":    {"bash", "zsh", `"sh"`},
			"sensitive": {"/etc/shadow", "/etc/sudoers"},
			"trusted":   {"nginx", "busybox", "redis"},
			"opens":     {"open", "openat", "openat2"},
			"empty":     {},
			"one_shell": {"bash"},
		},
	}
	tests := []struct {
		cond string
		want bool
	}{
		// equality and precedence
		{"proc.name = bash", true},
		{"proc.name == bash", true},
		{"proc.name=bash", true},
		{"proc.name = 'bash'", true},
		{`proc.name = "zsh"`, false},
		{"proc.name != bash", false},
		{"proc.name != zsh", true},
		{"proc.name = zsh or proc.name = bash and proc.pname = sshd", true},
		{"(proc.name = zsh or proc.name = bash) and proc.pname = init", false},
		{"proc.name = zsh or proc.name = bash and proc.pname = init", false},
		{"not proc.name = zsh and proc.name = bash", true},
		{"not (proc.name = zsh or proc.name = bash)", false},
		{"not not proc.name = bash", true},
		{"not(proc.name = bash)", false},
		{"proc.name=bash and(proc.pname=sshd)", true},
		// string operators
		{"proc.cmdline contains '-c ls'", true},
		{"proc.cmdline contains zsh", false},
		{"proc.cmdline icontains 'BASH -C'", true},
		{"proc.cmdline startswith bash", true},
		{"proc.cmdline startswith ls", false},
		{"proc.cmdline endswith ls", true},
		{"fd.name glob '/etc/*'", true},
		{"fd.name glob '/etc/sh?dow'", true},
		{"fd.name glob '/etc/[a-s]hadow'", true},
		{"fd.name glob '/etc/[!s]hadow'", false},
		{"fd.name glob '*/shadow'", true},
		{"fd.name glob '/ETC/*'", false},
		{"fd.name iglob '/ETC/*'", true},
		{"fd.name regex '/etc/s.*'", true},
		{"fd.name regex 'shadow'", false}, // whole-string match
		{"fd.name regex '.*shad[o]w'", true},
		{"proc.name < c", true},
		{"proc.name > c", false},
		// lists, list names, quoted list items
		{"proc.name in (zsh, bash)", true},
		{"proc.name in (zsh, 'fish')", false},
		{"proc.name in (shells)", true},
		{"proc.name in shells", true},
		{"proc.name in (fish, shells)", true},
		{"proc.name in (empty)", false},
		{"proc.name in ()", false},
		{"proc.pname in (shells)", false},
		// Falco substitutes a list name wherever it is a whole word, so a
		// one-item list stands for its item outside in (...) too
		// (rule_loader_compiler.cpp resolve_list).
		{"proc.name = one_shell", true},
		{"proc.name != one_shell", false},
		{"proc.name = 'one_shell'", false},
		{"fd.name in (sensitive)", true},
		{"fd.name pmatch (/etc)", true},
		{"fd.name pmatch (/etc/)", true},
		{"fd.name pmatch (/et)", false},
		{"fd.name pmatch (/usr, /etc/shadow)", true},
		{"fd.name pmatch (/)", true},
		{"proc.name intersects (bash, zsh)", true},
		// modifiers
		{"proc.cmdline startswith anyof (zsh, bash)", true},
		{"proc.cmdline startswith anyof (zsh, fish)", false},
		{"proc.cmdline contains allof (bash, ls)", true},
		{"proc.cmdline contains allof (bash, zsh)", false},
		{"proc.cmdline contains oneof (bash, zsh)", true},
		{"proc.cmdline contains oneof (bash, ls)", false},
		{"proc.cmdline startswith anyof shells", true},
		{"proc.argv startswith anyof (-c, -x)", true},
		{"proc.argv = allof (-c, ls)", true},
		// NA semantics: a missing value makes the comparison false
		{"proc.env[HOME] = /root", true},
		{"proc.env[PATH] = /root", false},
		{"proc.env[PATH] != /root", false},
		{"not proc.env[PATH] = /root", true},
		{"proc.env[PATH] exists", false},
		{"proc.env[HOME] exists", true},
		{"proc.aname[5] = x", false},
		// field arguments
		{"evt.arg.flags contains O_RDONLY", true},
		{"evt.arg[flags] contains O_CLOEXEC", true},
		{"evt.arg.mode exists", false},
		{"proc.aname[1] = sshd", true},
		{"proc.aname[2] = systemd", true},
		{"proc.aname[0] = bash", true},
		// ancestor fields: any ancestor
		{"proc.aname = systemd", true},
		{"proc.aname = init", false},
		{"proc.aname in (systemd, init)", true},
		{"proc.aname startswith sys", true},
		{"proc.apid = 1", true},
		{"proc.apid in (1, 7)", true},
		{"proc.apid > 200", false},
		// list fields: in is subset, intersects is overlap
		{"ka.images in (trusted)", true},
		{"ka.images in (nginx)", false},
		{"ka.images intersects (nginx)", true},
		{"ka.images intersects (redis)", false},
		{"ka.images = busybox", true},
		{"ka.images != busybox", false}, // != on a list: no element equals
		{"ka.images != redis", true},
		{"proc.aname != sshd", false},
		{"proc.aname != init", true},
		{"proc.apid != 1", false},
		{"proc.apid != 5", true},
		{"ka.privileged != true", false},
		{"fd.ips = 10.1.2.3", true},
		{"fd.ips = 127.0.0.1", true},
		{"fd.ips = 10.9.9.9", false},
		{"fd.ips != 10.9.9.9", true},
		{"fd.ips != 127.0.0.1", false},
		{"fd.ips in (10.0.0.0/8, 127.0.0.1)", true},
		{"fd.ips intersects (10.0.0.0/8)", true},
		{"fd.ips in (10.0.0.0/8)", false},
		{"fd.nets = 10.0.0.0/8", true},
		{"fd.nets != '127.0.0.0/8'", false},
		{"fd.nets != '192.168.0.0/16'", true},
		{"ka.images exists", true},
		{"ka.privileged intersects (true)", true},
		{"ka.privileged in (false)", false},
		{"ka.privileged = true", true},
		// numbers, ports, booleans, time
		{"proc.pid = 4242", true},
		{"proc.pid = 0x1092", true},
		{"proc.pid > 4000 and proc.pid <= 4242", true},
		{"proc.pid < 4242", false},
		{"proc.pid >= -1", true},
		{"proc.pid in (1, 2, 4242)", true},
		{"proc.pid != 4242", false},
		{"evt.rawflags = 0x241", true},
		{"evt.rawflags > 1000", false},
		{"fd.sport = 443", true},
		{"fd.sport in (80, 443)", true},
		{"fd.sport < 1024", true},
		{"evt.failed = false", true},
		{"evt.failed = true", false},
		{"evt.failed != true", true},
		{"evt.failed in (true, false)", true},
		{"evt.latency > 1us", true},
		{"evt.latency < 1000", false},
		// addresses and networks
		{"fd.sip = 10.1.2.3", true},
		{"fd.sip = 10.1.2.4", false},
		{"fd.sip = 10.0.0.0/8", true},
		{"fd.sip != 10.0.0.0/8", false},
		{"fd.sip in (192.168.0.0/16, 10.1.2.3)", true},
		{"fd.sip in (192.168.0.0/16, 172.16.0.0/12)", false},
		{"fd.net = '10.0.0.0/8'", true},
		{"fd.net = 127.0.0.0/8", false},
		{"fd.sip = ::ffff:10.1.2.3", true},
		// bytes
		{"evt.buffer bstartswith 7f454c46", true},
		{"evt.buffer bcontains 4c46", true},
		{"evt.buffer bcontains 4c47", false},
		{"proc.name bstartswith 6261", true},
		{"evt.buffer contains ELF", true},
		// transformers
		{"toupper(proc.name) = BASH", true},
		{"tolower(toupper(proc.name)) = bash", true},
		{"basename(fd.name) = shadow", true},
		{"len(proc.name) = 4", true},
		{"len(proc.argv) = 2", true},
		{"len(proc.name) > 10", false},
		{"b64(proc.env[B64]) = x", false},
		{"concat(proc.name, '@', proc.pname) = bash@sshd", true},
		{"join(',', proc.argv) = '-c,ls'", true},
		{"join(' ', proc.aname) contains 'sshd systemd'", true},
		// join over a parenthesised list of fields and values (libsinsp
		// transformers: join(sep, (a, b, ...))); list fields add all items.
		{"join(',', (proc.name, proc.pname)) = 'bash,sshd'", true},
		{"join('-', (proc.name, x, proc.argv)) = 'bash-x--c-ls'", true},
		{"join(',', (proc.name, proc.env[NOPE])) = bash", true},
		{"getopt(proc.argv, 'c:x')[c] = ls", true},
		{"getopt(proc.argv, 'c:x')[x] exists", false},
		{"getopt(proc.argv, 'c:x') intersects (c)", true},
		{"tolower(proc.aname) = systemd", true},
		{"basename(proc.aname) = sshd", true},
		// field to field
		{"proc.name = val(proc.aname[0])", true},
		{"proc.name = val(proc.pname)", false},
		{"proc.name != val(proc.pname)", true},
		{"proc.cmdline startswith val(proc.name)", true},
		{"proc.name = tolower(proc.name)", true},
		{"proc.aname = val(proc.pname)", true},
		{"proc.pid > val(proc.pid)", false},
		{"proc.pid >= val(proc.pid)", true},
		{"len(proc.name) < val(proc.pid)", true},
		{"proc.env[NOPE] = val(proc.name)", false},
		// event types
		{"evt.type = execve", true},
		{"evt.type in (opens)", false},
		{"evt.type != open", true},
		{"not evt.type in (execve, connect)", false},
		{"evt.type startswith exec", true},
	}
	// cached shares extracted values across all the filters, as an engine
	// does for the rules it runs on one event.
	var cached Scratch
	cached.BeginEvent()
	for _, tt := range tests {
		f := compile(t, tt.cond, env)
		if got := f.Match(bash); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.cond, got, tt.want)
		}
		var s Scratch
		if got := f.MatchScratch(bash, &s); got != tt.want {
			t.Errorf("%s (scratch): got %v, want %v", tt.cond, got, tt.want)
		}
		if got := f.MatchScratch(bash, &cached); got != tt.want {
			t.Errorf("%s (cached): got %v, want %v", tt.cond, got, tt.want)
		}
	}
}

// TestEventCache: with BeginEvent per event, values never leak from one
// event to the next, and each field is extracted once per event.
func TestEventCache(t *testing.T) {
	calls := 0
	r := fields.NewRegistry("t", "", []string{"x"})
	r.MustAdd(fields.Def{Name: "t.name", Kind: fields.KindString, Bind: func(string) (fields.Extract, error) {
		return func(ev fields.Event, out *fields.Value) bool {
			calls++
			out.Kind, out.Str = fields.KindString, ev.(*tev).name
			return ev.(*tev).name != ""
		}, nil
	}})
	var fs []*Filter
	for _, cond := range []string{"t.name = a", "t.name in (a, b)", "t.name startswith b", "not t.name exists"} {
		f, err := Compile(mustParse(t, cond), Env{Registry: r})
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	want := map[string][]bool{"a": {true, true, false, false}, "b": {false, true, true, false}, "": {false, false, false, true}}
	var s Scratch
	for round := 0; round < 3; round++ {
		for _, name := range []string{"a", "b", "", "b", "a"} {
			s.BeginEvent()
			calls = 0
			e := ev(tev{name: name})
			for i, f := range fs {
				if got := f.MatchScratch(e, &s); got != want[name][i] {
					t.Errorf("event %q filter %d: got %v", name, i, got)
				}
			}
			if calls != 1 {
				t.Errorf("event %q: field extracted %d times", name, calls)
			}
		}
	}
}

func TestB64(t *testing.T) {
	e := ev(tev{env: map[string]string{"B64": "Y3VybCBldmls", "RAW": "Y3VybA", "BAD": "!!"}})
	for cond, want := range map[string]bool{
		"b64(proc.env[B64]) = 'curl evil'": true,
		"b64(proc.env[RAW]) = curl":        true,
		"b64(proc.env[BAD]) exists":        false,
		"not b64(proc.env[BAD]) = x":       true,
	} {
		if got := compile(t, cond, Env{}).Match(e); got != want {
			t.Errorf("%s: got %v", cond, got)
		}
	}
}

func TestGetopt(t *testing.T) {
	e := ev(tev{argv: []string{"-it", "-u", "root", "--rm", "-xvalue", "-z", "--", "-a"}})
	tests := []struct {
		cond string
		want bool
	}{
		{"join(',', getopt(proc.argv, 'itu:x:')) = 'i,t,u,root,x,value,?'", true},
		{"getopt(proc.argv, 'itu:x:')[u] = root", true},
		{"getopt(proc.argv, 'itu:x:')[x] = value", true},
		{"getopt(proc.argv, 'itu:x:')[t] = t", true},
		{"getopt(proc.argv, 'itu:x:')[a] exists", false},
		{"getopt(proc.argv, 'itu:x:z:')[z] = '--'", true}, // the next word is the value, as in getopt(3)
		{"getopt(proc.argv, 'itu:x:z:')[z] = ''", false},
	}
	for _, tt := range tests {
		if got := compile(t, tt.cond, Env{}).Match(e); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.cond, got, tt.want)
		}
	}
	// A missing option value reads as "".
	if !compile(t, "getopt(proc.argv, 'z:')[z] = ''", Env{}).Match(ev(tev{argv: []string{"-z"}})) {
		t.Error("missing option value is not empty")
	}
}

func TestMacros(t *testing.T) {
	parse := func(s string) Expr {
		e, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	env := Env{Macros: map[string]Expr{
		"spawned":    parse("evt.type = execve"),
		"shell":      parse("proc.name in (shells)"),
		"shell_exec": parse("spawned and shell"),
		"never":      parse("proc.name = nonexistent_proc"),
	}, Lists: map[string][]string{"shells": {"bash", "sh"}}}
	f := compile(t, "shell_exec and not never", env)
	if !f.Match(bash) {
		t.Error("nested macros did not match")
	}
	if ids, any := f.EventTypes(); any || !reflect.DeepEqual(ids, []uint16{3}) {
		t.Errorf("event types through macros = %v, %v", ids, any)
	}

	cyc := Env{Macros: map[string]Expr{
		"a": parse("proc.name = x or b"),
		"b": parse("c and proc.pid = 1"),
		"c": parse("a"),
	}}
	_, err := Compile(parse("proc.pid = 2 and a"), Env{Registry: reg, Macros: cyc.Macros})
	if err == nil || !strings.Contains(err.Error(), "macro cycle: a -> b -> c -> a") {
		t.Errorf("cycle error = %v", err)
	}
	_, err = Compile(parse("self"), Env{Registry: reg, Macros: map[string]Expr{"self": parse("self")}})
	if err == nil || !strings.Contains(err.Error(), "self -> self") {
		t.Errorf("self cycle error = %v", err)
	}
	_, err = Compile(parse("proc.name = x and\n  missing_macro"), Env{Registry: reg})
	var fe *Error
	var ue *UndefinedMacroError
	if !errors.As(err, &fe) || fe.Line != 2 || fe.Col != 3 || !errors.As(err, &ue) || ue.Name != "missing_macro" {
		t.Errorf("undefined macro error = %#v", err)
	}
	// An unknown field inside a macro is reported at the macro reference
	// and is still reachable with errors.As.
	_, err = Compile(parse("proc.name = x or bad"), Env{Registry: reg, Macros: map[string]Expr{"bad": parse("nope.field = 1")}})
	var uf *UnknownFieldError
	if !errors.As(err, &fe) || fe.Offset != 17 || !errors.As(err, &uf) || uf.Field != "nope.field" {
		t.Errorf("unknown field in macro = %v", err)
	}
	if !strings.Contains(err.Error(), `in macro "bad"`) {
		t.Errorf("message does not name the macro: %v", err)
	}
	// Exponential expansion is capped.
	big := map[string]Expr{"m0": parse("proc.name = x")}
	for i := 1; i < 30; i++ {
		prev := "m" + itoa(i-1)
		big["m"+itoa(i)] = parse(prev + " or " + prev)
	}
	if _, err := Compile(parse("m29"), Env{Registry: reg, Macros: big}); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("exponential macro = %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestEventTypes(t *testing.T) {
	all := []uint16{1, 2, 3, 4, 5, 7, 8, 9, 10}
	tests := []struct {
		cond string
		ids  []uint16
		any  bool
	}{
		{"evt.type = open", []uint16{1}, false},
		{"evt.type in (open, openat, openat2) and proc.name = x", []uint16{1, 2, 7}, false},
		{"evt.type = open or evt.type = connect", []uint16{1, 4}, false},
		{"evt.type = open or proc.name = x", all, true},
		{"evt.type != open", []uint16{2, 3, 4, 5, 7, 8, 9, 10}, false},
		{"not evt.type = open", []uint16{2, 3, 4, 5, 7, 8, 9, 10}, false},
		{"not (evt.type = open or evt.type = close)", []uint16{2, 3, 4, 7, 8, 9, 10}, false},
		{"not (evt.type = open and proc.name = x)", all, true},
		{"evt.type in (open, close) and not evt.type = close", []uint16{1}, false},
		{"evt.type = open and evt.type = close", nil, false},
		{"proc.name = bash", all, true},
		{"not proc.name = bash", all, true},
		{"evt.type startswith open", all, true},
	}
	for _, tt := range tests {
		ids, any := compile(t, tt.cond, Env{}).EventTypes()
		if any != tt.any || !reflect.DeepEqual(ids, tt.ids) {
			t.Errorf("%s: got %v %v, want %v %v", tt.cond, ids, any, tt.ids, tt.any)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	env := Env{Registry: reg, Lists: map[string][]string{"bad_items": {`"unterminated\q"`}, "shells": {"sh", "bash"}}}
	tests := []struct {
		cond      string
		msg       string
		line, col int
		unknown   string
	}{
		{"proc.nam = bash", "unknown field proc.nam", 1, 1, "proc.nam"},
		{"proc.name = a and\n   fd.nme = x", "unknown field fd.nme", 2, 4, "fd.nme"},
		{"tolower(nope.x) = a", "unknown field nope.x", 1, 9, "nope.x"},
		{"proc.name = val(nope.y)", "unknown field nope.y", 1, 17, "nope.y"},
		{"proc.pid = abc", `expected an integer for int64 field, not "abc"`, 1, 12, ""},
		{"proc.pid in (1, 2, x3)", `not "x3"`, 1, 20, ""},
		{"fd.sport = 70000", "out of range", 1, 12, ""},
		{"fd.sport = -1", "unsigned", 1, 12, ""},
		{"evt.failed = maybe", "expected true or false", 1, 14, ""},
		{"fd.sip = 10.0.0.300", "expected an IP address", 1, 10, ""},
		{"fd.sip = 10.0.0.0/33", "expected an IP network", 1, 10, ""},
		{"fd.name regex '('", "bad regular expression", 1, 15, ""},
		{"evt.buffer bcontains xyz", "hexadecimal", 1, 22, ""},
		{"evt.type = opne", `unknown event type "opne"`, 1, 12, ""},
		{"evt.type in (open,\n  bogus)", `unknown event type "bogus"`, 2, 3, ""},
		{"proc.pid contains 1", "operator contains is not supported", 1, 10, ""},
		{"evt.failed > 1", "operator > is not supported", 1, 12, ""},
		{"proc.name in undefined_list", `undefined list "undefined_list"`, 1, 14, ""},
		{"proc.env = x", "requires an argument", 1, 1, ""},
		{"proc.name[1] = x", "takes no argument", 1, 1, ""},
		{"proc.aname[x] = y", "non-negative index", 1, 1, ""},
		{"evt.arg.bogus = y", `no argument named "bogus"`, 1, 1, ""},
		{"tolower(proc.pid) = 1", "needs a string field", 1, 1, ""},
		{"proc.name = val(proc.pid)", "cannot compare", 1, 13, ""},
		{"proc.name = val(proc.argv)", "is a list", 1, 13, ""},
		{"val(proc.name) = x", "only allowed on the right-hand side", 1, 1, ""},
		{"join(',', proc.name) = x", "needs a list of strings", 1, 1, ""},
		{"concat((proc.name, proc.pname), x) = y", "only allowed as the second argument of join", 1, 8, ""},
		{"proc.name = shells", "outside in (...) a list name must stand for exactly one value", 1, 13, ""},
		{"concat(proc.name) = x", "takes at least 2", 1, 1, ""},
		{"getopt(proc.argv, 'a')[ab] = x", "one option character", 1, 1, ""},
		{"proc.pid = anyof (1, 2)", "modifier anyof needs a string field", 1, 10, ""},
		{"proc.pid startswith anyof (1)", "not supported", 1, 10, ""},
		{"proc.name in (bad_items)", "unsupported escape", 1, 15, ""},
		{"len(proc.name) = -2", "unsigned", 1, 18, ""},
	}
	for _, tt := range tests {
		e, err := Parse(tt.cond)
		if err != nil {
			if tt.msg != "" {
				t.Errorf("%q: parse error %v", tt.cond, err)
			}
			continue
		}
		_, err = Compile(e, env)
		if err == nil {
			t.Errorf("%q: no error", tt.cond)
			continue
		}
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("%q: %T is not *Error: %v", tt.cond, err, err)
			continue
		}
		if !strings.Contains(fe.Msg, tt.msg) || fe.Line != tt.line || fe.Col != tt.col {
			t.Errorf("%q: got %d:%d %q, want %d:%d %q", tt.cond, fe.Line, fe.Col, fe.Msg, tt.line, tt.col, tt.msg)
		}
		var uf *UnknownFieldError
		if got := errors.As(err, &uf); got != (tt.unknown != "") || (got && uf.Field != tt.unknown) {
			t.Errorf("%q: UnknownFieldError %v (%v)", tt.cond, got, uf)
		}
	}
}

func TestSetPred(t *testing.T) {
	items := []string{"", "a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g", "h", "iiiiiiiii", strings.Repeat("x", 100)}
	p := newSetPred(items)
	for _, it := range items {
		if !p.test(it) {
			t.Errorf("%q not found", it)
		}
	}
	for _, x := range []string{"b", "aa", "cc", "zzz", strings.Repeat("x", 99), strings.Repeat("y", 100), "é"} {
		if p.test(x) {
			t.Errorf("%q found", x)
		}
	}
	if newSetPred(items[1:]).test("") {
		t.Error("empty string found in a set without it")
	}
}

// TestModifiers: for a single value v and values r1..rn, "v op anyof (r...)"
// holds when some ri satisfies v op ri, "allof" when all do and "oneof"
// when exactly one does; an empty list never matches.
func TestModifiers(t *testing.T) {
	e := ev(tev{name: "bash"})
	tests := []struct {
		cond string
		want bool
	}{
		{"proc.name = oneof (bash, zsh)", true},
		{"proc.name = oneof (bash, bash)", false},
		{"proc.name = oneof (zsh, sh)", false},
		{"proc.name = anyof (bash, bash)", true},
		{"proc.name = allof (bash, bash)", true},
		{"proc.name = allof (bash, zsh)", false},
		{"proc.name != oneof (bash, zsh)", true},
		{"proc.name != oneof (zsh, sh)", false},
		{"proc.name != anyof (bash, zsh)", true},
		{"proc.name != allof (zsh, sh)", true},
		{"proc.name != allof (bash, sh)", false},
		{"proc.name contains oneof (ba, sh)", false},
		{"proc.name contains allof (ba, sh)", true},
		{"proc.name icontains anyof (BA, X)", true},
		{"proc.name endswith oneof (sh, ash)", false},
		{"proc.name endswith oneof (sh, zsh)", true},
		{"proc.name glob allof (b*, *h)", true},
		{"proc.name iglob oneof (B*, *Z)", true},
		{"proc.name regex anyof ('b.*', 'z.*')", true},
		{"proc.name regex allof ('b.*', '.*h')", true},
		{"proc.name bstartswith anyof (6261, 00)", true},
		{"toupper(proc.name) = oneof (BASH, ZSH)", true},
		{"toupper(proc.name) != allof (BASH, ZSH)", false},
		{"proc.name = oneof ()", false},
		{"proc.name = anyof ()", false},
		{"proc.name = allof ()", false},
		{"proc.name != allof ()", false},
	}
	for _, tt := range tests {
		if got := compile(t, tt.cond, Env{}).Match(e); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.cond, got, tt.want)
		}
	}
	for _, bad := range []string{"proc.name < anyof (a)", "proc.name in anyof (a)", "proc.pid = anyof (1)"} {
		e, err := Parse(bad)
		if err != nil {
			continue // rejected by the parser: fine too
		}
		if _, err := Compile(e, Env{Registry: reg}); err == nil {
			t.Errorf("%s: compiled", bad)
		}
	}
}

// TestSimplify checks that the rewritten trees keep their meaning.
func TestSimplify(t *testing.T) {
	conds := []string{
		"evt.type = open or evt.type = execve",
		"(evt.type = open or proc.name = bash) or evt.type = connect",
		"not (evt.type = open or evt.type = execve) and proc.name = bash",
		"evt.type in (open, execve) and (evt.type = execve and proc.name = bash)",
		"not not evt.type = execve",
		"evt.type = open and evt.type = execve",
	}
	events := []*tev{bash, ev(tev{typ: 1, name: "bash"}), ev(tev{typ: 4, name: "zsh"}), ev(tev{typ: 3, name: "zsh"})}
	for _, cond := range conds {
		e := mustParse(t, cond)
		c := &compiler{env: Env{Registry: reg}, types: typeTableFor(reg)}
		raw, _, err := c.expr(e)
		if err != nil {
			t.Fatal(err)
		}
		simple := simplify(raw)
		s := &Scratch{}
		s.ensure(c.max, c.bufs)
		for i, ev := range events {
			if raw.match(ev, s) != simple.match(ev, s) {
				t.Errorf("%s: event %d: simplified tree disagrees", cond, i)
			}
		}
	}
}

// TestConcurrentMatch runs one filter from many goroutines (go test -race
// checks that matching shares no mutable state).
func TestConcurrentMatch(t *testing.T) {
	f := compile(t, "toupper(proc.name) = BASH and join(',', proc.aname) = 'sshd,systemd' and proc.name in (sh, bash)", Env{})
	other := ev(tev{name: "zsh", anc: []string{"a", "b"}})
	done := make(chan bool)
	for g := 0; g < 8; g++ {
		go func() {
			ok := true
			var s Scratch
			for i := 0; i < 2000; i++ {
				ok = ok && f.Match(bash) && !f.Match(other) && f.MatchScratch(bash, &s) && !f.MatchScratch(other, &s)
			}
			done <- ok
		}()
	}
	for g := 0; g < 8; g++ {
		if !<-done {
			t.Error("concurrent match gave a wrong result")
		}
	}
}

// TestNoAllocs: matching, including transformers and list fields, does
// not allocate once the scratch space has grown.
func TestNoAllocs(t *testing.T) {
	for _, cond := range []string{
		"evt.type = execve and proc.name in (sh, bash) and not proc.pname = cron",
		"fd.name icontains SHADOW and fd.name glob '/etc/*w'",
		"toupper(proc.name) = BASH and tolower(proc.aname) = systemd",
		"concat(proc.name, '-', proc.pname) = bash-sshd and len(proc.argv) = 2",
		"getopt(proc.argv, 'c:')[c] = ls and join(',', getopt(proc.argv, 'c:')) = 'c,ls'",
		"proc.aname in (systemd) and proc.apid in (1) and fd.sip in (10.0.0.0/8)",
		"proc.cmdline startswith anyof (bash, zsh) and proc.name = val(proc.aname[0])",
	} {
		f := compile(t, cond, Env{})
		var s Scratch
		if !f.MatchScratch(bash, &s) {
			t.Errorf("%s: does not match", cond)
		}
		if n := testing.AllocsPerRun(100, func() { f.MatchScratch(bash, &s) }); n != 0 {
			t.Errorf("%s: %v allocations per match", cond, n)
		}
		var cached Scratch
		cached.BeginEvent()
		f.MatchScratch(bash, &cached)
		if n := testing.AllocsPerRun(100, func() { cached.BeginEvent(); f.MatchScratch(bash, &cached) }); n != 0 {
			t.Errorf("%s: %v allocations per cached match", cond, n)
		}
	}
}

func TestGlobAndRegexShortcuts(t *testing.T) {
	tests := []struct {
		op, pattern, s string
		want           bool
	}{
		{"glob", "/usr/lib/*/json/*.py", "/usr/lib/python3/json/x.py", true},
		{"glob", "/usr/lib/*/json/*.py", "/usr/lib/python3/json/x.pyc", false},
		{"glob", "/usr/lib/*/json/*.py", "/usr/lib.py", false},
		{"glob", `a*\\*b`, "ax*b", true},
		{"glob", `a*\\*b`, "axb", false},
		{"glob", "*[ab]", "xa", true},
		{"glob", "*[ab]", "xc", false},
		{"glob", "a?c", "abc", true},
		{"glob", "ab*ab", "ab", false},
		{"glob", "ab*ab", "abab", true},
		{"glob", "[", "[", true},
		{"glob", "x[", "x[", true},
		{"glob", "*", "", true},
		{"glob", "", "", true},
		{"glob", "", "a", false},
		{"glob", "[!a]", "b", true},
		{"glob", "[^a]", "a", false},
		{"glob", "[]]", "]", true},
		{"glob", "[a-c]x", "bx", true},
		{"iglob", "*.PEM", "key.pem", true},
		{"iglob", "[A-C]X", "bx", true},
		{"regex", `.*\\.pem`, "/etc/ssl/key.pem", true},
		{"regex", `.*\\.pem`, "/etc/ssl/key.pemx", false},
		{"regex", `.*\\.pem`, "/etc/ssl/key.crt", false},
		{"regex", `(?i).*\\.PEM`, "/k.pem", true},
		{"regex", `(ab)+c`, "ababc", true},
		{"regex", `(ab)+c`, "ac", false},
		{"regex", `x|y`, "y", true},
		{"regex", `a{2,}b`, "aaab", true},
		{"regex", `a{0,2}b`, "b", true},
	}
	for _, tt := range tests {
		cond := "proc.name " + tt.op + " '" + tt.pattern + "'"
		e := ev(tev{name: tt.s})
		if got := compile(t, cond, Env{}).Match(e); got != tt.want {
			t.Errorf("%s on %q: got %v", cond, tt.s, got)
		}
	}
}

func TestNumericListAsText(t *testing.T) {
	r := fields.NewRegistry("t", "", []string{"x"})
	r.MustAdd(fields.Def{Name: "k.ports", Kind: fields.KindInt, List: true, Bind: func(string) (fields.Extract, error) {
		return func(_ fields.Event, out *fields.Value) bool {
			out.Kind, out.IsList, out.Ints = fields.KindInt, true, out.Ints[:0]
			out.Strs = append(out.Strs[:0], "80", "443")
			return true
		}, nil
	}})
	for cond, want := range map[string]bool{
		"k.ports intersects (443)":  true,
		"k.ports in (80, 443, 22)":  true,
		"k.ports in (80)":           false,
		"k.ports > 100":             true,
		"k.ports intersects (8080)": false,
	} {
		f, err := Compile(mustParse(t, cond), Env{Registry: r})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(ev(tev{})); got != want {
			t.Errorf("%s: got %v", cond, got)
		}
		if _, any := f.EventTypes(); !any {
			t.Errorf("%s: a registry without a type field must report any", cond)
		}
	}
}

// TestBuiltNodes compiles an AST built by hand (as the rules loader may do
// for exceptions), without source text: errors then carry offsets only.
func TestBuiltNodes(t *testing.T) {
	cond := &And{Terms: []Expr{
		&Check{Field: &FieldRef{Name: "proc.name"}, Op: "==", Values: []*Operand{{Text: "bash"}}},
		&Not{X: &Check{Field: &FieldRef{Name: "proc.pname"}, Op: "in", List: true, Values: []*Operand{{Text: "cron"}, {Text: "shells"}}}},
	}}
	f, err := Compile(cond, Env{Registry: reg, Lists: map[string][]string{"shells": {"zsh"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(bash) {
		t.Error("built condition does not match")
	}
	if got := cond.String(); got != "proc.name = bash and not proc.pname in (cron, shells)" {
		t.Errorf("String() = %q", got)
	}
	_, err = Compile(&Check{Offset: 7, Field: &FieldRef{Offset: 7, Name: "no.such"}, Op: "exists"}, Env{Registry: reg})
	var fe *Error
	if !errors.As(err, &fe) || fe.Offset != 7 || fe.Line != 0 || fe.Error() != "unknown field no.such" {
		t.Errorf("error without source = %#v", err)
	}
	for _, bad := range []Expr{&And{}, &Or{}, &Not{}, &Check{Op: "="}, &Check{Field: &FieldRef{Name: "proc.name"}, Op: "~"}} {
		if _, err := Compile(bad, Env{Registry: reg}); err == nil {
			t.Errorf("%#v compiled", bad)
		}
	}
}
