package msgtemplate

import (
	"strings"
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func TestRender(t *testing.T) {
	a := &harrierv1.Alert{Rule: "Terminal shell", Priority: harrierv1.Priority_PRIORITY_CRITICAL, Hostname: "node-1",
		Tags: []string{"a", "b"}, Output: "shell spawned",
		OutputFields: map[string]*harrierv1.FieldValue{
			"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "prod"}},
			"proc.pid":    {Kind: &harrierv1.FieldValue_IntValue{IntValue: 42}},
		}}
	for _, tc := range []struct{ text, want string }{
		{`{{.Priority | upper}}: {{.Rule}} on {{.Hostname}}`, "CRITICAL: Terminal shell on node-1"},
		{`ns={{field "k8s.ns.name"}} pid={{field "proc.pid"}} none={{field "x.y" | default "-"}}`, "ns=prod pid=42 none=-"},
		{`{{join "," .Tags}} x{{.Count}}`, "a,b x1"},
		{`{{.Output | truncate 5}}`, "shell…"},
	} {
		tpl, err := Parse(tc.text)
		if err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		got, err := tpl.Render(a)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
	var nilT *Template
	if got, _ := nilT.Render(a); got != "shell spawned" {
		t.Errorf("nil template: %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, text := range []string{`{{.Rule`, `{{.Rulee}}`, `{{nosuchfunc .Rule}}`, "ok\n{{if}}"} {
		if _, err := Parse(text); err == nil {
			t.Errorf("%q: no error", text)
		} else if !strings.Contains(err.Error(), "template") {
			t.Errorf("%q: %v", text, err)
		}
	}
}
