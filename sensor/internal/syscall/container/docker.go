package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// DockerFiles reads container metadata from Docker's state directory
// (normally /var/lib/docker): containers/ID/config.v2.json and
// hostconfig.json. It needs no API socket, and serves hosts that run
// Docker without a CRI runtime. It implements MetadataSource.
type DockerFiles struct{ Root string }

// DefaultDockerRoot is Docker's default state directory.
const DefaultDockerRoot = "/var/lib/docker"

// maxStateFile bounds what is read from one state file.
const maxStateFile = 4 << 20

type dockerConfig struct {
	Name   string
	Image  string // image id (sha256:...)
	Config struct {
		Image  string
		Labels map[string]string
	}
	State struct {
		StartedAt string
	}
	Created string
}

type dockerHostConfig struct {
	Privileged bool
}

// Lookup reads the container's state files.
func (d DockerFiles) Lookup(_ context.Context, id ID) (*sysevent.Container, error) {
	dir := filepath.Join(d.Root, "containers", id.Full)
	var cfg dockerConfig
	if err := readJSON(filepath.Join(dir, "config.v2.json"), &cfg); err != nil {
		return nil, err
	}
	c := &sysevent.Container{
		ID: id.Short(), FullID: id.Full, Type: string(RuntimeDocker),
		Name:    strings.TrimPrefix(cfg.Name, "/"),
		Image:   cfg.Config.Image,
		ImageID: cfg.Image,
		Labels:  cfg.Config.Labels,
	}
	c.ImageRepo, c.ImageTag = splitImage(c.Image)
	for _, ts := range []string{cfg.State.StartedAt, cfg.Created} {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && t.Year() > 1 {
			c.StartTS = t.UnixNano()
			break
		}
	}
	var hc dockerHostConfig
	if err := readJSON(filepath.Join(dir, "hostconfig.json"), &hc); err == nil {
		p := hc.Privileged
		c.Privileged = &p
	}
	// Containers of a Kubernetes pod run through dockershim/cri-dockerd
	// carry the kubelet's labels.
	c.PodName, c.PodNamespace, c.PodUID = c.Labels[labelPodName], c.Labels[labelPodNamespace], c.Labels[labelPodUID]
	return c, nil
}

func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return fmt.Errorf("container: %s: %w", path, err)
	}
	if len(b) > maxStateFile {
		return fmt.Errorf("container: %s: larger than %d bytes", path, maxStateFile)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("container: %s: %w", path, err)
	}
	return nil
}

// Sources asks each source in turn; the first answer wins.
type Sources []MetadataSource

// Lookup implements MetadataSource.
func (s Sources) Lookup(ctx context.Context, id ID) (*sysevent.Container, error) {
	var errs []error
	for _, src := range s {
		c, err := src.Lookup(ctx, id)
		if err == nil && c != nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("container: no metadata source")
	}
	return nil, errors.Join(errs...)
}

// Paths says where the container runtimes' endpoints are, as the sensor
// sees them (in a container, the host's directories are mounted elsewhere,
// e.g. /host/run/containerd).
type Paths struct {
	// CRISockets are probed in order; the first socket that exists is
	// dialled. None: no CRI runtime.
	CRISockets []string
	// DockerRoot is Docker's state directory ("": Docker's containers are
	// not read).
	DockerRoot string
}

// DefaultPaths are the runtimes' usual places on a host.
func DefaultPaths() Paths {
	return Paths{CRISockets: append([]string(nil), CRISockets...), DockerRoot: DefaultDockerRoot}
}

// Discovered are the metadata sources and runtime watchers of a host.
type Discovered struct {
	Meta     Sources
	Watchers []Watcher
	close    []func() error
}

// Close closes the runtime connections.
func (d *Discovered) Close() {
	for _, c := range d.close {
		_ = c()
	}
}

// Resolver returns a resolver over what was discovered.
func (d *Discovered) Resolver() *Resolver {
	if len(d.Meta) == 0 {
		return NewResolver(nil, d.Watchers...)
	}
	return NewResolver(d.Meta, d.Watchers...)
}

// Discover finds the metadata sources this host offers: the CRI runtime at
// the first of p.CRISockets that exists and Docker's state files under
// p.DockerRoot. A CRI socket that cannot be dialled is reported in err; the
// other sources are still returned.
func Discover(p Paths) (*Discovered, error) {
	d := &Discovered{}
	var err error
	if criSocket := FirstSocket(p.CRISockets); criSocket != "" {
		cri, derr := DialCRI(criSocket)
		if derr != nil {
			err = derr
		} else {
			d.Meta = append(d.Meta, cri)
			d.Watchers = append(d.Watchers, cri)
			d.close = append(d.close, cri.Close)
		}
	}
	if root := p.DockerRoot; root != "" {
		if st, serr := os.Stat(filepath.Join(root, "containers")); serr == nil && st.IsDir() {
			d.Meta = append(d.Meta, DockerFiles{Root: root})
		}
	}
	return d, err
}
