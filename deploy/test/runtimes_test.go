package deploytest

import (
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// runtimePaths is where the sensor looks for the container runtimes
// (sources.syscall.cri_sockets and docker_root), as its configuration
// says, the sensor's defaults (harrier-sensor.example.yaml) filling
// the keys the configuration leaves out.
type runtimePaths struct {
	CRISockets []string
	DockerRoot string
}

func sensorRuntimePaths(t *testing.T, configText string) runtimePaths {
	t.Helper()
	type syscallKeys struct {
		CRISockets *[]string `json:"cri_sockets"`
		DockerRoot *string   `json:"docker_root"`
	}
	type file struct {
		Sources struct {
			Syscall syscallKeys `json:"syscall"`
		} `json:"sources"`
	}
	var def, cfg file
	example := filepath.Join(componentDir(t, "sensor", "HARRIER_SENSOR_DIR"), "harrier-sensor.example.yaml")
	if err := yaml.Unmarshal(readFile(t, example), &def); err != nil {
		t.Fatal(err)
	}
	if def.Sources.Syscall.CRISockets == nil || def.Sources.Syscall.DockerRoot == nil {
		t.Fatal("harrier-sensor.example.yaml: no sources.syscall.cri_sockets or docker_root")
	}
	if err := yaml.Unmarshal([]byte(configText), &cfg); err != nil {
		t.Fatal(err)
	}
	out := runtimePaths{CRISockets: *def.Sources.Syscall.CRISockets, DockerRoot: *def.Sources.Syscall.DockerRoot}
	if p := cfg.Sources.Syscall.CRISockets; p != nil {
		out.CRISockets = *p
	}
	if p := cfg.Sources.Syscall.DockerRoot; p != nil {
		out.DockerRoot = *p
	}
	return out
}

// mounts maps a container path to the host path mounted there.
type mounts map[string]string

// hostPath is the host path the container sees at p, or "" when p is on
// no mount.
func (m mounts) hostPath(p string) string {
	best := ""
	for target := range m {
		if (p == target || strings.HasPrefix(p, strings.TrimSuffix(target, "/")+"/")) && len(target) > len(best) {
			best = target
		}
	}
	if best == "" {
		return ""
	}
	return path.Join(m[best], strings.TrimPrefix(p, best))
}

// checkRuntimePaths: every runtime path the sensor reads is mounted from
// the host path meant for it, and every runtime the deployment means to
// expose is read.
func checkRuntimePaths(t *testing.T, where string, paths runtimePaths, m mounts, wantSockets []string, wantDocker string) {
	t.Helper()
	var gotSockets []string
	for _, s := range paths.CRISockets {
		h := m.hostPath(s)
		if h == "" {
			t.Errorf("%s: the sensor reads the CRI socket %s, which no host mount provides (mounts: %v)", where, s, m)
			continue
		}
		gotSockets = append(gotSockets, h)
	}
	if !slices.Equal(gotSockets, wantSockets) {
		t.Errorf("%s: the sensor reads the host's CRI sockets %v, want %v", where, gotSockets, wantSockets)
	}
	gotDocker := ""
	if paths.DockerRoot != "" {
		if gotDocker = m.hostPath(paths.DockerRoot); gotDocker == "" {
			t.Errorf("%s: the sensor reads Docker's state at %s, which no host mount provides (mounts: %v)", where, paths.DockerRoot, m)
		}
	}
	if gotDocker != wantDocker {
		t.Errorf("%s: the sensor reads the host's Docker state at %q, want %q", where, gotDocker, wantDocker)
	}
}

// TestChartRuntimePaths renders the chart and checks the sensor's
// configured CRI sockets and Docker directory against the DaemonSet's host
// mounts.
func TestChartRuntimePaths(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		sockets    []string
		dockerRoot string
	}{
		{"defaults", nil, []string{"/run/containerd/containerd.sock"}, ""},
		{"all options", []string{"-f", filepath.Join(chartDir(t), allOptions)},
			[]string{"/run/containerd/containerd.sock", "/run/crio/crio.sock", "/run/k3s/containerd/containerd.sock"}, "/var/lib/docker"},
		{"CRI-O and Docker", []string{"--set", "sensor.hostMounts.criSockets={/run/crio/crio.sock}", "--set", "sensor.hostMounts.dockerRoot=/data/docker"},
			[]string{"/run/crio/crio.sock"}, "/data/docker"},
		{"none", []string{"--set", "sensor.hostMounts.criSockets=null"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := render(t, tc.args...)
			var ds *appsv1.DaemonSet
			var config string
			for _, m := range ms {
				if d, ok := m.Object.(*appsv1.DaemonSet); ok {
					ds = d
				}
				if strings.HasSuffix(m.Source, "sensor-configmap.yaml") {
					config = configYAMLFromRaw(t, m.Raw, "sensor.yaml")
				}
			}
			if ds == nil || config == "" {
				t.Fatal("no sensor DaemonSet or sensor.yaml")
			}
			hostPaths := map[string]string{}
			for _, v := range ds.Spec.Template.Spec.Volumes {
				if v.HostPath != nil {
					hostPaths[v.Name] = v.HostPath.Path
				}
			}
			var sensor []string
			m := mounts{}
			for _, c := range ds.Spec.Template.Spec.Containers {
				sensor = append(sensor, c.Name)
				if c.Name != "sensor" {
					continue
				}
				for _, vm := range c.VolumeMounts {
					if h, ok := hostPaths[vm.Name]; ok {
						m[vm.MountPath] = h
					}
				}
			}
			if len(m) == 0 {
				t.Fatalf("no host mounts in the sensor container (containers: %v)", sensor)
			}
			checkRuntimePaths(t, "chart", sensorRuntimePaths(t, config), m, tc.sockets, tc.dockerRoot)
		})
	}
}

// TestComposeRuntimePaths checks the lab's sensor configuration against the
// sensor service's bind mounts: Docker's state is read where
// docker-compose.yml mounts the host's /var/lib/docker.
func TestComposeRuntimePaths(t *testing.T) {
	p := loadCompose(t)
	s, ok := p.Services["sensor"]
	if !ok {
		t.Fatal("docker-compose.yml: no sensor service")
	}
	m := mounts{}
	configFile := ""
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		m[v.Target] = v.Source
		if v.Target == "/etc/harrier/sensor.yaml" {
			configFile = v.Source
		}
	}
	if configFile == "" {
		t.Fatal("docker-compose.yml: the sensor's /etc/harrier/sensor.yaml is not mounted")
	}
	checkRuntimePaths(t, "docker-compose lab", sensorRuntimePaths(t, string(readFile(t, configFile))), m, nil, "/var/lib/docker")
}
