package alertformat

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func sample() *harrierv1.Alert {
	t := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	return &harrierv1.Alert{Id: "0193-abc", Time: timestamppb.New(t), Rule: "Terminal shell in container",
		Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall", Output: "A shell was spawned",
		Tags: []string{"container", "shell"}, Hostname: "node-1", SensorId: "sensor-a", RulesetVersion: "rs1",
		ClusterName: "prod-eu", Count: 3, FirstTime: timestamppb.New(t.Add(-time.Minute)), LastTime: timestamppb.New(t),
		OutputFields: map[string]*harrierv1.FieldValue{
			"proc.name":                  {Kind: &harrierv1.FieldValue_StringValue{StringValue: "bash"}},
			"proc.pid":                   {Kind: &harrierv1.FieldValue_IntValue{IntValue: 4242}},
			"user.uid":                   {Kind: &harrierv1.FieldValue_IntValue{IntValue: 0}},
			"container.image.repository": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "nginx"}},
			"k8s.ns.name":                {Kind: &harrierv1.FieldValue_StringValue{StringValue: "prod"}},
			"k8s.pod.name":               {Kind: &harrierv1.FieldValue_StringValue{StringValue: "web-1"}},
			"fd.name":                    {Kind: &harrierv1.FieldValue_NullValue{}},
		}}
}

// get reads a dotted path of a decoded JSON document.
func get(doc map[string]any, path string) any {
	var v any = doc
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func decode(t *testing.T, format string) map[string]any {
	t.Helper()
	b, err := Encode(format, sample())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// check compares each mapped path of doc with its expected value (as
// fmt prints it; JSON numbers decode as float64).
func check(t *testing.T, doc map[string]any, want map[string]string) {
	t.Helper()
	for path, w := range want {
		if got := fmt.Sprint(get(doc, path)); got != w {
			t.Errorf("%s = %s, want %s", path, got, w)
		}
	}
}

func TestECS(t *testing.T) {
	check(t, decode(t, ECS), map[string]string{
		"@timestamp": "2026-11-24T10:00:00.123456789Z", "ecs.version": ECSVersion, "message": "A shell was spawned",
		"event.kind": "alert", "event.category": "[intrusion_detection]", "event.type": "[info]", "event.id": "0193-abc",
		"event.provider": "syscall", "event.module": "harrier", "event.dataset": "harrier.syscall", "event.severity": "4",
		"event.start": "2026-11-24T09:59:00.123456789Z", "event.end": "2026-11-24T10:00:00.123456789Z",
		"log.level": "warning", "rule.name": "Terminal shell in container", "rule.version": "rs1",
		"host.name": "node-1", "host.hostname": "node-1", "agent.type": "harrier-sensor", "agent.id": "sensor-a",
		"orchestrator.cluster.name": "prod-eu", "orchestrator.namespace": "prod", "orchestrator.resource.name": "web-1",
		"orchestrator.resource.type": "pod", "tags": "[container shell]",
		"process.name": "bash", "process.pid": "4242", "user.id": "0", "container.image.name": "nginx",
		"file.path":        "<nil>", // <NA> is left out
		"harrier.priority": "Warning", "harrier.count": "3",
	})
	// Output fields keep their Falco names (dots inside the key).
	of := get(decode(t, ECS), "harrier.output_fields").(map[string]any)
	if of["proc.pid"] != float64(4242) || of["fd.name"] != nil || len(of) != 7 {
		t.Errorf("harrier.output_fields = %v", of)
	}
}

func TestOCSF(t *testing.T) {
	doc := decode(t, OCSF)
	check(t, doc, map[string]string{
		"class_uid": "2004", "class_name": "Detection Finding", "category_uid": "2", "category_name": "Findings",
		"activity_id": "1", "type_uid": "200401", "time": "1.795514400123e+12", "severity_id": "3", "severity": "Medium",
		"status_id": "1", "message": "A shell was spawned",
		"finding_info.uid": "0193-abc", "finding_info.title": "Terminal shell in container",
		"finding_info.desc": "A shell was spawned", "finding_info.types": "[container shell]",
		"finding_info.analytic.name": "Terminal shell in container", "finding_info.analytic.type": "Rule",
		"finding_info.analytic.version": "rs1", "finding_info.first_seen_time": "1.795514340123e+12",
		"metadata.version": OCSFVersion, "metadata.product.name": "Harrier", "metadata.uid": "0193-abc",
		"metadata.log_name": "syscall", "metadata.labels": "[container shell]",
		"device.hostname": "node-1", "device.uid": "sensor-a", "device.container.image.name": "nginx",
		"process.name": "bash", "process.pid": "4242", "actor.user.uid": "0", "count": "3",
		"unmapped.priority": "Warning", "unmapped.cluster_name": "prod-eu",
	})
	if get(doc, "unmapped.output_fields").(map[string]any)["k8s.ns.name"] != "prod" {
		t.Error("unmapped.output_fields lacks k8s.ns.name")
	}
}

func TestSeverities(t *testing.T) {
	for p, want := range map[harrierv1.Priority]int{
		harrierv1.Priority_PRIORITY_EMERGENCY: 6, harrierv1.Priority_PRIORITY_CRITICAL: 5, harrierv1.Priority_PRIORITY_ERROR: 4,
		harrierv1.Priority_PRIORITY_NOTICE: 2, harrierv1.Priority_PRIORITY_DEBUG: 1, harrierv1.Priority_PRIORITY_UNSPECIFIED: 0,
	} {
		if got, _ := ocsfSeverity(p); got != want {
			t.Errorf("%v: %d, want %d", p, got, want)
		}
	}
	if Check("cef") == nil || Check("") != nil {
		t.Error("Check")
	}
}
