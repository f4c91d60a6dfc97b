package filter

import (
	"errors"
	"strings"
	"testing"
)

func TestParseShapes(t *testing.T) {
	tests := []struct{ in, out string }{
		{"a and b or c", "a and b or c"},
		{"a and (b or c)", "a and (b or c)"},
		{"not a and b", "not a and b"},
		{"not (a and b)", "not (a and b)"},
		{"not(a)", "not a"},
		{"((a))", "a"},
		{"a or b or c and d", "a or b or c and d"},
		{"proc.name=bash", "proc.name = bash"},
		{"proc.name==bash", "proc.name = bash"},
		{"proc.name != 'a b'", `proc.name != "a b"`},
		{`fd.name = "say \"hi\""`, `fd.name = "say \"hi\""`},
		{`fd.name = 'it\'s'`, `fd.name = "it's"`},
		{`fd.name = "a\\b\tc"`, "fd.name = \"a\\\\b\tc\""},
		{"proc.name in (a,b, 'c d' ,d)", `proc.name in (a, b, "c d", d)`},
		{"proc.name in ()", "proc.name in ()"},
		{"proc.name in shell_binaries", "proc.name in shell_binaries"},
		{"proc.name in (shell_binaries)", "proc.name in (shell_binaries)"},
		{"fd.name exists", "fd.name exists"},
		{"proc.aname[2]=sshd", "proc.aname[2] = sshd"},
		{"proc.env['MY VAR'] = x", `proc.env["MY VAR"] = x`},
		{"jevt.value[/requestObject/spec/tls] exists", "jevt.value[/requestObject/spec/tls] exists"},
		{"ka.uri.param[name]=x", "ka.uri.param[name] = x"},
		{"evt.arg.flags contains O_RDONLY", "evt.arg.flags contains O_RDONLY"},
		{"evt.rawres<0", "evt.rawres < 0"},
		{"evt.rawres >= -1", "evt.rawres >= -1"},
		{"evt.num > 0x10", "evt.num > 0x10"},
		{"fd.name pmatch (/etc, /usr/)", "fd.name pmatch (/etc, /usr/)"},
		{"tolower(proc.name) = bash", "tolower(proc.name) = bash"},
		{"toupper(basename(fd.name))=X", "toupper(basename(fd.name)) = X"},
		{"proc.name = val(proc.pname)", "proc.name = val(proc.pname)"},
		{"proc.name = tolower(proc.pname)", "proc.name = tolower(proc.pname)"},
		{"join(',', proc.args) contains x", `join(",", proc.args) contains x`},
		{"concat(proc.name, '-', proc.pname) = a-b", `concat(proc.name, "-", proc.pname) = a-b`},
		{"getopt(proc.args, 'it')[t] exists", `getopt(proc.args, "it")[t] exists`},
		{"proc.cmdline startswith anyof (a, 'b c')", `proc.cmdline startswith anyof (a, "b c")`},
		{"proc.cmdline contains allof list", "proc.cmdline contains allof list"},
		{"proc.name = anyofx", "proc.name = anyofx"},
		{"proc.name = oneof", "proc.name = oneof"},
		{"orchestrator and anding", "orchestrator and anding"},
		{"notify or not notify", "notify or not notify"},
		{"proc.name = notable and x", "proc.name = notable and x"},
		{"fd.name=/etc/shadow", "fd.name = /etc/shadow"},
		{"a\n\tand\r\nb", "a and b"},
		{"proc.name in (a, b) and (c or not d)", "proc.name in (a, b) and (c or not d)"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.out {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.out)
		}
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Errorf("reparse of %q: %v %v", e.String(), again, err)
		}
	}
}

func TestParseTree(t *testing.T) {
	e, err := Parse("a or b and not c")
	if err != nil {
		t.Fatal(err)
	}
	or, ok := e.(*Or)
	if !ok || len(or.Terms) != 2 {
		t.Fatalf("top is %T", e)
	}
	and, ok := or.Terms[1].(*And)
	if !ok || len(and.Terms) != 2 {
		t.Fatalf("second term is %T", or.Terms[1])
	}
	if n, ok := and.Terms[1].(*Not); !ok || n.X.(*Ident).Name != "c" || n.Offset != 11 {
		t.Fatalf("not term is %#v", and.Terms[1])
	}
	e, _ = Parse("proc.name in (a, 'b')")
	c := e.(*Check)
	if c.Op != "in" || !c.List || len(c.Values) != 2 || c.Values[1].Text != "b" || !c.Values[1].Quoted || c.Values[1].Offset != 17 || c.OpOffset != 10 {
		t.Fatalf("check is %#v", c)
	}
	var n int
	Walk(mustParse(t, "a and (b or not c) and proc.name = x"), func(Expr) bool { n++; return true })
	if n != 7 { // and, a, or, b, not, c, check
		t.Errorf("Walk visited %d nodes", n)
	}
}

func mustParse(t *testing.T, s string) Expr {
	t.Helper()
	e, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in        string
		msg       string
		line, col int
	}{
		{"", "empty condition", 1, 1},
		{"   ", "empty condition", 1, 1},
		{"proc.name", "expected an operator", 1, 10},
		{"proc.name bash", "expected an operator", 1, 11},
		{"proc.name =", "expected a value", 1, 12},
		{"proc.name = a and", "unexpected end of condition", 1, 18},
		{"proc.name = a b", `unexpected "b"`, 1, 15},
		{"(proc.name = a", "expected ')'", 1, 15},
		{"proc.name = a)", `unexpected ")"`, 1, 14},
		{"proc.name in (a, b", "unterminated list", 1, 14},
		{"proc.name in (a,, b)", "expected a list item", 1, 17},
		{"proc.name in a.b", "expected a list", 1, 14},
		{"proc.name = 'abc", "unterminated quoted string", 1, 13},
		{"proc.name = \"a\\qb\"", `unsupported escape sequence \q`, 1, 15},
		{"proc.name = \"a\\'b\"", "invalid \\' escape", 1, 15},
		{"a and\n  proc.name ~ x", "expected an operator", 2, 13},
		{"proc.env[ = x", "expected a field argument", 1, 10},
		{"proc.env[a = x", "expected ']'", 1, 11},
		{"tolower(proc.name = x", "expected ',' or ')'", 1, 19},
		{"tolower() = x", "expected a field or a value", 1, 9},
		{"proc..name = x", "invalid field name", 1, 1},
		{"1abc", "expecting a field check", 1, 1},
		{"a and or b", "expecting a field check", 1, 7},
		{"proc.name = x or", "unexpected end", 1, 17},
		{"not", "unexpected end", 1, 4},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want *Error", tt.in, err)
			continue
		}
		if !strings.Contains(pe.Msg, tt.msg) || pe.Line != tt.line || pe.Col != tt.col {
			t.Errorf("Parse(%q): got %d:%d %q, want %d:%d %q", tt.in, pe.Line, pe.Col, pe.Msg, tt.line, tt.col, tt.msg)
		}
	}
}

func TestParseDepthLimit(t *testing.T) {
	deep := strings.Repeat("(", 5000) + "a" + strings.Repeat(")", 5000)
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep parens: %v", err)
	}
	nots := strings.Repeat("not ", 5000) + "a"
	if _, err := Parse(nots); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep nots: %v", err)
	}
	tr := strings.Repeat("tolower(", 5000) + "proc.name" + strings.Repeat(")", 5000) + " = x"
	if _, err := Parse(tr); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep transformers: %v", err)
	}
	ok := strings.Repeat("(", 40) + "a" + strings.Repeat(")", 40)
	if _, err := Parse(ok); err != nil {
		t.Errorf("40 levels: %v", err)
	}
	// Long flat conditions are not nesting.
	long := "a" + strings.Repeat(" and a", 20000)
	if _, err := Parse(long); err != nil {
		t.Errorf("long flat condition: %v", err)
	}
}
