package alertfilter

import (
	"strings"
	"testing"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func sv(s string) *harrierv1.FieldValue {
	return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: s}}
}

func iv(n int64) *harrierv1.FieldValue {
	return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: n}}
}

// routingAlerts are four alerts a condition must tell apart.
func routingAlerts() []*harrierv1.Alert {
	return []*harrierv1.Alert{
		{Id: "a", Rule: "Terminal shell in container", Priority: harrierv1.Priority_PRIORITY_NOTICE, Source: "syscall",
			Hostname: "node-1", Tags: []string{"container", "shell", "mitre_execution"},
			OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": sv("prod-payments"),
				"container.image.repository": sv("docker.io/library/nginx"), "proc.pid": iv(4242)}},
		{Id: "b", Rule: "Write below etc", Priority: harrierv1.Priority_PRIORITY_ERROR, Source: "syscall",
			Hostname: "node-2", Tags: []string{"filesystem", "mitre_persistence"},
			OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": sv("kube-system"),
				"container.image.repository": sv("registry.k8s.io/kube-proxy"), "proc.pid": iv(7)}},
		{Id: "c", Rule: "Attach/Exec Pod", Priority: harrierv1.Priority_PRIORITY_NOTICE, Source: "k8s_audit",
			Hostname: "apiserver", Tags: []string{"k8s"},
			OutputFields: map[string]*harrierv1.FieldValue{"ka.target.namespace": sv("prod-web"),
				"k8s.ns.name": {Kind: &harrierv1.FieldValue_NullValue{}}}},
		{Id: "d", Rule: "Outbound connection", Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall",
			Hostname: "node-1", Tags: []string{"network"},
			OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": sv("dev-sandbox")}},
	}
}

func TestConditionSelects(t *testing.T) {
	for _, tc := range []struct {
		cond string
		want string // ids of the selected alerts
	}{
		{`priority in (Error, Critical)`, "b"},
		{`source = k8s_audit`, "c"},
		{`rule in ("Terminal shell in container", "Outbound connection")`, "ad"},
		{`k8s.ns.name startswith prod-`, "a"},
		{`k8s.ns.name exists`, "abd"},
		{`not k8s.ns.name exists`, "c"},
		{`tags in (shell, network)`, "ad"},
		{`tags pmatch (mitre)`, ""},
		{`tags startswith mitre_`, "ab"},
		{`container.image.repository glob "docker.io/*"`, "a"},
		{`proc.pid > 100`, "a"},
		{`hostname = node-1 and not tags in (network)`, "a"},
		{`ka.target.namespace contains web or tags = filesystem`, "bc"},
		{`sensor_id exists`, ""},
	} {
		c, err := CompileCondition(tc.cond)
		if err != nil {
			t.Errorf("%s: %v", tc.cond, err)
			continue
		}
		var got strings.Builder
		for _, a := range routingAlerts() {
			if c.Match(a) {
				got.WriteString(a.Id)
			}
		}
		if got.String() != tc.want {
			t.Errorf("%s: selected %q, want %q", tc.cond, got.String(), tc.want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	for _, tc := range []struct{ cond, want string }{
		{`priority in (Error`, "1:13: unterminated list"},
		{`proc.pid > many`, "1:12: "},
		{`rule[2] = x`, "1:1: "},
		{`sensor = x`, "1:8: "},
	} {
		if _, err := CompileCondition(tc.cond); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.cond, err, tc.want)
		}
	}
	var c *Condition
	if !c.Match(&harrierv1.Alert{}) {
		t.Error("nil condition must match")
	}
}
