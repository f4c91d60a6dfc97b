package container

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runtime is a CRI runtime service serving fixed answers over a real gRPC
// unix socket.
type runtime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
}

func (runtime) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return &runtimeapi.ContainerStatusResponse{
		Status: &runtimeapi.ContainerStatus{
			Id:        req.ContainerId,
			Metadata:  &runtimeapi.ContainerMetadata{Name: "nginx"},
			Image:     &runtimeapi.ImageSpec{Image: "registry.example:5000/team/nginx:1.25"},
			ImageRef:  "sha256:abc",
			StartedAt: 1_700_000_000_000_000_000,
			Labels: map[string]string{labelPodName: "web-0", labelPodNamespace: "prod", labelPodUID: "uid-1",
				"io.kubernetes.container.name": "nginx"},
			Mounts: []*runtimeapi.Mount{{ContainerPath: "/host/proc", HostPath: "/proc", Readonly: true}},
		},
		Info: map[string]string{"info": `{"pid":42,"config":{"linux":{"security_context":{"privileged":true}}}}`},
	}, nil
}

func (runtime) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	if req.GetFilter().GetId() == "" {
		return &runtimeapi.ListContainersResponse{}, nil
	}
	return &runtimeapi.ListContainersResponse{Containers: []*runtimeapi.Container{{Id: req.GetFilter().GetId(), PodSandboxId: "sb"}}}, nil
}

func (runtime) PodSandboxStatus(_ context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	if req.GetPodSandboxId() != "sb" {
		return nil, status.Error(codes.NotFound, "no such sandbox")
	}
	return &runtimeapi.PodSandboxStatusResponse{
		Status: &runtimeapi.PodSandboxStatus{
			Id:       "sb",
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "web-0", Namespace: "prod", Uid: "uid-1"},
			Labels:   map[string]string{"app": "web", labelPodUID: "uid-1"},
			Network:  &runtimeapi.PodSandboxNetworkStatus{Ip: "10.0.0.7"},
			Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{
				Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_POD}}},
		},
		Info: map[string]string{"info": `{"cniResult":{"Interfaces":{"eth0":{"IPConfigs":[{"IP":"10.0.0.7"}]}}}}`},
	}, nil
}

func TestCRILookup(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cri.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, runtime{})
	go srv.Serve(ln)
	defer srv.Stop()

	cri, err := DialCRI(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cri.Close()
	r := NewResolver(cri)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	pending := r.FromCgroup("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + hexID + ".scope\n")
	if !r.Wait(pending, 10*time.Second) {
		t.Fatalf("no metadata: %+v", pending)
	}
	c := pending.Current()
	if r.FromCgroup("/kubepods/pod1/"+hexID) != pending {
		t.Error("a second process of the container got another container")
	}
	checks := []struct{ name, got, want string }{
		{"id", c.ID, hexID[:12]}, {"type", c.Type, "containerd"}, {"name", c.Name, "nginx"},
		{"image", c.Image, "registry.example:5000/team/nginx:1.25"},
		{"repo", c.ImageRepo, "registry.example:5000/team/nginx"}, {"tag", c.ImageTag, "1.25"},
		{"pod", c.PodName, "web-0"}, {"ns", c.PodNamespace, "prod"}, {"label", c.PodLabels["app"], "web"},
		{"ip", c.IP, "10.0.0.7"}, {"sandbox", c.PodSandboxID, "sb"},
		{"cni", c.CNIJSON, `{"Interfaces":{"eth0":{"IPConfigs":[{"IP":"10.0.0.7"}]}}}`},
		{"mount", fmt.Sprint(c.Mounts), "[{/proc /host/proc ro false rprivate}]"},
	}
	if c.HostPID == nil || !*c.HostPID || c.HostNetwork == nil || *c.HostNetwork {
		t.Errorf("host pid %v network %v", c.HostPID, c.HostNetwork)
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if c.Privileged == nil || !*c.Privileged || c.StartTS != 1_700_000_000_000_000_000 {
		t.Errorf("privileged %v start %d", c.Privileged, c.StartTS)
	}
	if _, ok := c.PodLabels[labelPodUID]; ok {
		t.Error("kubelet labels leaked into pod labels")
	}
}

func TestCRIUnavailable(t *testing.T) {
	cri, err := DialCRI(filepath.Join(t.TempDir(), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer cri.Close()
	r := NewResolver(cri, cri)
	r.LookupTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	c := r.FromCgroup("/docker/" + hexID)
	if c.ID != hexID[:12] || c.Image != "" || c.Type != "docker" {
		t.Fatalf("runtime down: %+v", c)
	}
	if r.Wait(c, 50*time.Millisecond) {
		t.Fatal("metadata from a runtime that is down")
	}
	if r.Misses()["timeout"] != 1 {
		t.Errorf("misses %v", r.Misses())
	}
	// Later events of that container do not wait again.
	start := time.Now()
	r.Wait(c, 5*time.Second)
	if time.Since(start) > time.Second {
		t.Error("waited twice for one unknown container")
	}
	if again := r.FromCgroup("/docker/" + hexID); again != c {
		t.Fatal("a container without metadata is not shared")
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		st := r.Status()
		if len(st) == 1 && !st[0].Connected && strings.Contains(st[0].Detail, "retrying") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); r.Misses()["lookup_failed"] == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("lookup failure not counted: %v", r.Misses())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSplitImage(t *testing.T) {
	for _, tt := range []struct{ in, repo, tag string }{
		{"nginx", "nginx", ""},
		{"nginx:1.25", "nginx", "1.25"},
		{"docker.io/library/nginx:1.25", "docker.io/library/nginx", "1.25"},
		{"localhost:5000/app", "localhost:5000/app", ""},
		{"quay.io/x/y@sha256:0123", "quay.io/x/y", ""},
		{"quay.io/x/y:v1@sha256:0123", "quay.io/x/y", "v1"},
	} {
		if r, g := splitImage(tt.in); r != tt.repo || g != tt.tag {
			t.Errorf("splitImage(%q) = %q, %q", tt.in, r, g)
		}
	}
}

// Discover reads the runtimes where Paths says they are (in a
// container: where the host's directories are mounted), not at fixed paths.
func TestDiscoverSourcesAtConfiguredPaths(t *testing.T) {
	host := t.TempDir()
	sock := filepath.Join(host, "run", "containerd", "containerd.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, runtime{})
	go srv.Serve(ln)
	defer srv.Stop()
	docker := filepath.Join(host, "var", "lib", "docker")
	if err := os.MkdirAll(filepath.Join(docker, "containers"), 0o755); err != nil {
		t.Fatal(err)
	}

	d, err := Discover(Paths{
		CRISockets: []string{filepath.Join(host, "run", "crio", "crio.sock"), sock},
		DockerRoot: docker,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	src := d.Meta
	if len(src) != 2 {
		t.Fatalf("sources: %#v, want the CRI socket and Docker's files", src)
	}
	if _, ok := src[0].(*CRI); !ok {
		t.Errorf("first source %T, want *CRI", src[0])
	}
	if d, ok := src[1].(DockerFiles); !ok || d.Root != docker {
		t.Errorf("second source %#v, want DockerFiles{Root: %s}", src[1], docker)
	}
	r := NewResolver(src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	pending := r.FromCgroup("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + hexID + ".scope\n")
	r.Wait(pending, 10*time.Second)
	c := pending.Current()
	if c.Name != "nginx" {
		t.Errorf("container from the configured socket: %+v", c)
	}

	// Nothing where the paths point: no source, no error.
	d, err = Discover(Paths{CRISockets: []string{sock + ".missing"}, DockerRoot: filepath.Join(host, "none")})
	d.Close()
	if err != nil || len(d.Meta) != 0 {
		t.Errorf("missing paths: %v, %v", d.Meta, err)
	}
}
