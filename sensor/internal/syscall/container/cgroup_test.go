package container

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

const podID = "0a1b2c3d-1111-2222-3333-444455556666"

const hexID = "3f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"

func TestFromCgroupPath(t *testing.T) {
	tests := []struct {
		name, path string
		want       ID
	}{
		{"host root", "/", ID{Runtime: RuntimeHost}},
		{"host user slice", "/user.slice/user-1000.slice/session-3.scope", ID{Runtime: RuntimeHost}},
		{"host service", "/system.slice/sshd.service", ID{Runtime: RuntimeHost}},
		{"docker cgroupfs", "/docker/" + hexID, ID{hexID, RuntimeDocker, ""}},
		{"docker systemd", "/system.slice/docker-" + hexID + ".scope", ID{hexID, RuntimeDocker, ""}},
		{"docker in docker", "/docker/" + hexID + "/docker/" + hexID[:63] + "e", ID{hexID[:63] + "e", RuntimeDocker, ""}},
		{"k8s cgroupfs containerd", "/kubepods/besteffort/pod0a1b2c3d-1111-2222-3333-444455556666/" + hexID, ID{hexID, RuntimeCRI, podID}},
		{"k8s cgroupfs guaranteed", "/kubepods/pod0a1b2c3d-1111-2222-3333-444455556666/" + hexID, ID{hexID, RuntimeCRI, podID}},
		{"k8s systemd containerd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_1111_2222_3333_444455556666.slice/cri-containerd-" + hexID + ".scope", ID{hexID, RuntimeContainerd, podID}},
		{"k8s systemd crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice/crio-" + hexID + ".scope", ID{hexID, RuntimeCRIO, ""}},
		{"k8s systemd crio conmon", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice/crio-conmon-" + hexID + ".scope", ID{Runtime: RuntimeHost}},
		{"k8s systemd docker", "/kubepods.slice/kubepods-pod1.slice/docker-" + hexID + ".scope", ID{hexID, RuntimeDocker, ""}},
		{"crio cgroupfs", "/kubepods/burstable/podx/crio-" + hexID, ID{hexID, RuntimeCRIO, ""}},
		{"podman root", "/machine.slice/libpod-" + hexID + ".scope", ID{hexID, RuntimePodman, ""}},
		{"podman rootless v2 nested", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + hexID + ".scope/container", ID{hexID, RuntimePodman, ""}},
		{"podman conmon", "/machine.slice/libpod-conmon-" + hexID + ".scope", ID{Runtime: RuntimeHost}},
		{"podman cgroupfs", "/libpod_parent/libpod-" + hexID, ID{hexID, RuntimePodman, ""}},
		{"containerd plain", "/system.slice/containerd.service/default/" + hexID, ID{hexID, RuntimeContainerd, ""}},
		{"too short", "/docker/" + hexID[:63], ID{Runtime: RuntimeHost}},
		{"upper hex rejected", "/docker/" + "A" + hexID[1:], ID{Runtime: RuntimeHost}},
		{"empty", "", ID{Runtime: RuntimeHost}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromCgroupPath(tt.path); got != tt.want {
				t.Fatalf("FromCgroupPath(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
		})
	}
}

func TestFromCgroupFile(t *testing.T) {
	v1 := "12:pids:/docker/" + hexID + "\n11:memory:/docker/" + hexID + "\n1:name=systemd:/docker/" + hexID + "\n0::/\n"
	v2 := "0::/system.slice/docker-" + hexID + ".scope\n"
	host := "0::/user.slice/user-0.slice/session-1.scope\n"
	for _, tt := range []struct {
		name, data string
		short      string
	}{
		{"v1", v1, hexID[:12]},
		{"v2", v2, hexID[:12]},
		{"host", host, "host"},
		{"garbage", "nonsense\n::\n", "host"},
		{"empty", "", "host"},
	} {
		if got := FromCgroupFile(tt.data).Short(); got != tt.short {
			t.Errorf("%s: Short() = %q, want %q", tt.name, got, tt.short)
		}
	}
}

func FuzzFromCgroupFile(f *testing.F) {
	f.Add("0::/system.slice/docker-" + hexID + ".scope\n")
	f.Add("1:a:/" + "\n2:b")
	f.Fuzz(func(t *testing.T, s string) {
		id := FromCgroupFile(s)
		if id.Full != "" && len(id.Short()) != ShortIDLen {
			t.Fatalf("bad short id %q", id.Short())
		}
	})
}

type fakeRuntime struct{ calls atomic.Int32 }

func (f *fakeRuntime) Lookup(_ context.Context, id ID) (*sysevent.Container, error) {
	f.calls.Add(1)
	return &sysevent.Container{Name: "web", Image: "nginx:1.25", ImageRepo: "nginx", PodNamespace: "prod"}, nil
}

func TestResolver(t *testing.T) {
	rt := &fakeRuntime{}
	r := NewResolver(rt)
	if c := r.FromCgroup("0::/user.slice\n"); c != sysevent.Host {
		t.Fatalf("host cgroup gave %+v", c)
	}
	a := resolveNow(t, r, "0::/system.slice/docker-"+hexID+".scope\n")
	b := r.FromCgroup("/docker/" + hexID).Current()
	if a != b || rt.calls.Load() != 1 {
		t.Fatalf("container not shared (%p %p) or looked up %d times", a, b, rt.calls.Load())
	}
	if a.ID != hexID[:12] || a.FullID != hexID || a.Type != "docker" || a.Image != "nginx:1.25" || a.PodNamespace != "prod" {
		t.Fatalf("container = %+v", a)
	}
	k8s := NewResolver(nil).FromCgroup("/kubepods/besteffort/pod" + podID + "/" + hexID)
	if k8s.PodUID != podID || k8s.Image != "" {
		t.Fatalf("pod uid from the cgroup path: %+v", k8s)
	}
	plain := NewResolver(nil).FromCgroup("/kubepods/besteffort/podx/crio-" + hexID)
	if plain.ID != hexID[:12] || plain.Type != "cri-o" || plain.Image != "" || plain.Pending() {
		t.Fatalf("without metadata = %+v", plain)
	}
}

// resolveNow runs r until the container of cgroup is resolved and returns
// its complete description.
func resolveNow(t *testing.T, r *Resolver, cgroup string) *sysevent.Container {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx)
	c := r.FromCgroup(cgroup)
	if !r.Wait(c, 10*time.Second) {
		t.Fatalf("%s: not resolved", cgroup)
	}
	return c.Current()
}
