package k8saudit

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

const sharedAudit = "../../../../shared/testdata/falco/k8s_audit"

// extract reads one field (with an optional [arg]) of ev through the registry.
func extract(t *testing.T, ev *Event, field string) (fields.Value, bool) {
	t.Helper()
	name, arg := field, ""
	if i := strings.IndexByte(field, '['); i > 0 && strings.HasSuffix(field, "]") {
		name, arg = field[:i], field[i+1:len(field)-1]
	}
	d, dot, ok := Registry().Lookup(name)
	if !ok {
		t.Fatalf("field %s not registered", name)
	}
	if dot != "" {
		arg = dot
	}
	ex, err := d.Bind(arg)
	if err != nil {
		t.Fatalf("bind %s: %v", field, err)
	}
	var v fields.Value
	ok = ex(ev, &v)
	return v, ok
}

func render(v fields.Value, ok bool) string {
	if !ok {
		return "<NA>"
	}
	if v.IsList {
		return "(" + strings.Join(v.Strs, ",") + ")"
	}
	switch v.Kind {
	case fields.KindUint:
		return "uint"
	}
	return v.Str
}

const podEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"id-1","stage":"ResponseComplete",
"requestURI":"/api/v1/namespaces/default/pods/p1/exec?command=sh&command=-c&container=c1","verb":"create",
"user":{"username":"alice","groups":["dev","system:authenticated"]},"impersonatedUser":{"username":"bob"},
"sourceIPs":["10.0.0.1","::1"],"userAgent":"kubectl/v1.30",
"objectRef":{"resource":"pods","namespace":"default","name":"p1","subresource":"exec","apiVersion":"v1"},
"responseStatus":{"metadata":{},"code":201,"reason":"Created"},
"requestObject":{"kind":"Pod","spec":{
  "hostNetwork":true,"hostPID":false,
  "securityContext":{"runAsUser":1000,"fsGroup":2000,"supplementalGroups":[3000,3001]},
  "containers":[
    {"name":"a","image":"docker.io/nginx:1.25","command":["sh","-c"],"ports":[{"containerPort":80},{"containerPort":443,"hostPort":8443}],
     "securityContext":{"privileged":true,"runAsUser":0,"capabilities":{"add":["NET_ADMIN","SYS_TIME"]},"procMount":"Unmasked"}},
    {"name":"b","image":"registry.io/app@sha256:abc","securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true}}],
  "initContainers":[{"name":"init","image":"busybox:1","securityContext":{"privileged":true}}],
  "volumes":[{"name":"v1","hostPath":{"path":"/etc","type":""}},{"name":"v2","configMap":{"name":"cm"}},{"name":"v3","flexVolume":{"driver":"ex/drv"}}]}},
"responseObject":{"kind":"Pod","metadata":{"name":"p1-xyz"}},
"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed"},
"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.123456789Z"}`

func TestFields(t *testing.T) {
	var ev *Event
	if err := DecodeBytes([]byte(podEvent), func(e *Event) error { ev = e; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := ev.Time().UTC().Format("15:04:05.000000000"); got != "10:00:00.123456789" {
		t.Errorf("time = %s, want the stageTimestamp", got)
	}
	tests := []struct{ field, want string }{
		{"ka.auditid", "id-1"},
		{"ka.stage", "ResponseComplete"},
		{"ka.auth.decision", "allow"},
		{"ka.auth.reason", "RBAC: allowed"},
		{"ka.user.name", "alice"},
		{"ka.user.groups", "(dev,system:authenticated)"},
		{"ka.impuser.name", "bob"},
		{"ka.verb", "create"},
		{"ka.uri.param[command]", "sh"},
		{"ka.uri.param[container]", "c1"},
		{"ka.uri.param[nope]", "<NA>"},
		{"ka.target.name", "p1"},
		{"ka.target.namespace", "default"},
		{"ka.target.resource", "pods"},
		{"ka.target.subresource", "exec"},
		{"ka.target.pod.name", "p1"},
		{"ka.resp.name", "p1-xyz"},
		{"ka.response.code", "201"},
		{"ka.response.reason", "Created"},
		{"ka.useragent", "kubectl/v1.30"},
		{"ka.sourceips", "(10.0.0.1,::1)"},
		{"ka.sourceips[1]", "(::1)"},
		{"ka.sourceips[2]", "<NA>"},
		{"ka.req.pod.containers.image", "(docker.io/nginx:1.25,registry.io/app@sha256:abc)"},
		{"ka.req.pod.containers.image[1]", "(registry.io/app@sha256:abc)"},
		{"ka.req.pod.containers.image.repository", "(docker.io/nginx,registry.io/app)"},
		{"ka.req.container.image", "docker.io/nginx:1.25"},
		{"ka.req.container.image.repository", "docker.io/nginx"},
		{"ka.req.pod.containers.name", "(a,b)"},
		{"ka.req.pod.containers.command", `(["sh","-c"])`},
		{"ka.req.pod.containers.privileged", "(true)"},
		{"ka.req.container.privileged", "true"},
		{"ka.req.pod.initContainers.privileged", "(true)"},
		{"ka.req.pod.initContainers.image", "(busybox:1)"},
		{"ka.req.pod.ephemeralContainers.privileged", "<NA>"},
		{"ka.req.pod.containers.allow_privilege_escalation", "(false)"},
		{"ka.req.pod.containers.read_only_fs", "(true)"},
		{"ka.req.pod.containers.run_as_user", "(0)"},
		{"ka.req.pod.containers.eff_run_as_user", "(0,1000)"},
		{"ka.req.pod.containers.eff_run_as_group", "(0,0)"},
		{"ka.req.pod.containers.proc_mount", "(Unmasked)"},
		{"ka.req.pod.containers.add_capabilities", "(NET_ADMIN,SYS_TIME)"},
		{"ka.req.pod.containers.host_port", "(80,8443)"},
		{"ka.req.pod.host_network", "true"},
		{"ka.req.container.host_network", "true"},
		{"ka.req.pod.host_pid", "false"},
		{"ka.req.pod.host_ipc", "<NA>"},
		{"ka.req.pod.run_as_user", "1000"},
		{"ka.req.pod.run_as_group", "<NA>"},
		{"ka.req.pod.fs_group", "2000"},
		{"ka.req.pod.supplemental_groups", "(3000,3001)"},
		{"ka.req.pod.volumes.hostpath", "(/etc)"},
		{"ka.req.pod.volumes.flexvolume_driver", "(ex/drv)"},
		{"ka.req.pod.volumes.volume_type", "(hostPath,configMap,flexVolume)"},
		{"ka.req.volume.hostpath[/etc]", "true"},
		{"ka.req.volume.hostpath[/e*]", "true"},
		{"ka.req.volume.hostpath[/var]", "false"},
		{"ka.req.service.type", "<NA>"},
		{"ka.req.role.rules", "<NA>"},
		{"jevt.value[/stage]", "ResponseComplete"},
		{"jevt.value[/user/groups/1]", "system:authenticated"},
		{"jevt.value[/responseStatus/code]", "201"},
		{"jevt.value[/requestObject/spec/volumes/0/hostPath]", `{"path":"/etc","type":""}`},
		{"jevt.value[/annotations/authorization.k8s.io~1decision]", "allow"},
		{"jevt.value[/nope]", "<NA>"},
		{"jevt.value[/user/groups/7]", "<NA>"},
		{"json.value[/objectRef/name]", "p1"},
		{"jevt.rawtime", "uint"},
		{"jevt.time.iso8601", "2024-05-01T10:00:00.123456789Z"},
	}
	for _, tt := range tests {
		if got := render(extract(t, ev, tt.field)); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
		}
	}
	if v, _ := extract(t, ev, "jevt.rawtime"); v.Uint != uint64(ev.Time().UnixNano()) {
		t.Errorf("jevt.rawtime = %d", v.Uint)
	}
	if v, _ := extract(t, ev, "jevt.obj"); v.Str != string(ev.Raw()) {
		t.Errorf("jevt.obj is not the event text")
	}
}

const rbacEvent = `{"kind":"Event","auditID":"id-2","stage":"ResponseComplete","verb":"create",
"objectRef":{"resource":"clusterrolebindings","name":"b"},
"requestObject":{"kind":"ClusterRoleBinding","roleRef":{"kind":"ClusterRole","name":"cluster-admin"},
 "subjects":[{"kind":"User","name":"u1"},{"kind":"ServiceAccount","name":"sa","namespace":"ns"},{"kind":"Group","name":"g"}],
 "rules":[{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]},{"nonResourceURLs":["/healthz"],"verbs":["*"]}]}}`

func TestRBACFields(t *testing.T) {
	ev, err := ParseEvent([]byte(rbacEvent))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ field, want string }{
		{"ka.req.binding.role", "cluster-admin"},
		{"ka.req.binding.subjects", `({"kind":"User","name":"u1"},{"kind":"ServiceAccount","name":"sa","namespace":"ns"},{"kind":"Group","name":"g"})`},
		{"ka.req.binding.subjects.user_names", "(u1)"},
		{"ka.req.binding.subjects.serviceaccount_names", "(sa)"},
		{"ka.req.binding.subjects.serviceaccount_ns_names", "(ns:sa)"},
		{"ka.req.binding.subjects.group_names", "(g)"},
		{"ka.req.binding.subject.has_name[x]", "true"},
		{"ka.req.role.rules.verbs", "(get,create,*)"},
		{"ka.req.role.rules.verbs[1]", "(*)"},
		{"ka.req.role.rules.resources", "(pods,pods/exec)"},
		{"ka.req.role.rules.apiGroups", "()"},
		{"ka.req.role.rules.nonResourceURLs", "(/healthz)"},
		{"ka.req.role.rules", `({"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]},{"nonResourceURLs":["/healthz"],"verbs":["*"]})`},
		{"ka.req.pod.containers.image", "<NA>"},
		{"ka.resp.name", "<NA>"},
		{"ka.response.code", "<NA>"},
	}
	for _, tt := range tests {
		if got := render(extract(t, ev, tt.field)); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
		}
	}
}

func TestBindErrors(t *testing.T) {
	for _, f := range []struct{ name, arg string }{
		{"ka.req.pod.containers.image", "x"},
		{"ka.req.pod.containers.image", "-1"},
		{"ka.user.groups", "1"},
		{"ka.uri.param", ""},
		{"jevt.value", "stage"},
		{"jevt.value", "/a~2"},
		{"ka.verb", "x"},
	} {
		d, _, ok := Registry().Lookup(f.name)
		if !ok {
			t.Fatalf("%s missing", f.name)
		}
		if _, err := d.Bind(f.arg); err == nil {
			t.Errorf("%s[%s] bound without error", f.name, f.arg)
		}
	}
}

func TestDecodeForms(t *testing.T) {
	one := `{"kind":"Event","auditID":"a1","stage":"ResponseComplete"}`
	two := `{"kind":"Event","auditID":"a2"}`
	tests := []struct {
		name, in string
		want     []string
	}{
		{"lines", one + "\n" + two + "\n", []string{"a1", "a2"}},
		{"blank lines and CRLF", "\r\n" + one + "\r\n\r\n" + two, []string{"a1", "a2"}},
		{"event list", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + one + "," + two + `]}`, []string{"a1", "a2"}},
		{"empty event list", `{"kind":"EventList","items":[]}`, nil},
		{"array", "[" + one + "," + two + "]", []string{"a1", "a2"}},
		{"pretty single", "{\n  \"kind\": \"Event\",\n  \"auditID\": \"a1\"\n}\n", []string{"a1"}},
		{"empty", "  \n", nil},
	}
	for _, tt := range tests {
		var got []string
		err := DecodeBytes([]byte(tt.in), func(e *Event) error { got = append(got, e.AuditID()); return nil })
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good := `{"kind":"Event","auditID":"a1"}`
	tests := []struct {
		name, in  string
		line, col int
		item      int
		msg       string
	}{
		{"syntax on line 2", good + "\n{\"kind\":\"Event\",,}", 2, 17, -1, "invalid character"},
		{"truncated", good + "\n\n  {\"kind\":\"Ev", 3, 3, -1, "truncated"},
		{"not an object", good + "\n  42\n", 2, 3, -1, "expected an audit Event"},
		{"no auditID", `{"kind":"Event"}`, 1, 1, -1, "no auditID"},
		{"wrong kind", `{"kind":"Pod","auditID":"x"}`, 1, 1, -1, `kind is "Pod"`},
		{"bad item", `{"kind":"EventList","items":[` + good + `,{"kind":"Event"}]}`, 1, 1, 1, "no auditID"},
		{"wrong type", `{"kind":"Event","auditID":"x","user":"alice"}`, 1, 1, -1, "wrong JSON type"},
	}
	for _, tt := range tests {
		n := 0
		err := DecodeBytes([]byte(tt.in), func(*Event) error { n++; return nil })
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: err = %v, want *DecodeError", tt.name, err)
			continue
		}
		if de.Line != tt.line || de.Col != tt.col || de.Item != tt.item || !strings.Contains(de.Msg, tt.msg) {
			t.Errorf("%s: got %d:%d item %d %q; want %d:%d item %d containing %q", tt.name, de.Line, de.Col, de.Item, de.Msg, tt.line, tt.col, tt.item, tt.msg)
		}
	}
	stop := errors.New("stop")
	if err := DecodeBytes([]byte(good+good), func(*Event) error { return stop }); err != stop {
		t.Errorf("callback error not returned as is: %v", err)
	}
}

// TestSharedAuditFiles decodes Falco's recorded audit events and checks a
// few values the README's detections depend on.
func TestSharedAuditFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedAudit, "*.json"))
	if len(files) == 0 {
		require.Missing(t, "shared Falco test data not found at "+sharedAudit+" (only in the Harrier workspace)")
	}
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := DecodeBytes(data, func(e *Event) error {
			total++
			if e.Time().Year() < 2000 {
				t.Errorf("%s: event %s has no time", f, e.AuditID())
			}
			return nil
		}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if total != 15 {
		t.Errorf("decoded %d events, want 15", total)
	}
	data, _ := os.ReadFile(filepath.Join(sharedAudit, "create_nginx_pod_privileged.json"))
	ev, err := ParseEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(extract(t, ev, "ka.req.pod.containers.privileged")); got != "(true)" {
		t.Errorf("privileged = %s", got)
	}
}

func BenchmarkParseEvent(b *testing.B) {
	data := []byte(podEvent)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := ParseEvent(data)
		if err != nil {
			b.Fatal(err)
		}
		e.request()
	}
}

// BenchmarkDecodeEventList decodes an EventList as the webhook receives
// it (100 events: the pod and RBAC samples alternating).
func BenchmarkDecodeEventList(b *testing.B) {
	var buf strings.Builder
	buf.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		if i%2 == 0 {
			buf.WriteString(podEvent)
		} else {
			buf.WriteString(rbacEvent)
		}
	}
	buf.WriteString("]}")
	data := []byte(buf.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := DecodeBytes(data, func(*Event) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
