package syscallfields

import (
	"sort"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

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
		boolField("container.privileged", "true for a privileged container", func(ev *sysevent.Event) (bool, bool) {
			c := ctr(ev)
			if c == nil || c.Privileged == nil {
				return false, false
			}
			return *c.Privileged, true
		}),
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
		ctrStr("k8s.pod.name", "Kubernetes pod name", func(c *sysevent.Container) string { return c.PodName }),
		ctrStr("k8s.pod.uid", "Kubernetes pod uid", func(c *sysevent.Container) string { return c.PodUID }),
		ctrStr("k8s.pod.id", "Kubernetes pod uid (legacy name)", func(c *sysevent.Container) string { return c.PodUID }),
		ctrStr("k8s.ns.name", "Kubernetes namespace", func(c *sysevent.Container) string { return c.PodNamespace }),
		fields.Def{Name: "k8s.pod.label", Kind: fields.KindString, Arg: fields.ArgRequired, DotArg: true,
			Desc: "one Kubernetes pod label (k8s.pod.label[app])",
			Bind: func(arg string) (fields.Extract, error) {
				return strExtract(func(ev *sysevent.Event) (string, bool) {
					c := ctr(ev)
					if c == nil {
						return "", false
					}
					v, ok := c.PodLabels[arg]
					return v, ok
				}), nil
			}},
		strField("k8s.pod.labels", "Kubernetes pod labels as key:value, comma separated", func(ev *sysevent.Event) (string, bool) {
			c := ctr(ev)
			if c == nil || len(c.PodLabels) == 0 {
				return "", false
			}
			return joinLabels(c.PodLabels), true
		}),
		fields.Def{Name: "container.label", Kind: fields.KindString, Arg: fields.ArgRequired, DotArg: true,
			Desc: "one container label (container.label[com.example.x])",
			Bind: func(arg string) (fields.Extract, error) {
				return strExtract(func(ev *sysevent.Event) (string, bool) {
					c := ctr(ev)
					if c == nil {
						return "", false
					}
					v, ok := c.Labels[arg]
					return v, ok
				}), nil
			}},
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
