package deploytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"sigs.k8s.io/yaml"
)

const allOptions = "ci/all-options-values.yaml"

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "charts", "harrier") }

func TestHelmLint(t *testing.T) {
	for _, values := range []string{"", allOptions} {
		args := []string{"lint", "--strict", chartDir(t)}
		if values != "" {
			args = append(args, "-f", filepath.Join(chartDir(t), values))
		}
		out, err := exec.Command(helmBinary(t), args...).CombinedOutput()
		if err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every way of rendering the chart yields manifests that decode strictly,
// with no subPath mounts (they would freeze ConfigMap updates) and every
// mount backed by a volume.
func TestChartRendersStrictly(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults":    nil,
		"all options": {"-f", filepath.Join(chartDir(t), allOptions)},
		"existing secret, no persistence, custom rules only": {
			"--set", "secrets.existingSecret=my-secrets", "--set", "router.persistence.enabled=false",
			"--set", "rules.default=false", "--set-string", "rules.custom.site\\.yaml=- list: x\n  items: []",
			"--set", "auth.ingestToken=true", "--set", "tls.enabled=true", "--set", "tls.routerSecret=rt"},
		"existing claim, TLS without mutual": {
			"--set", "router.persistence.existingClaim=harrier-journal", "--set", "tls.enabled=true", "--set", "tls.routerSecret=rt"},
		"sensor only":         {"--set", "router.enabled=false", "--set", "sensor.routerAddress=router.example.com:2802"},
		"router only":         {"--set", "sensor.enabled=false", "--set", "serviceMonitor.enabled=true"},
		"no audit webhook":    {"--set", "sensor.auditWebhook.enabled=false"},
		"capabilities + caps": {"--set", "sensor.privileged=false", "--set", "sensor.hostNetwork=true"},
	} {
		t.Run(name, func(t *testing.T) {
			ms := render(t, args...)
			for _, m := range ms {
				var spec *corev1.PodSpec
				switch o := m.Object.(type) {
				case *appsv1.DaemonSet:
					spec = &o.Spec.Template.Spec
				case *appsv1.Deployment:
					spec = &o.Spec.Template.Spec
				default:
					continue
				}
				vols := map[string]bool{}
				for _, v := range spec.Volumes {
					vols[v.Name] = true
				}
				for _, c := range spec.Containers {
					for _, vm := range c.VolumeMounts {
						if vm.SubPath != "" || vm.SubPathExpr != "" {
							t.Errorf("%s: mount %s uses subPath: kubelet never updates it, so hot reload would not see edits", m.Source, vm.Name)
						}
						if !vols[vm.Name] {
							t.Errorf("%s: mount %s has no volume", m.Source, vm.Name)
						}
					}
				}
			}
			// Objects the chart refers to by name exist in the release
			// (unless the user names their own).
			cms, secrets := find[*corev1.ConfigMap](ms), find[*corev1.Secret](ms)
			pvcs := find[*corev1.PersistentVolumeClaim](ms)
			for _, m := range ms {
				var spec *corev1.PodSpec
				switch o := m.Object.(type) {
				case *appsv1.DaemonSet:
					spec = &o.Spec.Template.Spec
				case *appsv1.Deployment:
					spec = &o.Spec.Template.Spec
				default:
					continue
				}
				for _, v := range spec.Volumes {
					switch {
					case v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, "harrier"):
						if cms[v.ConfigMap.Name] == nil {
							t.Errorf("%s: volume %s: ConfigMap %s is not rendered", m.Source, v.Name, v.ConfigMap.Name)
						}
					case v.Secret != nil && v.Secret.SecretName == "harrier-secrets":
						s := secrets[v.Secret.SecretName]
						if s == nil {
							t.Errorf("%s: volume %s: Secret %s is not rendered", m.Source, v.Name, v.Secret.SecretName)
							continue
						}
						for _, it := range v.Secret.Items {
							if _, ok := s.Data[it.Key]; !ok {
								t.Errorf("%s: volume %s: Secret %s has no key %s", m.Source, v.Name, s.Name, it.Key)
							}
						}
					case v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "harrier-router":
						if pvcs[v.PersistentVolumeClaim.ClaimName] == nil {
							t.Errorf("%s: claim %s is not rendered", m.Source, v.PersistentVolumeClaim.ClaimName)
						}
					}
				}
			}
		})
	}
}

func TestChartDefaults(t *testing.T) {
	ms := render(t)
	ds := one[*appsv1.DaemonSet](t, ms)
	pod := ds.Spec.Template.Spec
	if _, ok := ds.Spec.Template.Annotations["checksum/rules"]; ok {
		t.Error("sensor pods roll on rules changes by default; hot reload should handle them")
	}
	if !pod.HostPID {
		t.Error("sensor: hostPID is off; the process table needs the host's PIDs")
	}
	if !slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == ""
	}) {
		t.Errorf("sensor: no toleration of every taint: %+v", pod.Tolerations)
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged {
		t.Fatalf("sensor: want unprivileged by default, got %+v", sc)
	}
	var added []string
	for _, cp := range sc.Capabilities.Add {
		added = append(added, string(cp))
	}
	slices.Sort(added)
	if want := []string{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE"}; !slices.Equal(added, want) {
		t.Errorf("sensor capabilities: got %v, want %v", added, want)
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("sensor: other capabilities are not dropped")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("sensor probes: %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("sensor resources: %+v", c.Resources)
	}
	hostPaths := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.HostPath.Path] = v.Name
		}
	}
	for _, p := range []string{"/proc", "/sys/kernel/btf", "/sys/fs/cgroup", "/run/containerd", "/var/lib/harrier/spool"} {
		if hostPaths[p] == "" {
			t.Errorf("sensor: host path %s is not mounted", p)
		}
	}
	for _, vm := range c.VolumeMounts {
		if hostPaths["/var/lib/harrier/spool"] != vm.Name && strings.HasPrefix(vm.MountPath, "/host") && !vm.ReadOnly {
			t.Errorf("sensor: host mount %s is writable", vm.MountPath)
		}
	}

	// The audit webhook Service.
	var audit *corev1.Service
	for _, s := range find[*corev1.Service](ms) {
		if strings.HasSuffix(s.Name, "-audit") {
			audit = s
		}
	}
	if audit == nil || audit.Spec.Ports[0].Port != 8765 || audit.Spec.Ports[0].TargetPort.StrVal != "audit" {
		t.Fatalf("audit webhook Service: %+v", audit)
	}
	if !hasPort(c, "audit", 8765) {
		t.Error("sensor: no container port named audit (8765)")
	}

	// The sensor's configuration streams to the router's Service.
	sensorCfg := configYAML(t, ms, "harrier-sensor", "sensor.yaml")
	grpc := sensorCfg["outputs"].(map[string]any)["grpc"].(map[string]any)
	if grpc["enabled"] != true || grpc["address"] != "harrier-router.security.svc:2802" {
		t.Errorf("sensor grpc output: %v", grpc)
	}
	audCfg := sensorCfg["sources"].(map[string]any)["k8s_audit"].(map[string]any)
	if audCfg["listen"] != ":8765" {
		t.Errorf("sensor k8s_audit.listen = %v, want :8765", audCfg["listen"])
	}

	// Router: one replica on a claim, probes, ports.
	dep := one[*appsv1.Deployment](t, ms)
	rc := dep.Spec.Template.Spec.Containers[0]
	for name, port := range map[string]int32{"grpc": 2802, "http": 2801, "metrics": 2803} {
		if !hasPort(rc, name, port) {
			t.Errorf("router: no container port %s=%d", name, port)
		}
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Error("router: the journal has one writer; the Deployment must use Recreate")
	}
	if sc := dep.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("router: not runAsNonRoot")
	}
	pvc := one[*corev1.PersistentVolumeClaim](t, ms)
	if pvc.Spec.Resources.Requests.Storage().String() != "10Gi" {
		t.Errorf("router claim size %v", pvc.Spec.Resources.Requests.Storage())
	}
	routerCfg := configYAML(t, ms, "harrier-router", "router.yaml")
	if routerCfg["grpc"].(map[string]any)["address"] != ":2802" || routerCfg["http"].(map[string]any)["metrics_address"] != ":2803" {
		t.Errorf("router listeners: %v %v", routerCfg["grpc"], routerCfg["http"])
	}
	if _, ok := routerCfg["outputs"]; ok {
		t.Errorf("router: no outputs are enabled by default, got %v", routerCfg["outputs"])
	}

	// Harrier's rules, exactly as in the repository.
	rules := find[*corev1.ConfigMap](ms)["harrier-rules"]
	if rules == nil {
		t.Fatal("no harrier-rules ConfigMap")
	}
	for _, f := range repoRules(t) {
		want := string(readFile(t, f))
		if got := rules.Data[filepath.Base(f)]; got != want {
			t.Errorf("harrier-rules %s differs from %s (%d vs %d bytes)", filepath.Base(f), f, len(got), len(want))
		}
	}
	if len(find[*monitoringv1.ServiceMonitor](ms)) != 0 {
		t.Error("ServiceMonitors rendered while serviceMonitor.enabled is false")
	}
}

func TestChartAllOptions(t *testing.T) {
	ms := render(t, "-f", filepath.Join(chartDir(t), allOptions))
	ds := one[*appsv1.DaemonSet](t, ms)
	if sc := ds.Spec.Template.Spec.Containers[0].SecurityContext; sc.Privileged == nil || !*sc.Privileged {
		t.Error("sensor.privileged: true did not make the sensor privileged")
	}
	if ds.Spec.Template.Annotations["checksum/rules"] == "" {
		t.Error("rules.rolloutOnChange: true did not put the rules checksum on the sensor pods")
	}
	if got := len(find[*monitoringv1.ServiceMonitor](ms)); got != 2 {
		t.Errorf("want 2 ServiceMonitors (sensor, router), got %d", got)
	}

	// Secrets reach the daemons as files; no ConfigMap holds one.
	secret := find[*corev1.Secret](ms)["hr-secrets"]
	if secret == nil {
		t.Fatal("no hr-secrets Secret")
	}
	for _, k := range []string{"elasticsearch-password", "elasticsearch-apikey", "kafka-password", "ingest-token", "client-token", "audit-token"} {
		if len(secret.Data[k]) == 0 {
			t.Errorf("Secret has no %s", k)
		}
	}
	for _, cm := range find[*corev1.ConfigMap](ms) {
		for file, content := range cm.Data {
			for k, v := range secret.Data {
				if strings.Contains(content, string(v)) {
					t.Errorf("ConfigMap %s/%s contains the secret %s", cm.Name, file, k)
				}
			}
		}
	}

	r := configYAML(t, ms, "hr-router", "router.yaml")
	outs := r["outputs"].(map[string]any)
	es := outs["elasticsearch"].(map[string]any)["default"].(map[string]any)
	if es["minimumpriority"] != "notice" || es["suffix"] != "monthly" || es["password_file"] != "/etc/harrier/secrets/elasticsearch-password" {
		t.Errorf("elasticsearch output: %v", es)
	}
	kafka := outs["kafka"].(map[string]any)["default"].(map[string]any)
	if kafka["minimumpriority"] != "warning" || kafka["password_file"] != "/etc/harrier/secrets/kafka-password" || kafka["sasl"] != "SCRAM-SHA-512" {
		t.Errorf("kafka output: %v", kafka)
	}
	hooks := outs["webhook"].(map[string]any)
	if hooks["soc"].(map[string]any)["minimumpriority"] != "error" || hooks["chatops"] == nil {
		t.Errorf("webhooks: %v", hooks)
	}
	if outs["stdout"] == nil {
		t.Error("stdout output missing")
	}
	grpc := r["grpc"].(map[string]any)
	tls := grpc["tls"].(map[string]any)
	if tls["client_ca_file"] != "/etc/harrier/tls/ca.crt" || grpc["ingest_tokens_file"] == nil || grpc["client_tokens_file"] == nil {
		t.Errorf("router grpc: %v", grpc)
	}
	if r["subscriptions"].(map[string]any)["buffer"] != float64(8192) {
		t.Errorf("router.extraConfig not merged: %v", r["subscriptions"])
	}

	s := configYAML(t, ms, "hr-sensor", "sensor.yaml")
	sg := s["outputs"].(map[string]any)["grpc"].(map[string]any)
	stls := sg["tls"].(map[string]any)
	if stls["cert_file"] != "/etc/harrier/tls/tls.crt" || stls["server_name"] != "router.harrier.example.com" || sg["token_file"] != "/etc/harrier/secrets/ingest-token" {
		t.Errorf("sensor grpc: %v", sg)
	}
	files := s["rules"].(map[string]any)["files"].([]any)
	if want := []any{"/etc/harrier/rules.d", "/etc/harrier/rules.custom.d", "/etc/harrier/rules.extra.d"}; !slices.Equal(files, want) {
		t.Errorf("sensor rules.files = %v, want %v", files, want)
	}
	if s["aggregation"].(map[string]any)["enabled"] != true {
		t.Error("sensor.extraConfig not merged")
	}
	a := s["sources"].(map[string]any)["k8s_audit"].(map[string]any)
	if a["token_file"] != "/etc/harrier/secrets/audit-token" || a["tls"].(map[string]any)["ca_file"] != "/etc/harrier/audit-tls/ca.crt" {
		t.Errorf("sensor k8s_audit: %v", a)
	}
}

// A sensor-only release streams to the router it is given.
func TestChartSensorOnly(t *testing.T) {
	ms := render(t, "--set", "router.enabled=false", "--set", "sensor.routerAddress=router.example.com:2802")
	if len(find[*appsv1.Deployment](ms)) != 0 {
		t.Error("router.enabled=false still renders the router")
	}
	grpc := configYAML(t, ms, "harrier-sensor", "sensor.yaml")["outputs"].(map[string]any)["grpc"].(map[string]any)
	if grpc["enabled"] != true || grpc["address"] != "router.example.com:2802" {
		t.Errorf("sensor grpc output: %v", grpc)
	}
	grpc = configYAML(t, render(t, "--set", "router.enabled=false"), "harrier-sensor", "sensor.yaml")["outputs"].(map[string]any)["grpc"].(map[string]any)
	if grpc["enabled"] != false {
		t.Errorf("no router anywhere, yet the sensor streams to one: %v", grpc)
	}
}

// Router replicas on the Kafka journal: a rolling Deployment of N pods
// without a claim, a headless Service the sensors resolve (one record per
// replica), a PodDisruptionBudget, and the router's journal.kafka block.
func TestChartRouterReplicasOnKafka(t *testing.T) {
	ms := render(t, "--set", "router.replicas=3", "--set", "router.journal.backend=kafka",
		"--set", "router.journal.kafka.brokers={kafka-0:9092,kafka-1:9092}", "--set", "router.journal.kafka.partitions=24")
	d := find[*appsv1.Deployment](ms)["harrier-router"]
	if d == nil || *d.Spec.Replicas != 3 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Fatalf("router deployment: %+v", d)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("replicas share no claim: volume %s", v.Name)
		}
	}
	if len(find[*corev1.PersistentVolumeClaim](ms)) != 0 {
		t.Error("a PersistentVolumeClaim is rendered for stateless replicas")
	}
	h := find[*corev1.Service](ms)["harrier-router-headless"]
	if h == nil || h.Spec.ClusterIP != corev1.ClusterIPNone || !hasServicePort(h, "grpc", 2802) {
		t.Fatalf("headless service: %+v", h)
	}
	pdb := find[*policyv1.PodDisruptionBudget](ms)["harrier-router"]
	if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Fatalf("pod disruption budget: %+v", pdb)
	}
	grpc := configYAML(t, ms, "harrier-sensor", "sensor.yaml")["outputs"].(map[string]any)["grpc"].(map[string]any)
	if grpc["address"] != "dns:///harrier-router-headless.security.svc:2802" {
		t.Errorf("sensors reach %v, want the headless Service through gRPC's DNS resolver", grpc["address"])
	}
	j := configYAML(t, ms, "harrier-router", "router.yaml")["journal"].(map[string]any)
	k := j["kafka"].(map[string]any)
	if j["backend"] != "kafka" || len(k["brokers"].([]any)) != 2 || k["partitions"] != float64(24) {
		t.Errorf("router journal: %v", j)
	}
	// One router (the default) keeps its claim and gets no headless Service.
	ms = render(t)
	if len(find[*policyv1.PodDisruptionBudget](ms)) != 0 || find[*corev1.Service](ms)["harrier-router-headless"] != nil {
		t.Error("one router renders a PodDisruptionBudget or a headless Service")
	}
}

func hasServicePort(s *corev1.Service, name string, port int32) bool {
	for _, p := range s.Spec.Ports {
		if p.Name == name && p.Port == port {
			return true
		}
	}
	return false
}

// Settings that cannot work together fail with a message naming the value.
func TestChartRefusesBadValues(t *testing.T) {
	for want, args := range map[string][]string{
		"auth.ingestToken needs tls.enabled":           {"--set", "auth.ingestToken=true"},
		"auth.clientToken needs tls.enabled":           {"--set", "auth.clientToken=true"},
		"tls.enabled needs tls.routerSecret":           {"--set", "tls.enabled=true"},
		"tls.mutual needs tls.sensorSecret":            {"--set", "tls.enabled=true", "--set", "tls.routerSecret=x", "--set", "tls.mutual=true"},
		"router.outputs.elasticsearch.enabled needs":   {"--set", "router.outputs.elasticsearch.enabled=true"},
		"router.outputs.webhooks.soc.address":          {"--set", "router.outputs.webhooks.soc.minimumpriority=error"},
		"rules.custom.notes.txt: rules file names end": {"--set-string", "rules.custom.notes\\.txt=x"},
		"no rules": {"--set", "rules.default=false"},
		"router.replicas > 1 needs router.journal.backend: kafka":         {"--set", "router.replicas=2"},
		"router.journal.backend kafka needs router.journal.kafka.brokers": {"--set", "router.journal.backend=kafka"},
		"router.journal.backend: want local or kafka":                     {"--set", "router.journal.backend=nats"},
	} {
		_, err := helmTemplate(t, args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("helm template %v: want an error containing %q, got %v", args, want, err)
		}
	}
}

// The NOTES tell how to point kube-apiserver at the audit webhook. helm
// renders NOTES.txt only when installing (which needs a cluster), so a
// copy of the chart renders it as an ordinary template.
func TestChartNotes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "harrier")
	if err := os.CopyFS(dir, os.DirFS(chartDir(t))); err != nil {
		t.Fatal(err)
	}
	// helm parses what templates render as YAML: wrap the notes in a
	// block scalar.
	notes := readFile(t, filepath.Join(dir, "templates", "NOTES.txt"))
	for name, content := range map[string]string{
		"_notes.tpl": `{{- define "harrier.testNotes" -}}` + string(notes) + `{{- end -}}`,
		"notes.yaml": "notes: |\n{{- include \"harrier.testNotes\" . | nindent 2 }}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, "templates", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "templates", "NOTES.txt")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--set", "sensor.auditWebhook.service.clusterIP=10.96.0.65"}, []string{
			"--audit-webhook-config-file=", "--audit-policy-file=", "--audit-webhook-batch-max-wait=",
			"server: http://10.96.0.65:8765/k8s_audit", "kind: Policy", "harrierctl subscribe",
		}},
		{[]string{"--set", "sensor.auditWebhook.token=true", "--set", "sensor.auditWebhook.tls.enabled=true",
			"--set", "sensor.auditWebhook.tls.secretName=audit-tls"}, []string{
			"server: https://<CLUSTER-IP>:8765/k8s_audit", "token: <the audit-token key", "certificate-authority:",
		}},
	} {
		out, err := exec.Command(helmBinary(t), append([]string{"template", "harrier", dir, "--namespace", "security",
			"--show-only", "templates/notes.yaml"}, tc.args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm template NOTES: %v\n%s", err, out)
		}
		for _, want := range tc.want {
			if !strings.Contains(string(out), want) {
				t.Errorf("NOTES (%v) lack %q:\n%s", tc.args, want, out)
			}
		}
		checkNotesFiles(t, string(out))
	}
}

// checkNotesFiles decodes the two files the NOTES tell people to write on
// their control-plane nodes, strictly: the webhook kubeconfig and the
// audit policy.
func checkNotesFiles(t *testing.T, notes string) {
	t.Helper()
	var kubeconfig, policy int
	for _, block := range indentedBlocks(notes, "     ") {
		switch {
		case strings.Contains(block, "kind: Config"):
			kubeconfig++
			var c clientcmdv1.Config
			if err := yaml.UnmarshalStrict([]byte(block), &c); err != nil {
				t.Errorf("NOTES: the webhook kubeconfig does not decode: %v\n%s", err, block)
				continue
			}
			if len(c.Clusters) != 1 || !strings.HasSuffix(c.Clusters[0].Cluster.Server, ":8765/k8s_audit") || c.CurrentContext == "" {
				t.Errorf("NOTES: webhook kubeconfig %+v", c)
			}
		case strings.Contains(block, "kind: Policy"):
			policy++
			js, err := yaml.YAMLToJSONStrict([]byte(block))
			if err == nil {
				_, _, err = auditDecoder.Decode(js, nil, nil)
			}
			if err != nil {
				t.Errorf("NOTES: the audit policy does not decode strictly: %v\n%s", err, block)
			}
		}
	}
	if kubeconfig != 1 || policy != 1 {
		t.Errorf("NOTES: want one kubeconfig and one audit policy, found %d and %d", kubeconfig, policy)
	}
}

var auditDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	if err := auditv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// indentedBlocks returns the runs of lines indented by at least prefix,
// with prefix removed.
func indentedBlocks(text, prefix string) []string {
	var blocks []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
			cur = nil
		}
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			cur = append(cur, strings.TrimPrefix(l, prefix))
			continue
		}
		flush()
	}
	flush()
	return blocks
}

// charts/harrier/rules is a copy of rules/ (Helm cannot read outside the
// chart); `make chart-rules` refreshes it.
func TestChartRulesCopy(t *testing.T) {
	repo := repoRules(t)
	chart, _ := filepath.Glob(filepath.Join(chartDir(t), "rules", "*.yaml"))
	if len(chart) != len(repo) {
		t.Fatalf("charts/harrier/rules has %d files, rules/ has %d: run make chart-rules", len(chart), len(repo))
	}
	for _, f := range repo {
		c, err := os.ReadFile(filepath.Join(chartDir(t), "rules", filepath.Base(f)))
		if err != nil || !bytes.Equal(c, readFile(t, f)) {
			t.Errorf("charts/harrier/rules/%s differs from rules/: run make chart-rules", filepath.Base(f))
		}
	}
}

func repoRules(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "rules", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules/*.yaml: %v", err)
	}
	return files
}

func hasPort(c corev1.Container, name string, port int32) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name && p.ContainerPort == port })
}

// configYAML parses one file of a rendered ConfigMap.
func configYAML(t *testing.T, ms []manifest, cm, file string) map[string]any {
	t.Helper()
	c := find[*corev1.ConfigMap](ms)[cm]
	if c == nil {
		t.Fatalf("no ConfigMap %s", cm)
	}
	var m map[string]any
	if err := yaml.UnmarshalStrict([]byte(c.Data[file]), &m); err != nil {
		t.Fatalf("ConfigMap %s/%s: %v", cm, file, err)
	}
	return m
}

// TestChartIngestTokenImpliesClientToken: once sensors need a token the
// router closes subscriptions and dead letters to callers without a client
// token, so the chart generates one (and mounts it) even when
// auth.clientToken is left false: clients are never locked out.
func TestChartIngestTokenImpliesClientToken(t *testing.T) {
	for name, args := range map[string][]string{
		"ingest only": {"--set", "auth.ingestToken=true", "--set", "tls.enabled=true", "--set", "tls.routerSecret=rt"},
		"both":        {"--set", "auth.ingestToken=true", "--set", "auth.clientToken=true", "--set", "tls.enabled=true", "--set", "tls.routerSecret=rt"},
		"client only": {"--set", "auth.clientToken=true", "--set", "tls.enabled=true", "--set", "tls.routerSecret=rt"},
	} {
		t.Run(name, func(t *testing.T) {
			ms := render(t, args...)
			grpc, _ := configYAML(t, ms, "harrier-router", "router.yaml")["grpc"].(map[string]any)
			if f, _ := grpc["client_tokens_file"].(string); !strings.HasSuffix(f, "/client-token") {
				t.Errorf("router grpc.client_tokens_file = %q, want the mounted client-token", f)
			}
			s := find[*corev1.Secret](ms)["harrier-secrets"]
			if s == nil || len(s.Data["client-token"]) < 16 {
				t.Fatalf("Secret harrier-secrets has no generated client-token")
			}
			d := find[*appsv1.Deployment](ms)["harrier-router"]
			if d == nil {
				t.Fatal("no router Deployment")
			}
			mounted := false
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Secret != nil && v.Secret.SecretName == "harrier-secrets" {
					mounted = mounted || slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Key == "client-token" })
				}
			}
			if !mounted {
				t.Error("the router does not mount the client-token")
			}
		})
	}
	// Neither token: no client token either (loopback-free open router is
	// the user's explicit choice, warned about by the router itself).
	grpc, _ := configYAML(t, render(t), "harrier-router", "router.yaml")["grpc"].(map[string]any)
	if _, ok := grpc["client_tokens_file"]; ok {
		t.Error("defaults set a client token file although no token is configured")
	}
}
