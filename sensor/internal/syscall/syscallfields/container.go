package syscallfields

import (
	"fmt"
	pathpkg "path"
	"sort"
	"strconv"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// The container.* and k8s.* fields, as Falco's container plugin names
// them. Values come from the *sysevent.Container the process table
// attached to the event's thread; the container package fills it from the
// runtime. A field the runtime did not report has no value (<NA>).
func addContainerFields(r *fields.Registry) {
	r.MustAdd(
		ctrStr("container.id", "12-character container id, or host", func(c *sysevent.Container) string { return c.ID }),
		ctrStr("container.full_id", "full container id", func(c *sysevent.Container) string { return c.FullID }),
		ctrStr("container.name", "container name (host for the host)", func(c *sysevent.Container) string { return c.Name }),
		ctrStr("container.type", "container runtime: docker, containerd, cri-o, podman, host", func(c *sysevent.Container) string { return c.Type }),
		ctrStr("container.image", "container image as the runtime reports it", func(c *sysevent.Container) string { return c.Image }),
		ctrStr("container.image.id", "container image id", func(c *sysevent.Container) string { return c.ImageID }),
		ctrStr("container.image.repository", "container image repository", func(c *sysevent.Container) string { return c.ImageRepo }),
		ctrStr("container.image.tag", "container image tag", func(c *sysevent.Container) string { return c.ImageTag }),
		ctrStr("container.image.digest", "container image digest (sha256:...)", func(c *sysevent.Container) string { return c.ImageDigest }),
		ctrStr("container.ip", "the container's primary IP address", func(c *sysevent.Container) string { return c.IP }),
		ctrStr("container.cni.json", "the container's CNI result as JSON", func(c *sysevent.Container) string { return c.CNIJSON }),
		ctrStr("container.healthcheck", "the container's health check command", func(c *sysevent.Container) string { return c.Healthcheck }),
		ctrStr("container.liveness_probe", "the container's liveness probe command", func(c *sysevent.Container) string { return c.LivenessProbe }),
		ctrStr("container.readiness_probe", "the container's readiness probe command", func(c *sysevent.Container) string { return c.ReadinessProbe }),
		// Falco's rules still write %container.info in outputs; Falco now
		// expands it to nothing (container.id and container.name come from
		// append_output), so it is a field with an empty value.
		strField("container.info", "placeholder kept for Falco rules' outputs; always empty", func(ev *sysevent.Event) (string, bool) {
			return "", true
		}),
		ctrBool("container.privileged", "true for a privileged container", func(c *sysevent.Container) *bool { return c.Privileged }),
		ctrBool("container.host_network", "true when the container shares the host's network namespace", func(c *sysevent.Container) *bool { return c.HostNetwork }),
		ctrBool("container.host_pid", "true when the container shares the host's PID namespace", func(c *sysevent.Container) *bool { return c.HostPID }),
		ctrBool("container.host_ipc", "true when the container shares the host's IPC namespace", func(c *sysevent.Container) *bool { return c.HostIPC }),
		intField("container.start_ts", "container start time, ns since the epoch", fields.KindAbsTime, func(ev *sysevent.Event) (int64, bool) {
			c := ctr(ev)
			if c == nil || c.StartTS == 0 {
				return 0, false
			}
			return c.StartTS, true
		}),
		intField("container.duration", "ns since the container started", fields.KindRelTime, func(ev *sysevent.Event) (int64, bool) {
			c := ctr(ev)
			if c == nil || c.StartTS == 0 || ev.Time < c.StartTS {
				return 0, false
			}
			return ev.Time - c.StartTS, true
		}),
		strField("container.mounts", "the container's mounts, source:dest:mode:rdwr:propagation, comma separated", func(ev *sysevent.Event) (string, bool) {
			c := ctr(ev)
			if c == nil || c.Mounts == nil {
				return "", false
			}
			parts := make([]string, len(c.Mounts))
			for i := range c.Mounts {
				parts[i] = mountText(&c.Mounts[i])
			}
			return strings.Join(parts, ","), true
		}),
		mountField("container.mount", "one mount as source:dest:mode:rdwr:propagation, by index (container.mount[0]) or source glob (container.mount[/var/run/*]); none when no mount matches",
			false, func(m *sysevent.Mount) string { return mountText(m) }),
		mountField("container.mount.source", "a mount's source, by index or destination glob (container.mount.source[/host/proc])",
			true, func(m *sysevent.Mount) string { return m.Source }),
		mountField("container.mount.dest", "a mount's destination, by index or source glob (container.mount.dest[/proc*])",
			false, func(m *sysevent.Mount) string { return m.Dest }),
		mountField("container.mount.mode", "a mount's mode, by index or source glob",
			false, func(m *sysevent.Mount) string { return m.Mode }),
		mountField("container.mount.rdwr", "true for a read-write mount, by index or source glob",
			false, func(m *sysevent.Mount) string { return strconv.FormatBool(m.RW) }),
		mountField("container.mount.propagation", "a mount's propagation, by index or source glob",
			false, func(m *sysevent.Mount) string { return m.Propagation }),
		labelField("container.label", "one container label (container.label[com.example.x])", func(c *sysevent.Container) map[string]string { return c.Labels }),
		labelsField("container.labels", "container labels as key:value, comma separated", func(c *sysevent.Container) map[string]string { return c.Labels }),

		ctrStr("k8s.pod.name", "Kubernetes pod name", func(c *sysevent.Container) string { return c.PodName }),
		ctrStr("k8s.ns.name", "Kubernetes namespace", func(c *sysevent.Container) string { return c.PodNamespace }),
		ctrStr("k8s.pod.uid", "Kubernetes pod uid", func(c *sysevent.Container) string { return c.PodUID }),
		ctrStr("k8s.pod.id", "Kubernetes pod uid (legacy name)", func(c *sysevent.Container) string { return c.PodUID }),
		ctrStr("k8s.pod.sandbox_id", "12-character id of the pod sandbox", func(c *sysevent.Container) string { return shortID(c.PodSandboxID) }),
		ctrStr("k8s.pod.full_sandbox_id", "full id of the pod sandbox", func(c *sysevent.Container) string { return c.PodSandboxID }),
		ctrStr("k8s.pod.ip", "the pod's primary IP address", func(c *sysevent.Container) string { return c.IP }),
		ctrStr("k8s.pod.cni.json", "the pod's CNI result as JSON", func(c *sysevent.Container) string { return c.CNIJSON }),
		labelField("k8s.pod.label", "one Kubernetes pod label (k8s.pod.label[app])", func(c *sysevent.Container) map[string]string { return c.PodLabels }),
		labelsField("k8s.pod.labels", "Kubernetes pod labels as key:value, comma separated", func(c *sysevent.Container) map[string]string { return c.PodLabels }),
	)
}

func ctr(ev *sysevent.Event) *sysevent.Container {
	if ev.Thread == nil {
		return nil
	}
	return ev.Thread.Container()
}

func ctrStr(name, desc string, g func(*sysevent.Container) string) fields.Def {
	return strField(name, desc, func(ev *sysevent.Event) (string, bool) {
		c := ctr(ev)
		if c == nil {
			return "", false
		}
		return nonEmpty(g(c))
	})
}

func ctrBool(name, desc string, g func(*sysevent.Container) *bool) fields.Def {
	return boolField(name, desc, func(ev *sysevent.Event) (bool, bool) {
		c := ctr(ev)
		if c == nil {
			return false, false
		}
		if p := g(c); p != nil {
			return *p, true
		}
		return false, false
	})
}

func labelField(name, desc string, g func(*sysevent.Container) map[string]string) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindString, Arg: fields.ArgRequired, DotArg: true, Desc: desc,
		Bind: func(arg string) (fields.Extract, error) {
			return strExtract(func(ev *sysevent.Event) (string, bool) {
				c := ctr(ev)
				if c == nil {
					return "", false
				}
				v, ok := g(c)[arg]
				return v, ok
			}), nil
		}}
}

func labelsField(name, desc string, g func(*sysevent.Container) map[string]string) fields.Def {
	return strField(name, desc, func(ev *sysevent.Event) (string, bool) {
		c := ctr(ev)
		if c == nil {
			return "", false
		}
		m := g(c)
		if len(m) == 0 {
			return "", false
		}
		return joinLabels(m), true
	})
}

// mountField defines a container.mount* field. Its argument is a mount
// index or a glob matched against the mount's source (its destination for
// byDest, i.e. container.mount.source[dest]); the first match wins. The
// plain container.mount field reads "none" when no mount matches, as in
// Falco; the others have no value.
func mountField(name, desc string, byDest bool, g func(*sysevent.Mount) string) fields.Def {
	none := name == "container.mount"
	return fields.Def{Name: name, Kind: fields.KindString, Arg: fields.ArgRequired, Desc: desc,
		Bind: func(arg string) (fields.Extract, error) {
			idx := -1
			if n, err := strconv.Atoi(arg); err == nil {
				if n < 0 {
					return nil, fmt.Errorf("bad mount index %q", arg)
				}
				idx = n
			} else if _, err := pathpkg.Match(arg, ""); err != nil {
				return nil, fmt.Errorf("bad mount path glob %q: %w", arg, err)
			}
			return strExtract(func(ev *sysevent.Event) (string, bool) {
				c := ctr(ev)
				if c == nil || c.Mounts == nil {
					return "", false
				}
				if m := findMount(c.Mounts, idx, arg, byDest); m != nil {
					return g(m), true
				}
				if none {
					return "none", true
				}
				return "", false
			}), nil
		}}
}

func findMount(ms []sysevent.Mount, idx int, glob string, byDest bool) *sysevent.Mount {
	if idx >= 0 {
		if idx < len(ms) {
			return &ms[idx]
		}
		return nil
	}
	for i := range ms {
		p := ms[i].Source
		if byDest {
			p = ms[i].Dest
		}
		if ok, _ := pathpkg.Match(glob, p); ok {
			return &ms[i]
		}
	}
	return nil
}

func mountText(m *sysevent.Mount) string {
	return m.Source + ":" + m.Dest + ":" + m.Mode + ":" + strconv.FormatBool(m.RW) + ":" + m.Propagation
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func joinLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + ":" + m[k])
	}
	return b.String()
}
