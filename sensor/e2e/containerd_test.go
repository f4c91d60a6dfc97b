package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"gopkg.in/yaml.v3"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/harrier-security/harrier/sensor/internal/testkit/ocitest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/syncbuf"
)

const (
	falcoRules   = "../../../shared/testdata/falco/rules/falco_rules.yaml"
	sandboxRules = "../../../shared/testdata/falco/rules-releases/falco-sandbox_rules-5.0.1.yaml"
	e2eImage     = "docker.io/harrier/busybox:e2e"
)

// requireOrSkip skips when the test cannot run here; with
// HARRIER_REQUIRE_ALL=1 (CI, as root) that is a failure instead.
func requireOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// containerd is a real containerd with its own root, state and socket under
// a temporary directory, so that it touches nothing of the host's.
type containerd struct {
	dir, sock string
	cmd       *exec.Cmd
	log       *syncbuf.Buffer
	rt        runtimeapi.RuntimeServiceClient
}

func startContainerd(t *testing.T) *containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		requireOrSkip(t, "needs root to run containers")
	}
	for _, bin := range []string{"containerd", "ctr", "runc", "busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			requireOrSkip(t, "%s not installed (Debian packages containerd, runc, busybox-static; scripts/setup.sh)", bin)
		}
	}
	busybox, _ := exec.LookPath("busybox")
	if out, _ := exec.Command("file", "-L", busybox).Output(); len(out) > 0 && !strings.Contains(string(out), "static") {
		// busybox-static replaces the dynamic busybox; the image has no libc.
		t.Logf("busybox: %s", out)
	}
	dir, err := os.MkdirTemp("", "hc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), log: &syncbuf.Buffer{}}
	// The sandbox ("pause") image is the same local busybox image: its
	// command sleeps. No registry is reachable, and none is needed. Pods
	// use the host network, so no CNI plugin is needed either.
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Lowering oom_score_adj (-998 for sandboxes) may be denied here.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, e2eImage, filepath.Join(dir, "cni-bin"), filepath.Join(dir, "cni-conf"))
	cfgFile := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command("containerd", "--config", cfgFile)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("unix://"+c.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Cleanup(func() { c.stop(t) }) // before the connection closes
	c.rt = runtimeapi.NewRuntimeServiceClient(conn)
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.rt.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer: %v\n%s", err, c.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A local OCI image: busybox-static's binary and applet links.
	tarball := filepath.Join(dir, "image.tar")
	if err := ocitest.WriteFile(tarball, ocitest.Image{Name: e2eImage, Busybox: busybox,
		Applets: []string{"sh", "sleep", "cat", "ls"}, Cmd: []string{"/bin/sleep", "2147483647"}}); err != nil {
		t.Fatal(err)
	}
	if out, err := c.ctr("images", "import", tarball); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	return c
}

// unmountUnder detaches whatever containerd left mounted below dir.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var mps []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			mps = append(mps, f[1])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mps[i], syscall.MNT_DETACH)
	}
}

func (c *containerd) ctr(args ...string) ([]byte, error) {
	return exec.Command("ctr", append([]string{"-a", c.sock, "-n", "k8s.io"}, args...)...).CombinedOutput()
}

// stop removes the pods (their shims would outlive containerd) and stops
// containerd.
func (c *containerd) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := c.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Logf("listing pods to remove: %v", err)
	}
	for _, sb := range l.GetItems() {
		if _, err := c.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.GetId()}); err != nil {
			t.Logf("StopPodSandbox: %v", err)
		}
		if _, err := c.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.GetId()}); err != nil {
			t.Logf("RemovePodSandbox: %v", err)
		}
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	// Shims that outlived their pods (their runtime is gone) are ours.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cmdline), "containerd-shim") || !strings.Contains(string(cmdline), c.sock) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Namespace options as the kubelet sets them for a hostNetwork pod, with
// and without a shared process namespace (shareProcessNamespace). Without
// it each container's first process is its pid 1 (what Falco's
// container_started macro looks for). With it, runc stays the parent of an
// exec'd process; without it the process is reparented to the host's
// init, which on a Kubernetes node is systemd (in Falco's
// container_entrypoint list) but here is whatever this machine runs.
var (
	nsShared  = &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_POD}
	nsPrivate = &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER}
)

// pod is a pod sandbox with the kubelet's labels.
type pod struct {
	id     string
	name   string
	ns     string
	uid    string
	config *runtimeapi.PodSandboxConfig

	nsOptions *runtimeapi.NamespaceOption
}

func (c *containerd) runPod(t *testing.T, name, ns, uid string, nsOptions *runtimeapi.NamespaceOption) *pod {
	t.Helper()
	labels := map[string]string{
		"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.uid": uid, "app": name,
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid},
		LogDirectory: filepath.Join(c.dir, "logs", uid),
		Labels:       labels,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/kubepods/besteffort/pod" + uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: nsOptions,
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v\n%s", err, c.log.String())
	}
	return &pod{id: r.GetPodSandboxId(), name: name, ns: ns, uid: uid, config: cfg, nsOptions: nsOptions}
}

// runContainer creates and starts a container in p and returns its id.
func (c *containerd) runContainer(t *testing.T, p *pod, name string, mounts ...*runtimeapi.Mount) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cr, err := c.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: p.id,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: e2eImage},
			Command:  []string{"/bin/sleep", "2147483647"},
			LogPath:  name + ".log",
			Mounts:   mounts,
			Labels: map[string]string{
				"io.kubernetes.pod.name": p.name, "io.kubernetes.pod.namespace": p.ns,
				"io.kubernetes.pod.uid": p.uid, "io.kubernetes.container.name": name,
			},
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: p.nsOptions}},
		},
		SandboxConfig: p.config,
	})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v\n%s", name, err, c.log.String())
	}
	if _, err := c.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.GetContainerId()}); err != nil {
		t.Fatalf("StartContainer %s: %v\n%s", name, err, c.log.String())
	}
	return cr.GetContainerId()
}

// execShell opens an interactive shell in the container with a terminal,
// as `kubectl exec -it` does: ctr runs under a pseudo-terminal we hold.
func (c *containerd) execShell(t *testing.T, id, execID string) {
	t.Helper()
	cmd := exec.Command("ctr", "-a", c.sock, "-n", "k8s.io", "tasks", "exec", "-t", "--exec-id", execID, id, "/bin/sh")
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("ctr exec: %v", err)
	}
	defer f.Close()
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(f)
		out <- string(b)
	}()
	_, _ = io.WriteString(f, "echo shell-$((6*7))\nexit\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ctr exec: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the shell did not exit")
	}
	f.Close()
	if s := <-out; !strings.Contains(s, "shell-42") {
		t.Fatalf("the shell did not run: %q", s)
	}
}

// routerAlert is an alert in the router's file output.
type routerAlert struct {
	Rule         string         `json:"rule"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	ClusterName  string         `json:"cluster_name"`
}

func readRouterAlerts(path string) []routerAlert {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []routerAlert
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var a routerAlert
		if json.Unmarshal(sc.Bytes(), &a) == nil {
			out = append(out, a)
		}
	}
	return out
}

// TestContainerdEnrichment: a real containerd runs a Kubernetes-labelled
// pod; a terminal shell opened in its container raises Falco's stable
// "Terminal shell in container" at a real router with the container and
// pod named in the text and the output fields; a container started later,
// with a sensitive host mount, is enriched from its first alert on (the
// sandbox rule "Launch Sensitive Mount Container", which reads
// container.mount.dest, fires on its first process).
func TestContainerdEnrichment(t *testing.T) {
	for _, f := range []string{falcoRules, sandboxRules} {
		if _, err := os.Stat(f); err != nil {
			requireOrSkip(t, "Falco's rules are not at %s: %v", f, err)
		}
	}
	ctd := startContainerd(t)
	rt := startRouter(t)
	grpcAddr, alertsFile, routerLog := rt.grpc, rt.alerts, rt.log

	// A pod running before the sensor starts: found by listing.
	shellPod := ctd.runPod(t, "shell-7f9c", "payments", "0b7e2f4c-1111-4a2b-9c3d-5e6f7a8b9c0d", nsShared)
	shellID := ctd.runContainer(t, shellPod, "shell")

	rulesDir := t.TempDir()
	// The sandbox rule, with what it needs of its file: the whole sandbox
	// ruleset uses fields this sensor does not have yet.
	sandboxPart := filepath.Join(rulesDir, "50-sandbox-part.yaml")
	if err := extractRule(sandboxRules, "Launch Sensitive Mount Container", sandboxPart); err != nil {
		t.Fatal(err)
	}
	// Falco's "container" event: evt.type=container.
	extra := `- rule: E2E container started
  desc: a container started while the sensor ran
  condition: evt.type=container and container.name=mounty and harrier.cluster_name=e2e-cluster
  output: container started (name=%container.name mounts=%container.mounts cluster=%harrier.cluster_name)
  priority: INFO
  source: syscall
  tags: [e2e]
`
	if err := os.WriteFile(filepath.Join(rulesDir, "99-e2e.yaml"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	s, running := startSensor(t,
		"-o", "rules.files="+strings.Join([]string{falcoRules, rulesDir}, ","),
		"-o", "rules.rule_matching=all",
		"-o", "cluster_name=e2e-cluster",
		"-o", "sources.syscall.cri_sockets="+ctd.sock,
		"-o", "sources.syscall.container_wait=2s",
		"-o", "outputs.grpc.enabled=true", "-o", "outputs.grpc.address="+grpcAddr)
	defer s.Stop(t)
	metricsAddr, _ := running["metrics"].(string)

	// /readyz names the runtime as connected once its containers are listed.
	for deadline := time.Now().Add(30 * time.Second); ; {
		body := httpGet(t, "http://"+metricsAddr+"/readyz")
		if strings.Contains(body, "container runtime cri "+ctd.sock+": connected") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz does not show the runtime:\n%s\nsensor log:\n%s", body, s.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}

	ctd.execShell(t, shellID, "e2e-shell")

	// A container started while events flow, with the host's /etc mounted.
	mountyPod := ctd.runPod(t, "agent-x2k4", "monitoring", "6d1c9a3e-2222-4b5c-8d7e-9f0a1b2c3d4e", nsPrivate)
	mountyID := ctd.runContainer(t, mountyPod, "mounty", &runtimeapi.Mount{HostPath: "/etc", ContainerPath: "/host/etc", Readonly: true})

	want := map[string]string{
		"container.id":               shellID[:12],
		"container.name":             "shell",
		"container.image.repository": "docker.io/harrier/busybox",
		"k8s.pod.name":               shellPod.name,
		"k8s.ns.name":                shellPod.ns,
	}
	var shell, mount, started *routerAlert
	deadline := time.Now().Add(60 * time.Second)
	for shell == nil || mount == nil || started == nil {
		for _, a := range readRouterAlerts(alertsFile) {
			switch {
			case a.Rule == "Terminal shell in container" && shell == nil:
				shell = &a
			case a.Rule == "Launch Sensitive Mount Container" && mount == nil && fmt.Sprint(a.OutputFields["container.id"]) == mountyID[:12]:
				mount = &a
			case a.Rule == "E2E container started" && started == nil:
				started = &a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts missing at the router (shell %v, mount %v, container event %v)\nrouter log:\n%s\nsensor log:\n%s",
				shell != nil, mount != nil, started != nil, routerLog.String(), s.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}

	for field, v := range want {
		if got := fmt.Sprint(shell.OutputFields[field]); got != v {
			t.Errorf("Terminal shell in container: output_fields[%s] = %q, want %q", field, got, v)
		}
		text := strings.NewReplacer(".", "_").Replace(field) + "=" + v
		if !strings.Contains(shell.Output, text) {
			t.Errorf("Terminal shell in container: text lacks %q: %s", text, shell.Output)
		}
	}
	if _, ok := shell.OutputFields["evt.time"].(float64); !ok {
		t.Errorf("output_fields lack evt.time as a number: %v", shell.OutputFields["evt.time"])
	}
	if shell.ClusterName != "e2e-cluster" {
		t.Errorf("cluster_name = %q", shell.ClusterName)
	}

	// The container that started later: enriched from its first alert on.
	if got := fmt.Sprint(mount.OutputFields["container.id"]); got != mountyID[:12] {
		t.Errorf("Launch Sensitive Mount Container: container.id = %q, want %q", got, mountyID[:12])
	}
	if fmt.Sprint(mount.OutputFields["container.name"]) != "mounty" || fmt.Sprint(mount.OutputFields["k8s.ns.name"]) != mountyPod.ns ||
		fmt.Sprint(mount.OutputFields["k8s.pod.name"]) != mountyPod.name {
		t.Errorf("Launch Sensitive Mount Container without metadata: %v", mount.OutputFields)
	}
	if !strings.Contains(mount.Output, "/etc:/host/etc:ro:false") {
		t.Errorf("Launch Sensitive Mount Container: mounts not in %q", mount.Output)
	}
	if !strings.Contains(started.Output, "name=mounty") || !strings.Contains(started.Output, "/etc:/host/etc") ||
		!strings.Contains(started.Output, "cluster=e2e-cluster") {
		t.Errorf("container event: %q", started.Output)
	}

	// Misses are counted by kind (other containers of this shared machine
	// may have missed; ours did not, as checked above).
	m := httpGet(t, "http://"+metricsAddr+"/metrics")
	for _, kind := range []string{"timeout", "lookup_failed", "queue_full", "alert"} {
		line := `harrier_enrichment_misses_total{kind="` + kind + `"} `
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %s:\n%s", line, grepLines(m, "harrier_enrichment"))
		}
	}
}

// extractRule writes rule from the Falco rules file src to dst, preceded by
// the lists and macros of src it uses, directly or not, in src's order.
func extractRule(src, rule, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var items []map[string]any
	if err := yaml.Unmarshal(data, &items); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	name := func(it map[string]any) string {
		for _, k := range []string{"rule", "macro", "list"} {
			if n, ok := it[k].(string); ok {
				return k + ":" + n
			}
		}
		return ""
	}
	byName := map[string]map[string]any{}
	for _, it := range items {
		byName[name(it)] = it
	}
	want := map[string]bool{"rule:" + rule: true}
	queue := []string{"rule:" + rule}
	ident := regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_.-]*`)
	for len(queue) > 0 {
		it := byName[queue[0]]
		queue = queue[1:]
		text, _ := yaml.Marshal(map[string]any{"c": it["condition"], "i": it["items"]})
		for _, w := range ident.FindAllString(string(text), -1) {
			for _, k := range []string{"macro:" + w, "list:" + w} {
				if byName[k] != nil && !want[k] {
					want[k] = true
					queue = append(queue, k)
				}
			}
		}
	}
	var out []map[string]any
	for _, it := range items {
		if want[name(it)] {
			out = append(out, it)
		}
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
