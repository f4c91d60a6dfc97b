package config

import (
	"strings"
	"testing"
	"time"
)

func TestConditionTemplateThrottle(t *testing.T) {
	c, err := Load(write(t, `
outputs:
  webhook:
    soc:
      address: http://127.0.0.1:9/hook
      minimumpriority: notice
      condition: k8s.ns.name startswith prod- and tags in (shell, network)
      template: "{{.Priority | upper}} {{.Rule}} in {{field \"k8s.ns.name\"}}"
      throttle:
        rate: 5
        window: 5m
        fields: [hostname, k8s.ns.name]
`))
	if err != nil {
		t.Fatal(err)
	}
	o := find(t, c, "webhook.soc")
	if o.Condition == "" || !strings.HasPrefix(o.Template, "{{.Priority") {
		t.Fatalf("condition/template: %+v", o)
	}
	if o.Throttle.Rate != 5 || o.Throttle.Window != 5*time.Minute || len(o.Throttle.Fields) != 2 {
		t.Fatalf("throttle: %+v", o.Throttle)
	}
}

func TestConditionErrorsNameKeyAndColumn(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"webhook:\n  address: http://127.0.0.1:9/\n  condition: priority in (Error\n",
			"webhook.condition: 1:13: unterminated list"},
		{"outputs:\n  file:\n    audit:\n      path: /tmp/x\n      condition: proc.pid > many\n",
			"outputs.file.audit.condition: 1:12: "},
		{"outputs:\n  file:\n    audit:\n      path: /tmp/x\n      template: \"{{.Rulee}}\"\n",
			"outputs.file.audit.template: "},
		{"outputs:\n  file:\n    audit:\n      path: /tmp/x\n      throttle:\n        rate: 0\n",
			"outputs.file.audit.throttle.rate: must be at least 1"},
		{"outputs:\n  file:\n    audit:\n      path: /tmp/x\n      throttle:\n        rate: 3\n        windw: 1m\n",
			"outputs.file.audit.throttle.windw: unknown key"},
	} {
		_, err := Load(write(t, tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
