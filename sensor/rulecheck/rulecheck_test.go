package rulecheck

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good, err := os.ReadFile("../../rules/k8s_audit.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		files   []File
		wantErr string // substring; "" = valid
	}{
		{name: "harrier's audit rules", files: []File{{Name: "k8s_audit.yaml", Data: good}}},
		{name: "no files", wantErr: "no rules files"},
		{name: "unknown field", files: []File{{Name: "bad.yaml", Data: []byte(
			"- rule: r\n  desc: d\n  condition: evt.type = open and no.such.field = 1\n  output: o\n  priority: WARNING\n")}},
			wantErr: "bad.yaml:3:"},
		{name: "yaml syntax", files: []File{{Name: "broken.yaml", Data: []byte("- rule: [\n")}}, wantErr: "broken.yaml:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Validate(tc.files)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.Digest == "" || res.Rules == 0 {
					t.Fatalf("result %+v", res)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			var e *Error
			if tc.files != nil && !errors.As(err, &e) {
				t.Fatalf("err %T is not *Error", err)
			}
		})
	}
}
