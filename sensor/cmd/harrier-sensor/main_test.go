package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "harrier-sensor ") {
		t.Fatalf("version: code %d, out %q", code, out.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"no-such"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "no-such"`) {
		t.Fatalf("unknown command: code %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "version") {
		t.Fatalf("usage: code %d, out %q", code, out.String())
	}
}

func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "harrier-sensor ") ||
			strings.Contains(out.String(), "(devel)") {
			t.Errorf("%v: %d %q %q", args, code, out.String(), errb.String())
		}
	}
}
