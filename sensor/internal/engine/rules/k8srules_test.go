package rules

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
)

// auditEvent builds an audit event from a base request and changes.
func auditEvent(t *testing.T, verb, resource, ns, name, subresource string, extra map[string]any) *k8saudit.Event {
	t.Helper()
	ev := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
		"auditID": "00000000-0000-0000-0000-000000000001", "stage": "ResponseComplete",
		"requestURI": "/api/v1/namespaces/" + ns + "/" + resource, "verb": verb,
		"user":           map[string]any{"username": "alice", "groups": []string{"system:authenticated"}},
		"objectRef":      map[string]any{"resource": resource, "namespace": ns, "name": name, "subresource": subresource},
		"responseStatus": map[string]any{"code": 201},
		"annotations":    map[string]any{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC"},
		"stageTimestamp": "2024-05-01T10:00:00.000000Z",
	}
	if subresource == "" {
		delete(ev["objectRef"].(map[string]any), "subresource")
	}
	maps.Copy(ev, extra)
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	e, err := k8saudit.ParseEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func pod(spec map[string]any) map[string]any {
	return map[string]any{"requestObject": map[string]any{"kind": "Pod", "spec": spec}, "responseObject": map[string]any{"metadata": map[string]any{"name": "p1"}}}
}

// TestFalcoK8sRulesSemantics drives Falco's k8s rules with synthetic events
// covering the field kinds the rules rely on (pod spec lists, scalar flags,
// RBAC lists, host paths, URI parameters), positive and negative.
func TestFalcoK8sRulesSemantics(t *testing.T) {
	rs, _, err := LoadFiles([]string{sharedFile(t, "rules/k8s_audit_rules.yaml")}, Options{Registries: k8sRegs(), Matching: MatchAll})
	if err != nil {
		t.Fatal(err)
	}
	container := func(image string, sc map[string]any) map[string]any {
		c := map[string]any{"name": "c", "image": image}
		if sc != nil {
			c["securityContext"] = sc
		}
		return c
	}
	tests := []struct {
		name  string
		ev    *k8saudit.Event
		fire  []string
		quiet []string
	}{
		{"host network pod", auditEvent(t, "create", "pods", "default", "", "", pod(map[string]any{"hostNetwork": true, "containers": []any{container("nginx", nil)}})),
			[]string{"Create HostNetwork Pod"}, []string{"Create Privileged Pod", "Create HostPid Pod"}},
		{"host network pod with an allowed image", auditEvent(t, "create", "pods", "default", "", "", pod(map[string]any{"hostNetwork": true, "containers": []any{container("gke.gcr.io/kube-proxy:v1", nil)}})),
			nil, []string{"Create HostNetwork Pod"}},
		{"host pid and ipc pod", auditEvent(t, "create", "pods", "default", "", "", pod(map[string]any{"hostPID": true, "hostIPC": true, "containers": []any{container("nginx", nil)}})),
			[]string{"Create HostPid Pod", "Create HostIPC Pod"}, []string{"Create HostNetwork Pod"}},
		{"privileged init container", auditEvent(t, "create", "pods", "default", "", "", pod(map[string]any{"containers": []any{container("nginx", nil)}, "initContainers": []any{container("busybox", map[string]any{"privileged": true})}})),
			[]string{"Create Privileged Pod"}, nil},
		{"privileged but allowed image", auditEvent(t, "create", "pods", "default", "", "", pod(map[string]any{"containers": []any{container("docker.io/calico/node:v3", map[string]any{"privileged": true})}})),
			nil, []string{"Create Privileged Pod"}},
		{"sensitive host path", auditEvent(t, "create", "pods", "default", "", "", pod(map[string]any{"containers": []any{container("nginx", nil)}, "volumes": []any{map[string]any{"name": "v", "hostPath": map[string]any{"path": "/etc"}}}})),
			[]string{"Create Sensitive Mount Pod"}, nil},
		{"harmless host path", auditEvent(t, "create", "pods", "default", "", "", pod(map[string]any{"containers": []any{container("nginx", nil)}, "volumes": []any{map[string]any{"name": "v", "hostPath": map[string]any{"path": "/srv/data"}}}})),
			nil, []string{"Create Sensitive Mount Pod"}},
		{"pod in kube-system", auditEvent(t, "create", "pods", "kube-system", "", "", pod(map[string]any{"containers": []any{container("evil/miner:1", nil)}})),
			[]string{"Pod Created in Kube Namespace"}, nil},
		{"allowed pod in kube-system", auditEvent(t, "create", "pods", "kube-system", "", "", pod(map[string]any{"containers": []any{container("registry.k8s.io/kube-apiserver:v1.30", nil)}})),
			nil, []string{"Pod Created in Kube Namespace"}},
		{"service account in kube-system", auditEvent(t, "create", "serviceaccounts", "kube-system", "backdoor", "", nil),
			[]string{"Service Account Created in Kube Namespace", "K8s Serviceaccount Created"}, nil},
		{"trusted service account in kube-system", auditEvent(t, "create", "serviceaccounts", "kube-system", "coredns", "", nil),
			[]string{"K8s Serviceaccount Created"}, []string{"Service Account Created in Kube Namespace"}},
		{"system cluster role deleted", auditEvent(t, "delete", "clusterroles", "", "system:node", "", map[string]any{"responseStatus": map[string]any{"code": 200}}),
			[]string{"System ClusterRole Modified/Deleted", "K8s ClusterRole Deleted"}, nil},
		{"write and exec cluster role", auditEvent(t, "create", "clusterroles", "", "r", "", map[string]any{"requestObject": map[string]any{"rules": []any{
			map[string]any{"apiGroups": []string{""}, "resources": []string{"pods/exec"}, "verbs": []string{"create"}}}}}),
			[]string{"ClusterRole With Write Privileges Created", "ClusterRole With Pod Exec Created"}, []string{"ClusterRole With Wildcard Created"}},
		{"read-only cluster role", auditEvent(t, "create", "clusterroles", "", "r", "", map[string]any{"requestObject": map[string]any{"rules": []any{
			map[string]any{"resources": []string{"pods"}, "verbs": []string{"get", "list"}}}}}),
			[]string{"K8s ClusterRole Created"}, []string{"ClusterRole With Write Privileges Created", "ClusterRole With Pod Exec Created", "ClusterRole With Wildcard Created"}},
		{"port-forward", auditEvent(t, "create", "pods", "default", "p1", "portforward", nil),
			[]string{"port-forward"}, nil},
		{"exec while the response streams", auditEvent(t, "create", "pods", "default", "p1", "exec", map[string]any{"stage": "ResponseStarted", "requestURI": "/api/v1/namespaces/default/pods/p1/exec?command=sh"}),
			[]string{"Attach/Exec Pod"}, nil},
		{"exec completed", auditEvent(t, "create", "pods", "default", "p1", "exec", nil),
			nil, []string{"Attach/Exec Pod"}},
		{"ephemeral container", auditEvent(t, "patch", "pods", "default", "p1", "ephemeralcontainers", nil),
			[]string{"EphemeralContainers Created"}, nil},
		{"secret read", auditEvent(t, "get", "secrets", "default", "db", "", map[string]any{"responseStatus": map[string]any{"code": 200}}),
			[]string{"K8s Secret Get Successfully"}, []string{"K8s Secret Get Unsuccessfully Tried"}},
		{"secret read refused", auditEvent(t, "get", "secrets", "default", "db", "", map[string]any{"responseStatus": map[string]any{"code": 403}}),
			[]string{"K8s Secret Get Unsuccessfully Tried"}, []string{"K8s Secret Get Successfully"}},
		{"ingress without tls", auditEvent(t, "create", "ingresses", "default", "web", "", map[string]any{"requestObject": map[string]any{"spec": map[string]any{"rules": []any{}}}}),
			[]string{"Ingress Object without TLS Certificate Created"}, nil},
		{"ingress with tls", auditEvent(t, "create", "ingresses", "default", "web", "", map[string]any{"requestObject": map[string]any{"spec": map[string]any{"tls": []any{map[string]any{"secretName": "s"}}}}}),
			nil, []string{"Ingress Object without TLS Certificate Created"}},
		{"anonymous health check", auditEvent(t, "get", "", "", "", "", map[string]any{"user": map[string]any{"username": "system:anonymous"}, "requestURI": "/healthz?verbose"}),
			nil, []string{"Anonymous Request Allowed"}},
		{"nodeport service in another stage", auditEvent(t, "create", "services", "default", "s", "", map[string]any{"stage": "RequestReceived", "requestObject": map[string]any{"spec": map[string]any{"type": "NodePort"}}}),
			nil, []string{"Create NodePort Service"}},
	}
	for _, tt := range tests {
		var got []string
		rs.Evaluate(tt.ev, func(r *Rule) { got = append(got, r.Name) })
		for _, want := range tt.fire {
			if !slices.Contains(got, want) {
				t.Errorf("%s: %q did not fire (fired %v)", tt.name, want, got)
			}
		}
		for _, never := range tt.quiet {
			if slices.Contains(got, never) {
				t.Errorf("%s: %q fired", tt.name, never)
			}
		}
	}
}
