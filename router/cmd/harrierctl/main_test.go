package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
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

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "harrierctl ") ||
			strings.Contains(out.String(), "(devel)") {
			t.Errorf("%v: %d %q %q", args, code, out.String(), errb.String())
		}
	}
}

// The text line shows time and priority once: the sensor's output already
// starts with them.
func TestPrintAlertText(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	for _, output := range []string{"12:00:00.000000000: Critical Shell in container (user=root)", "Shell in container (user=root)"} {
		var out bytes.Buffer
		printAlert(&out, &harrierv1.Alert{Time: at, Priority: harrierv1.Priority_PRIORITY_CRITICAL, Output: output,
			Rule: "Shell", Hostname: "node-1", Source: "syscall"}, "text")
		line := out.String()
		if strings.Count(line, "Critical") != 1 || strings.Count(line, "12:00:00") != 1 || !strings.Contains(line, "Shell in container (user=root) (rule=\"Shell\" host=node-1 source=syscall)") {
			t.Errorf("output %q printed as %q", output, line)
		}
	}
}
