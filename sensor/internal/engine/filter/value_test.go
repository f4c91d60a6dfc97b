package filter

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

func TestCompileValue(t *testing.T) {
	tests := []struct {
		expr string
		kind fields.Kind
		list bool
		text string // AppendValue of the result; "<NA>" when Eval reports no value
	}{
		{"proc.name", fields.KindString, false, "bash"},
		{" proc.name ", fields.KindString, false, "bash"},
		{"proc.aname[2]", fields.KindString, false, "systemd"},
		{"proc.aname[9]", fields.KindString, false, "<NA>"},
		{"proc.aname", fields.KindString, true, "(sshd,systemd)"},
		{"proc.apid", fields.KindInt, true, "(100,1)"},
		{"evt.arg.flags", fields.KindString, false, "O_RDONLY|O_CLOEXEC"},
		{"evt.arg[flags]", fields.KindString, false, "O_RDONLY|O_CLOEXEC"},
		{"proc.env[HOME]", fields.KindString, false, "/root"},
		{"proc.env['NOPE']", fields.KindString, false, "<NA>"},
		{"tolower(toupper(proc.name))", fields.KindString, false, "bash"},
		{"toupper(proc.name)", fields.KindString, false, "BASH"},
		{"val(proc.pname)", fields.KindString, false, "sshd"},
		{"len(proc.cmdline)", fields.KindUint, false, "10"},
		{"join(' ', proc.argv)", fields.KindString, false, "-c ls"},
		{"proc.pid", fields.KindInt, false, "4242"},
		{"fd.sport", fields.KindPort, false, "443"},
		{"fd.sip", fields.KindIP, false, "10.1.2.3"},
		{"fd.net", fields.KindIPNet, false, "10.1.2.3"},
		{"evt.failed", fields.KindBool, false, "false"},
		{"evt.buffer", fields.KindBytes, false, ".ELF.."},
		{"evt.latency", fields.KindRelTime, false, "1500"},
		{"evt.rawflags", fields.KindUint, false, "577"},
	}
	for _, tt := range tests {
		v, err := CompileValue(tt.expr, reg)
		if err != nil {
			t.Errorf("CompileValue(%q): %v", tt.expr, err)
			continue
		}
		if v.Kind() != tt.kind || v.List() != tt.list || v.String() != tt.expr {
			t.Errorf("%q: kind %v list %v string %q", tt.expr, v.Kind(), v.List(), v.String())
		}
		var out fields.Value
		text := "<NA>"
		if v.Eval(bash, &out) {
			text = string(AppendValue(nil, &out))
		}
		if text != tt.text {
			t.Errorf("%q: got %q, want %q", tt.expr, text, tt.text)
		}
	}
}

func TestCompileValueErrors(t *testing.T) {
	for expr, msg := range map[string]string{
		"":                    "expected a field name",
		"proc":                "expected a field name",
		"proc.nope":           "unknown field proc.nope",
		"proc.name = x":       `unexpected "="`,
		"proc.env":            "requires an argument",
		"tolower(proc.pid)":   "needs a string field",
		"proc.aname[x]":       "non-negative index",
		"tolower(proc.name":   "expected ',' or ')'",
		"proc.name and x":     `unexpected "and"`,
		"concat(proc.name)":   "takes at least 2",
		"getopt(proc.argv)":   "takes 2",
		"b64(proc.argv)":      "needs a single value",
		"val(val(proc.name))": "val() is only allowed",
	} {
		_, err := CompileValue(expr, reg)
		var fe *Error
		if !errors.As(err, &fe) || !strings.Contains(fe.Msg, msg) {
			t.Errorf("CompileValue(%q) = %v, want %q", expr, err, msg)
		}
	}
	_, err := CompileValue("fd.nope", reg)
	var uf *UnknownFieldError
	if !errors.As(err, &uf) || uf.Field != "fd.nope" {
		t.Errorf("unknown field error = %v", err)
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		v    fields.Value
		want string
	}{
		{fields.Value{Kind: fields.KindString, Str: "a b"}, "a b"},
		{fields.Value{Kind: fields.KindInt, Int: -5}, "-5"},
		{fields.Value{Kind: fields.KindUint, Uint: 1 << 63}, "9223372036854775808"},
		{fields.Value{Kind: fields.KindBool, Bool: true}, "true"},
		{fields.Value{Kind: fields.KindIP, IP: netip.MustParseAddr("::1")}, "::1"},
		{fields.Value{Kind: fields.KindIP}, "<NA>"},
		{fields.Value{Kind: fields.KindIPNet, Net: netip.MustParsePrefix("10.0.0.0/8")}, "10.0.0.0/8"},
		{fields.Value{Kind: fields.KindString, IsList: true, Strs: []string{"a", "b"}}, "(a,b)"},
		{fields.Value{Kind: fields.KindString, IsList: true}, "()"},
		{fields.Value{Kind: fields.KindUint, IsList: true, Ints: []int64{1, 2}}, "(1,2)"},
		{fields.Value{}, "<NA>"},
	}
	for _, tt := range tests {
		if got := string(AppendValue([]byte("x="), &tt.v)); got != "x="+tt.want {
			t.Errorf("AppendValue(%+v) = %q, want %q", tt.v, got, "x="+tt.want)
		}
	}
}
