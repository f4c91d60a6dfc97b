package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
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

// CRI reads container metadata from a Kubernetes container runtime
// (containerd, CRI-O) over its CRI gRPC socket. It implements
// MetadataSource (one container on demand) and Watcher (the running
// containers, then the runtime's container events where it has them).
type CRI struct {
	socket string
	conn   *grpc.ClientConn
	rt     runtimeapi.RuntimeServiceClient
	img    runtimeapi.ImageServiceClient
}

// DialCRI connects to the runtime's unix socket (a path). The connection
// is local, to a root-owned socket: the runtime does not speak TLS there.
// It does not fail when the socket is missing: gRPC reconnects, and the
// watcher reports the runtime as unavailable until it answers.
func DialCRI(socket string) (*CRI, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("container: CRI socket %s: %w", socket, err)
	}
	return &CRI{socket: socket, conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *CRI) Close() error { return c.conn.Close() }

// Name implements Watcher.
func (c *CRI) Name() string { return "cri " + c.socket }

// Kubernetes labels the kubelet puts on containers and sandboxes.
const (
	labelPodName      = "io.kubernetes.pod.name"
	labelPodNamespace = "io.kubernetes.pod.namespace"
	labelPodUID       = "io.kubernetes.pod.uid"
)

// healthEvery is how often a runtime without container events is checked.
const healthEvery = 5 * time.Second

// Watch implements Watcher: it lists the running containers, then follows
// GetContainerEvents. Runtimes without it (containerd before 1.7) answer
// Unimplemented; then containers are looked up when first seen and the
// connection is only checked.
func (c *CRI) Watch(ctx context.Context, ev WatchEvents) error {
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ver, err := c.rt.Version(vctx, &runtimeapi.VersionRequest{})
	cancel()
	if err != nil {
		return fmt.Errorf("container: CRI %s: %w", c.socket, err)
	}
	name := ver.GetRuntimeName() + " " + ver.GetRuntimeVersion()
	// Open the event stream before listing so that nothing starting in
	// between is missed.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	stream, serr := c.rt.GetContainerEvents(sctx, &runtimeapi.GetEventsRequest{})
	list, err := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}},
	})
	if err != nil {
		return fmt.Errorf("container: CRI %s: listing containers: %w", c.socket, err)
	}
	for _, ct := range list.GetContainers() {
		if m, err := c.Lookup(ctx, ID{Full: ct.GetId()}); err == nil {
			ev.Listed(m)
		}
	}
	if serr == nil {
		ev.Connected(name + ", container events")
		for {
			e, err := stream.Recv()
			if status.Code(err) == codes.Unimplemented {
				break
			}
			if err != nil {
				return fmt.Errorf("container: CRI %s: container events: %w", c.socket, err)
			}
			switch e.GetContainerEventType() {
			case runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT:
				if m, err := c.Lookup(ctx, ID{Full: e.GetContainerId()}); err == nil {
					ev.Started(m)
				}
			case runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT:
				ev.Gone(e.GetContainerId())
			}
		}
	}
	ev.Connected(name + ", no container events: lookups when first seen")
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := c.rt.Version(vctx, &runtimeapi.VersionRequest{})
			cancel()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("container: CRI %s: %w", c.socket, err)
			}
		}
	}
}

// Lookup asks the runtime for the container's status and its pod sandbox.
func (c *CRI) Lookup(ctx context.Context, id ID) (*sysevent.Container, error) {
	resp, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id.Full, Verbose: true})
	if status.Code(err) == codes.NotFound {
		// A pod's sandbox ("pause") container has its own cgroup and
		// processes, but is a sandbox to the CRI.
		if sb, serr := c.sandbox(ctx, id); serr == nil {
			return sb, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("container: CRI status of %s: %w", id.Short(), err)
	}
	st := resp.GetStatus()
	if st == nil {
		return nil, fmt.Errorf("container: CRI status of %s: empty response", id.Short())
	}
	full := st.GetId()
	if full == "" {
		full = id.Full
	}
	out := &sysevent.Container{
		ID: ID{Full: full}.Short(), FullID: full, Type: string(id.Runtime),
		Name:    st.GetMetadata().GetName(),
		Image:   st.GetImage().GetImage(),
		ImageID: st.GetImageRef(),
		StartTS: st.GetStartedAt(),
		Labels:  st.GetLabels(),
	}
	if out.StartTS == 0 {
		out.StartTS = st.GetCreatedAt()
	}
	info := resp.GetInfo()["info"]
	if out.Type == "" || out.Type == string(RuntimeCRI) {
		out.Type = runtimeFromInfo(info)
	}
	if i := strings.LastIndex(out.ImageID, "@"); i >= 0 {
		out.ImageDigest = out.ImageID[i+1:]
	}
	if strings.HasPrefix(out.Image, "sha256:") || out.Image == "" || out.ImageDigest == "" {
		// Name the image and find its repository digest in the image store
		// (the runtime may echo an image id).
		ref := out.Image
		if ref == "" {
			ref = out.ImageID
		}
		if is, err := c.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err == nil {
			if tags := is.GetImage().GetRepoTags(); len(tags) > 0 && (out.Image == "" || strings.HasPrefix(out.Image, "sha256:")) {
				out.Image = tags[0]
			}
			if ds := is.GetImage().GetRepoDigests(); len(ds) > 0 && out.ImageDigest == "" {
				out.ImageDigest = digestOf(ds[0])
			}
		}
	}
	out.ImageRepo, out.ImageTag = splitImage(out.Image)
	labels := st.GetLabels()
	out.PodName, out.PodNamespace, out.PodUID = labels[labelPodName], labels[labelPodNamespace], labels[labelPodUID]
	if p, ok := privilegedFromInfo(info); ok {
		out.Privileged = &p
	}
	out.Mounts = make([]sysevent.Mount, 0, len(st.GetMounts()))
	for _, m := range st.GetMounts() {
		mode := "rw"
		if m.GetReadonly() {
			mode = "ro"
		}
		out.Mounts = append(out.Mounts, sysevent.Mount{Source: m.GetHostPath(), Dest: m.GetContainerPath(),
			Mode: mode, RW: !m.GetReadonly(), Propagation: propagationName(m.GetPropagation())})
	}
	if sb := sandboxOf(ctx, c.rt, full, info); sb != "" {
		c.addSandbox(ctx, out, sb)
	}
	return out, nil
}

// sandbox describes a pod sandbox container: named after its pod, with
// the pod's fields.
func (c *CRI) sandbox(ctx context.Context, id ID) (*sysevent.Container, error) {
	resp, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id.Full})
	if err != nil {
		return nil, err
	}
	st := resp.GetStatus()
	out := &sysevent.Container{ID: id.Short(), FullID: id.Full, Type: string(id.Runtime),
		Name: st.GetMetadata().GetName(), StartTS: st.GetCreatedAt(), Labels: st.GetLabels(), Mounts: []sysevent.Mount{}}
	if out.Type == "" || out.Type == string(RuntimeCRI) {
		out.Type = string(RuntimeCRI)
	}
	c.addSandbox(ctx, out, id.Full)
	return out, nil
}

// sandboxOf finds a container's pod sandbox id: in containerd's verbose
// info, else by listing the container.
func sandboxOf(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id, info string) string {
	var v struct {
		SandboxID string `json:"sandboxID"`
	}
	if json.Unmarshal([]byte(info), &v) == nil && v.SandboxID != "" {
		return v.SandboxID
	}
	l, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{Id: id}})
	if err != nil || len(l.GetContainers()) == 0 {
		return ""
	}
	return l.GetContainers()[0].GetPodSandboxId()
}

// addSandbox fills the pod fields from the container's sandbox.
func (c *CRI) addSandbox(ctx context.Context, out *sysevent.Container, sandboxID string) {
	out.PodSandboxID = sandboxID
	resp, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sandboxID, Verbose: true})
	if err != nil {
		return
	}
	st := resp.GetStatus()
	md := st.GetMetadata()
	if out.PodName == "" {
		out.PodName = md.GetName()
	}
	if out.PodNamespace == "" {
		out.PodNamespace = md.GetNamespace()
	}
	if out.PodUID == "" {
		out.PodUID = md.GetUid()
	}
	out.PodLabels = map[string]string{}
	for k, v := range st.GetLabels() {
		if !strings.HasPrefix(k, "io.kubernetes.") {
			out.PodLabels[k] = v
		}
	}
	out.IP = st.GetNetwork().GetIp()
	if ns := st.GetLinux().GetNamespaces().GetOptions(); ns != nil {
		hn, hp, hi := ns.GetNetwork() == runtimeapi.NamespaceMode_NODE, ns.GetPid() == runtimeapi.NamespaceMode_NODE, ns.GetIpc() == runtimeapi.NamespaceMode_NODE
		out.HostNetwork, out.HostPID, out.HostIPC = &hn, &hp, &hi
	}
	out.CNIJSON = cniResult(resp.GetInfo()["info"])
}

// cniResult returns the CNI result the runtime keeps in the sandbox's
// verbose info (containerd: cniResult), as JSON.
func cniResult(info string) string {
	var v struct {
		CNIResult json.RawMessage `json:"cniResult"`
	}
	if json.Unmarshal([]byte(info), &v) != nil || len(v.CNIResult) == 0 || string(v.CNIResult) == "null" {
		return ""
	}
	return string(v.CNIResult)
}

// runtimeFromInfo tells containerd from CRI-O by their verbose info.
func runtimeFromInfo(info string) string {
	switch {
	case strings.Contains(info, `"sandboxID"`) || strings.Contains(info, `"snapshotter"`):
		return string(RuntimeContainerd)
	case strings.Contains(info, `"runtimeSpec"`):
		return string(RuntimeCRIO)
	}
	return string(RuntimeCRI)
}

func propagationName(p runtimeapi.MountPropagation) string {
	switch p {
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		return "rslave"
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		return "rshared"
	}
	return "rprivate"
}

// digestOf returns the sha256:... digest of an image reference
// (repo@sha256:...), or "".
func digestOf(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return ref[i+1:]
	}
	return ""
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
