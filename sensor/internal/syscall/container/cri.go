package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// CRISockets are the container runtime sockets probed by default, in
// order: containerd, CRI-O, k3s's containerd, cri-dockerd.
var CRISockets = []string{
	"/run/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/run/k3s/containerd/containerd.sock",
	"/run/cri-dockerd.sock",
}

// FirstSocket returns the first of paths that is a socket, or "".
func FirstSocket(paths []string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeSocket != 0 {
			return p
		}
	}
	return ""
}

// CRI reads container metadata from a Kubernetes container runtime over
// its CRI gRPC socket. It implements MetadataSource.
type CRI struct {
	conn *grpc.ClientConn
	rt   runtimeapi.RuntimeServiceClient
}

// DialCRI connects to the runtime's unix socket (a path). The connection
// is local, to a root-owned socket: the runtime does not speak TLS there.
func DialCRI(socket string) (*CRI, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("container: CRI socket %s: %w", socket, err)
	}
	return &CRI{conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *CRI) Close() error { return c.conn.Close() }

// Kubernetes labels the kubelet puts on containers and sandboxes.
const (
	labelPodName      = "io.kubernetes.pod.name"
	labelPodNamespace = "io.kubernetes.pod.namespace"
	labelPodUID       = "io.kubernetes.pod.uid"
)

// Lookup asks the runtime for the container's status and its pod's labels.
func (c *CRI) Lookup(ctx context.Context, id ID) (*sysevent.Container, error) {
	resp, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id.Full, Verbose: true})
	if err != nil {
		return nil, fmt.Errorf("container: CRI status of %s: %w", id.Short(), err)
	}
	st := resp.GetStatus()
	if st == nil {
		return nil, fmt.Errorf("container: CRI status of %s: empty response", id.Short())
	}
	out := &sysevent.Container{
		ID: id.Short(), FullID: id.Full, Type: string(id.Runtime),
		Name:    st.GetMetadata().GetName(),
		Image:   st.GetImage().GetImage(),
		ImageID: st.GetImageRef(),
		StartTS: st.GetStartedAt(),
		Labels:  st.GetLabels(),
	}
	if out.StartTS == 0 {
		out.StartTS = st.GetCreatedAt()
	}
	out.ImageRepo, out.ImageTag = splitImage(out.Image)
	labels := st.GetLabels()
	out.PodName, out.PodNamespace, out.PodUID = labels[labelPodName], labels[labelPodNamespace], labels[labelPodUID]
	if p, ok := privilegedFromInfo(resp.GetInfo()["info"]); ok {
		out.Privileged = &p
	}
	if out.PodUID != "" {
		sb, err := c.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{
			Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelPodUID: out.PodUID}},
		})
		if err == nil && len(sb.GetItems()) > 0 {
			out.PodLabels = map[string]string{}
			for k, v := range sb.GetItems()[0].GetLabels() {
				if !strings.HasPrefix(k, "io.kubernetes.") {
					out.PodLabels[k] = v
				}
			}
		}
	}
	return out, nil
}

// splitImage splits "registry/repo:tag" (or "repo@sha256:...") into
// repository and tag, the way container.image.repository and
// container.image.tag report them.
func splitImage(image string) (repo, tag string) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		return image[:i], image[i+1:]
	}
	return image, ""
}

// privilegedFromInfo finds the privileged flag in the runtime's verbose
// info JSON (containerd and CRI-O both echo the CRI container config, in
// which it is config.linux.security_context.privileged; CRI-O also has a
// top-level "privileged").
func privilegedFromInfo(info string) (bool, bool) {
	if info == "" {
		return false, false
	}
	var v struct {
		Privileged *bool `json:"privileged"`
		Config     struct {
			Linux struct {
				SecurityContext struct {
					Privileged *bool `json:"privileged"`
				} `json:"security_context"`
			} `json:"linux"`
		} `json:"config"`
	}
	if json.Unmarshal([]byte(info), &v) != nil {
		return false, false
	}
	if p := v.Config.Linux.SecurityContext.Privileged; p != nil {
		return *p, true
	}
	if v.Privileged != nil {
		return *v.Privileged, true
	}
	// A config without the flag means an unprivileged container.
	return false, strings.Contains(info, "security_context")
}
