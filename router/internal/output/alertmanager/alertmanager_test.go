package alertmanager

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

var t0 = time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)

func alert(id string, p harrierv1.Priority) *harrierv1.Alert {
	return &harrierv1.Alert{Id: id, Rule: "Terminal shell in container", Priority: p, Source: "syscall",
		Output: "A shell was spawned " + id, Time: timestamppb.New(t0), Hostname: "node-1",
		Tags: []string{"shell", "container"},
		OutputFields: map[string]*harrierv1.FieldValue{
			"k8s.ns.name":  {Kind: &harrierv1.FieldValue_StringValue{StringValue: "prod"}},
			"proc.pid":     {Kind: &harrierv1.FieldValue_IntValue{IntValue: 42}},
			"container.id": {Kind: &harrierv1.FieldValue_NullValue{}},
		}}
}

func TestConvert(t *testing.T) {
	now := t0.Add(time.Minute)
	tests := []struct {
		name   string
		cfg    Config
		prio   harrierv1.Priority
		labels map[string]string // subset that must match
		absent []string
		endsAt string
	}{
		{name: "defaults", prio: harrierv1.Priority_PRIORITY_WARNING,
			labels: map[string]string{"alertname": "Terminal shell in container", "priority": "warning", "severity": "warning",
				"source": "syscall", "hostname": "node-1", "tags": "container,shell"},
			absent: []string{"k8s_ns_name", "cluster"}},
		{name: "critical", prio: harrierv1.Priority_PRIORITY_EMERGENCY, labels: map[string]string{"severity": "critical", "priority": "emergency"}},
		{name: "info", prio: harrierv1.Priority_PRIORITY_NOTICE, labels: map[string]string{"severity": "info"}},
		{name: "severity map", prio: harrierv1.Priority_PRIORITY_NOTICE, cfg: Config{SeverityMap: map[string]string{"notice": "low"}},
			labels: map[string]string{"severity": "low"}},
		{name: "label fields and extras", prio: harrierv1.Priority_PRIORITY_ERROR,
			cfg:    Config{LabelFields: []string{"k8s.ns.name", "proc.pid", "missing.field"}, ExtraLabels: map[string]string{"team": "sec"}},
			labels: map[string]string{"k8s_ns_name": "prod", "proc_pid": "42", "team": "sec"}, absent: []string{"missing_field"}},
		{name: "null field dropped? no: <NA>", prio: harrierv1.Priority_PRIORITY_ERROR, cfg: Config{LabelFields: []string{"container.id"}},
			labels: map[string]string{"container_id": "<NA>"}},
		{name: "expires after delivery", prio: harrierv1.Priority_PRIORITY_ERROR, cfg: Config{ExpiresAfter: time.Hour},
			endsAt: now.Add(time.Hour).Format(time.RFC3339Nano)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Output{cfg: tt.cfg}
			got := o.convert(alert("a1", tt.prio), now)
			for k, v := range tt.labels {
				if got.Labels[k] != v {
					t.Errorf("label %s = %q, want %q (labels %v)", k, got.Labels[k], v, got.Labels)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got.Labels[k]; ok {
					t.Errorf("label %s present: %v", k, got.Labels)
				}
			}
			if got.EndsAt != tt.endsAt {
				t.Errorf("endsAt = %q, want %q", got.EndsAt, tt.endsAt)
			}
			if got.StartsAt != t0.Format(time.RFC3339Nano) || got.Annotations["uuid"] != "a1" ||
				!strings.Contains(got.Annotations["description"], "shell was spawned a1") {
				t.Errorf("alert %+v", got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{HostPort: "alertmanager:9093"},
		{HostPort: "http://a:9093", Endpoint: "api/v2/alerts"},
		{HostPort: "http://a:9093", ExpiresAfter: -time.Second},
		{HostPort: "http://a:9093", SeverityMap: map[string]string{"loud": "x"}},
		{HostPort: "http://a:9093", ExtraLabels: map[string]string{"bad-name": "x"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
