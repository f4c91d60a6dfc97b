// Package container tells which container a process runs in, from its
// cgroup path, and what that container is (image, name, Kubernetes pod),
// from the container runtime when one can be asked.
package container

import (
	"strings"
)

// Runtime names the container engine that created a container, as Falco's
// container.type spells it.
type Runtime string

const (
	RuntimeHost       Runtime = "host"
	RuntimeDocker     Runtime = "docker"
	RuntimeContainerd Runtime = "containerd"
	RuntimeCRIO       Runtime = "cri-o"
	RuntimePodman     Runtime = "podman"
	// RuntimeCRI is a Kubernetes container whose runtime the cgroupfs
	// layout does not reveal (bare id under kubepods).
	RuntimeCRI Runtime = "cri"
)

// HostID is the container id of processes that run on the host.
const HostID = "host"

// ShortIDLen is the length of Falco's container.id.
const ShortIDLen = 12

// ID is a container identity recovered from a cgroup path.
type ID struct {
	Full    string // the 64-hex-digit id; empty for the host
	Runtime Runtime
	// PodUID is the Kubernetes pod's uid when the cgroup layout names it
	// (kubepods/.../pod<uid>/ or kubepods-...-pod<uid>.slice).
	PodUID string
}

// Short returns the 12-character id (container.id), or "host".
func (id ID) Short() string {
	if id.Full == "" {
		return HostID
	}
	return id.Full[:ShortIDLen]
}

// prefixes of a cgroup path element that carries a container id; the order
// matters only for readability (they are disjoint).
var scopePrefixes = []struct {
	prefix  string
	runtime Runtime
}{
	{"docker-", RuntimeDocker},
	{"cri-containerd-", RuntimeContainerd},
	{"crio-", RuntimeCRIO},
	{"libpod-", RuntimePodman},
	{"containerd-", RuntimeContainerd},
}

// FromCgroupFile parses the contents of /proc/PID/cgroup (cgroup v1 or v2)
// and returns the container the process belongs to; the host when none.
func FromCgroupFile(data string) ID {
	for len(data) > 0 {
		line := data
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = ""
		}
		// hierarchy-ID:controller-list:cgroup-path
		i := strings.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := strings.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		if id := FromCgroupPath(line[i+1+j+1:]); id.Full != "" {
			return id
		}
	}
	return ID{Runtime: RuntimeHost}
}

// FromCgroupPath finds a container id in one cgroup path, such as
//
//	/docker/<id>                                           (docker, cgroupfs)
//	/system.slice/docker-<id>.scope                        (docker, systemd)
//	/kubepods/burstable/pod<uid>/<id>                      (kubernetes, cgroupfs)
//	/kubepods.slice/.../cri-containerd-<id>.scope           (containerd, systemd)
//	/kubepods.slice/.../crio-<id>.scope                     (cri-o, systemd)
//	/machine.slice/libpod-<id>.scope[/container]            (podman)
//
// The innermost element carrying an id wins, so nested layouts resolve to
// the container the process is actually in.
func FromCgroupPath(path string) ID {
	end := len(path)
	for end > 0 {
		start := strings.LastIndexByte(path[:end], '/') + 1
		elem := path[start:end]
		parent := ""
		if start > 1 {
			ps := strings.LastIndexByte(path[:start-1], '/') + 1
			parent = path[ps : start-1]
		}
		if id, ok := fromElement(elem, parent, path); ok {
			id.PodUID = podUID(path[:start])
			return id
		}
		if start == 0 {
			break
		}
		end = start - 1
	}
	return ID{Runtime: RuntimeHost}
}

func fromElement(elem, parent, path string) (ID, bool) {
	elem = strings.TrimSuffix(elem, ".scope")
	for _, p := range scopePrefixes {
		if rest, ok := strings.CutPrefix(elem, p.prefix); ok {
			// conmon (podman/cri-o monitor) scopes are not containers.
			if strings.HasPrefix(rest, "conmon-") {
				return ID{}, false
			}
			if isHexID(rest) {
				return ID{Full: rest, Runtime: p.runtime}, true
			}
			return ID{}, false
		}
	}
	if !isHexID(elem) {
		return ID{}, false
	}
	switch {
	case parent == "docker" || strings.HasPrefix(path, "/docker/"):
		return ID{Full: elem, Runtime: RuntimeDocker}, true
	case strings.HasPrefix(parent, "pod") || strings.Contains(path, "/kubepods"):
		return ID{Full: elem, Runtime: RuntimeCRI}, true
	case parent == "libpod_parent" || strings.Contains(path, "libpod"):
		return ID{Full: elem, Runtime: RuntimePodman}, true
	case strings.Contains(path, "crio"):
		return ID{Full: elem, Runtime: RuntimeCRIO}, true
	case strings.Contains(path, "containerd"):
		return ID{Full: elem, Runtime: RuntimeContainerd}, true
	}
	// A bare 64-hex element elsewhere (e.g. /lxc/..., custom slices) is
	// still a container id for every runtime we know.
	return ID{Full: elem, Runtime: RuntimeCRI}, true
}

func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// podUID finds the pod uid in the cgroup path above a container:
// "pod0a1b2c3d-..." (cgroupfs) or "kubepods-besteffort-pod0a1b2c3d_....slice"
// (systemd, with underscores for dashes).
func podUID(dir string) string {
	for dir != "" {
		i := strings.LastIndexByte(dir, '/')
		elem := dir[i+1:]
		dir = dir[:max(i, 0)]
		elem = strings.TrimSuffix(elem, ".slice")
		j := strings.LastIndex(elem, "pod")
		if j < 0 || (j > 0 && elem[j-1] != '-') {
			continue
		}
		uid := strings.ReplaceAll(elem[j+3:], "_", "-")
		if len(uid) == 36 && strings.Count(uid, "-") == 4 {
			return uid
		}
	}
	return ""
}
