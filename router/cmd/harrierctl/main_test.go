package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDispatchAndFlagErrors(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		errText string
	}{
		{[]string{"bogus"}, 2, "unknown command"},
		{[]string{"subscribe", "-o", "xml"}, 2, "-o must be text or json"},
		{[]string{"subscribe", "--min-priority", "loud"}, 2, "unknown priority"},
		{[]string{"deadletters", "list", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"subscribe", "--cert", "/nonexistent.crt"}, 1, "cert_file and key_file must be set together"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), tt.args, &out, &errb); code != tt.code || !strings.Contains(errb.String(), tt.errText) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tt.args, code, errb.String(), tt.code, tt.errText)
		}
	}
	var out bytes.Buffer
	if dispatch(context.Background(), nil, &out, &out) != 0 || !strings.Contains(out.String(), "deadletters replay") {
		t.Errorf("usage: %s", out.String())
	}
}
