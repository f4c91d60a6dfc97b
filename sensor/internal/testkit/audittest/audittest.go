// Package audittest reads Falco's Kubernetes audit test files (one audit
// event, a JSON object, per line) for the k8s_audit tests: their events,
// the EventList kube-apiserver's webhook backend would POST, and what
// Falco's regression suite expects each file to fire.
package audittest

import (
	"bufio"
	"bytes"
	"os"
	"testing"
)

// Lines is the non-blank lines of path, trimmed: its events.
func Lines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			out = append(out, append([]byte(nil), l...))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

// EventList wraps events in an audit.k8s.io/v1 EventList.
func EventList(events [][]byte) []byte {
	return append(append([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`), bytes.Join(events, []byte(","))...), ']', '}')
}

// ReadmeExpect is the table of the shared testdata/falco/README.md: the
// rules (and how many alerts of each) Falco's regression suite expects each
// audit file to fire with rule_matching first.
var ReadmeExpect = map[string]map[string]int{
	"create_nginx_pod_privileged.json":        {"Create Privileged Pod": 1},
	"create_nginx_pod_nohostnetwork.json":     {},
	"create_nginx_service_nodeport.json":      {"Create NodePort Service": 1},
	"create_configmap_sensitive_values.json":  {"Create/Modify Configmap With Private Credentials": 6},
	"create_cluster_role_wildcard_verbs.json": {"ClusterRole With Wildcard Created": 1},
	"attach_cluster_admin_role.json":          {"Attach to cluster-admin Role": 1},
	"exec_pod.json":                           {"Attach/Exec Pod": 1},
	"anonymous_creates_namespace_foo.json":    {"Anonymous Request Allowed": 1},
	"create_deployment.json":                  {"K8s Deployment Created": 1},
	"delete_service.json":                     {"K8s Service Deleted": 1},
}
