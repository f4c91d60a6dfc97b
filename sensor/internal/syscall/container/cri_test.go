package container

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
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
		},
		Info: map[string]string{"info": `{"pid":42,"config":{"linux":{"security_context":{"privileged":true}}}}`},
	}, nil
}

func (runtime) ListPodSandbox(_ context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	if req.GetFilter().GetLabelSelector()[labelPodUID] != "uid-1" {
		return &runtimeapi.ListPodSandboxResponse{}, nil
	}
	return &runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{{
		Id: "sb", Labels: map[string]string{"app": "web", labelPodUID: "uid-1"},
	}}}, nil
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
	c := r.FromCgroup("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + hexID + ".scope\n")
	checks := []struct{ name, got, want string }{
		{"id", c.ID, hexID[:12]}, {"type", c.Type, "containerd"}, {"name", c.Name, "nginx"},
		{"image", c.Image, "registry.example:5000/team/nginx:1.25"},
		{"repo", c.ImageRepo, "registry.example:5000/team/nginx"}, {"tag", c.ImageTag, "1.25"},
		{"pod", c.PodName, "web-0"}, {"ns", c.PodNamespace, "prod"}, {"label", c.PodLabels["app"], "web"},
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
	r := NewResolver(cri)
	r.timeout = 200e6
	c := r.FromCgroup("/docker/" + hexID)
	if c.ID != hexID[:12] || c.Image != "" || c.Type != "docker" {
		t.Fatalf("runtime down: %+v", c)
	}
	if again := r.FromCgroup("/docker/" + hexID); again != c {
		t.Fatal("a container without metadata is not shared before the retry time")
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

// DiscoverSources reads the runtimes where Paths says they are (in a
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

	src, closeAll, err := DiscoverSources(Paths{
		CRISockets: []string{filepath.Join(host, "run", "crio", "crio.sock"), sock},
		DockerRoot: docker,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	if len(src) != 2 {
		t.Fatalf("sources: %#v, want the CRI socket and Docker's files", src)
	}
	if _, ok := src[0].(*CRI); !ok {
		t.Errorf("first source %T, want *CRI", src[0])
	}
	if d, ok := src[1].(DockerFiles); !ok || d.Root != docker {
		t.Errorf("second source %#v, want DockerFiles{Root: %s}", src[1], docker)
	}
	c := NewResolver(src).FromCgroup("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + hexID + ".scope\n")
	if c.Name != "nginx" {
		t.Errorf("container from the configured socket: %+v", c)
	}

	// Nothing where the paths point: no source, no error.
	src, closeAll, err = DiscoverSources(Paths{CRISockets: []string{sock + ".missing"}, DockerRoot: filepath.Join(host, "none")})
	closeAll()
	if err != nil || len(src) != 0 {
		t.Errorf("missing paths: %v, %v", src, err)
	}
}
