package alertfmt

import (
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestAppendOutput(t *testing.T) {
	regs := map[string]*fields.Registry{"syscall": syscallfields.Registry(), "k8s_audit": k8saudit.Registry()}
	suggested := map[string][]string{"syscall": syscallfields.SuggestedOutput}
	th := &sysevent.Thread{}
	th.SetContainer(&sysevent.Container{ID: "3f1c2d4e5a6b", Name: "web", ImageRepo: "nginx", ImageTag: "1.25",
		PodName: "web-0", PodNamespace: "shop"})
	sev := &sysevent.Event{Type: sysevent.SysOpenat, Time: 1_700_000_000_000_000_000, CPU: 1, Thread: th}
	shell := &Rule{Name: "Terminal shell in container", Source: "syscall", Tags: []string{"container", "shell"}}
	other := &Rule{Name: "Other", Source: "syscall", Tags: []string{"network"}}
	audit := &Rule{Name: "Exec", Source: "k8s_audit"}

	tests := []struct {
		name      string
		specs     []AppendSpec
		rule      *Rule
		ev        fields.Event
		wantText  string // suffix of the output text ("" : nothing appended)
		wantField map[string]string
		noField   []string
	}{
		{"suggested for syscall", []AppendSpec{{Suggested: true}}, shell, sev,
			" container_id=3f1c2d4e5a6b container_name=web container_image_repository=nginx container_image_tag=1.25 k8s_pod_name=web-0 k8s_ns_name=shop",
			map[string]string{"container.id": "3f1c2d4e5a6b", "k8s.ns.name": "shop"}, nil},
		{"suggested: nothing for k8s_audit", []AppendSpec{{Suggested: true}}, audit, event(t), "", nil, []string{"container.id"}},
		{"rule match", []AppendSpec{{Rule: "Terminal shell in container", ExtraOutput: "cpu=%evt.cpu"}}, shell, sev, " cpu=1", nil, nil},
		{"rule mismatch", []AppendSpec{{Rule: "Terminal shell in container", ExtraOutput: "cpu=%evt.cpu"}}, other, sev, "", nil, nil},
		{"all tags must match", []AppendSpec{{Tags: []string{"container", "network"}, ExtraOutput: "x"}}, shell, sev, "", nil, nil},
		{"tags match", []AppendSpec{{Tags: []string{"shell"}, ExtraOutput: "x"}}, shell, sev, " x", nil, nil},
		{"source match", []AppendSpec{{Source: "k8s_audit", ExtraOutput: "u=%ka.user.name"}}, audit, event(t), " u=alice", nil, nil},
		{"source mismatch", []AppendSpec{{Source: "k8s_audit", ExtraOutput: "u=%ka.user.name"}}, shell, sev, "", nil, nil},
		{"extra fields only in fields", []AppendSpec{{ExtraFields: []ExtraField{{"evt.cpu", "%evt.cpu"}, {"team", "payments"}, {"where", "%container.name on %evt.cpu"}}}},
			shell, sev, "", map[string]string{"evt.cpu": "int_value:1", "team": "payments", "where": "web on 1"}, nil},
		{"unknown plugin source matches nothing", []AppendSpec{{Source: "aws_cloudtrail", ExtraOutput: "%ct.name"}}, shell, sev, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := CompileAppends(tt.specs, regs, suggested)
			if err != nil {
				t.Fatal(err)
			}
			base := &Builder{}
			b := &Builder{Appends: a}
			want := base.Alert(tt.rule, tt.ev).GetOutput()
			al := b.Alert(tt.rule, tt.ev)
			got := al.GetOutput()
			// The time prefix may differ between two builds only for
			// events without a time; compare what follows the priority.
			if !strings.HasSuffix(got, tt.wantText) || len(got)-len(tt.wantText) != len(want) {
				t.Errorf("output %q, want %q + %q", got, want, tt.wantText)
			}
			for k, v := range tt.wantField {
				f := al.GetOutputFields()[k]
				if f == nil || (f.GetStringValue() != v && strings.TrimSpace(f.String()) != v) {
					t.Errorf("output_fields[%s] = %v, want %s", k, f, v)
				}
			}
			for _, k := range tt.noField {
				if _, ok := al.GetOutputFields()[k]; ok {
					t.Errorf("output_fields has %s", k)
				}
			}
			if al.GetOutputFields()["evt.time"] == nil {
				t.Error("no evt.time in output_fields")
			}
		})
	}
	// A format that does not compile for the source it names is an error.
	if _, err := CompileAppends([]AppendSpec{{Source: "syscall", ExtraOutput: "%no.such.field"}}, regs, suggested); err == nil {
		t.Error("a bad extra_output compiled")
	}
}
