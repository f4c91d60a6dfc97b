package k8saudit

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// TypeName is the name of the single event type of the source.
const TypeName = "k8s_audit"

// Registry returns the fields of the k8s_audit source (built once).
var Registry = sync.OnceValue(buildRegistry)

func buildRegistry() *fields.Registry {
	r := fields.NewRegistry(Source, "", []string{TypeName})
	for _, d := range scalarDefs() {
		r.MustAdd(d)
	}
	r.MustAdd(listDefs()...)
	r.MustAdd(containerDefs()...)
	r.MustAdd(fields.SensorDefs()...)
	r.MustAdd(jsonDefs("jevt")...)
	r.MustAdd(jsonDefs("json")...)
	r.MustAdd(evtDefs()...)
	r.MustAdd(
		fields.Def{Name: "jevt.time", Kind: fields.KindString, Desc: "The event time as HH:MM:SS.nnnnnnnnn (local time, as evt.time)",
			Bind: noArg(func(e *Event, out *fields.Value) bool {
				return setStr(out, e.time.In(time.Local).Format("15:04:05.000000000"))
			})},
		fields.Def{Name: "jevt.time.iso8601", Kind: fields.KindString, Desc: "The event time in ISO 8601 (UTC, nanoseconds)",
			Bind: noArg(func(e *Event, out *fields.Value) bool {
				return setStr(out, e.time.UTC().Format("2006-01-02T15:04:05.000000000Z"))
			})},
	)
	return r
}

// scalarDefs are the single-valued string fields read from the event's top
// level and from the request/response objects.
func scalarDefs() []fields.Def {
	top := func(name, desc string, get func(w *wireEvent) jtext) fields.Def {
		return fields.Def{Name: name, Kind: fields.KindString, Desc: desc,
			Bind: noArg(func(e *Event, out *fields.Value) bool { return setText(out, get(&e.w)) })}
	}
	req := func(name, desc string, get func(r *requestObject) jtext) fields.Def {
		return fields.Def{Name: name, Kind: fields.KindString, Desc: desc,
			Bind: noArg(func(e *Event, out *fields.Value) bool {
				r, ok := e.request()
				return ok && setText(out, get(r))
			})}
	}
	firstContainer := func(e *Event) (*container, bool) {
		r, ok := e.request()
		if !ok || r.Spec.Containers == nil || len(*r.Spec.Containers) == 0 {
			return nil, false
		}
		return &(*r.Spec.Containers)[0], true
	}
	defs := []fields.Def{
		top("ka.auditid", "The unique id of the audit event", func(w *wireEvent) jtext { return w.AuditID }),
		top("ka.stage", "Stage of the request (e.g. RequestReceived, ResponseComplete, etc.)", func(w *wireEvent) jtext { return w.Stage }),
		top("ka.auth.decision", "The authorization decision", func(w *wireEvent) jtext { return w.Annotations.Decision }),
		top("ka.auth.reason", "The authorization reason", func(w *wireEvent) jtext { return w.Annotations.Reason }),
		top("ka.user.name", "The user name performing the request", func(w *wireEvent) jtext { return w.User.Username }),
		top("ka.impuser.name", "The impersonated user name", func(w *wireEvent) jtext { return w.ImpersonatedUser.Username }),
		top("ka.verb", "The action being performed", func(w *wireEvent) jtext { return w.Verb }),
		top("ka.uri", "The request URI as sent from client to server", func(w *wireEvent) jtext { return w.RequestURI }),
		top("ka.target.name", "The target object name", func(w *wireEvent) jtext { return w.ObjectRef.Name }),
		top("ka.target.namespace", "The target object namespace", func(w *wireEvent) jtext { return w.ObjectRef.Namespace }),
		top("ka.target.resource", "The target object resource", func(w *wireEvent) jtext { return w.ObjectRef.Resource }),
		top("ka.target.subresource", "The target object subresource", func(w *wireEvent) jtext { return w.ObjectRef.Subresource }),
		top("ka.target.pod.name", "The target pod name (when the target resource is pods)", func(w *wireEvent) jtext {
			if w.ObjectRef.Resource.s != "pods" {
				return jtext{}
			}
			return w.ObjectRef.Name
		}),
		top("ka.req.configmap.name", "If the request object refers to a configmap, the configmap name", func(w *wireEvent) jtext { return w.ObjectRef.Name }),
		top("ka.response.code", "The response code", func(w *wireEvent) jtext { return w.ResponseStatus.Code }),
		top("ka.response.reason", "The response reason (usually present only for failures)", func(w *wireEvent) jtext { return w.ResponseStatus.Reason }),
		top("ka.useragent", "The useragent of the client who made the request to the apiserver", func(w *wireEvent) jtext { return w.UserAgent }),

		req("ka.req.binding.role", "When the request object refers to a cluster role binding, the role being linked by the binding", func(r *requestObject) jtext { return r.RoleRef.Name }),
		req("ka.req.configmap.obj", "If the request object refers to a configmap, the entire configmap object", func(r *requestObject) jtext { return r.Data }),
		req("ka.req.pod.host_ipc", "When the request object refers to a pod, the value of the hostIPC flag.", func(r *requestObject) jtext { return r.Spec.HostIPC }),
		req("ka.req.pod.host_network", "When the request object refers to a pod, the value of the hostNetwork flag.", func(r *requestObject) jtext { return r.Spec.HostNetwork }),
		req("ka.req.container.host_network", "Deprecated alias for ka.req.pod.host_network", func(r *requestObject) jtext { return r.Spec.HostNetwork }),
		req("ka.req.pod.host_pid", "When the request object refers to a pod, the value of the hostPID flag.", func(r *requestObject) jtext { return r.Spec.HostPID }),
		req("ka.req.pod.run_as_user", "When the request object refers to a pod, the runAsUser uid specified in the security context for the pod", func(r *requestObject) jtext { return r.Spec.SecurityContext.RunAsUser }),
		req("ka.req.pod.run_as_group", "When the request object refers to a pod, the runAsGroup gid specified in the security context for the pod", func(r *requestObject) jtext { return r.Spec.SecurityContext.RunAsGroup }),
		req("ka.req.pod.fs_group", "When the request object refers to a pod, the fsGroup gid specified by the security context.", func(r *requestObject) jtext { return r.Spec.SecurityContext.FSGroup }),
		req("ka.req.service.type", "When the request object refers to a service, the service type", func(r *requestObject) jtext { return r.Spec.Type }),

		{Name: "ka.resp.name", Kind: fields.KindString, Desc: "The response object name",
			Bind: noArg(func(e *Event, out *fields.Value) bool { return setText(out, e.responseName()) })},
		{Name: "ka.req.container.image", Kind: fields.KindString, Desc: "Deprecated by ka.req.pod.containers.image. Returns the image of the first container only",
			Bind: noArg(func(e *Event, out *fields.Value) bool {
				c, ok := firstContainer(e)
				return ok && setText(out, c.Image)
			})},
		{Name: "ka.req.container.image.repository", Kind: fields.KindString, Desc: "Deprecated by ka.req.pod.containers.image.repository. Returns the repository of the first container only",
			Bind: noArg(func(e *Event, out *fields.Value) bool {
				c, ok := firstContainer(e)
				return ok && c.Image.ok && setStr(out, repository(c.Image.s))
			})},
		{Name: "ka.req.container.privileged", Kind: fields.KindString, Desc: "Deprecated by ka.req.pod.containers.privileged. Returns true if any container has privileged=true",
			Bind: noArg(func(e *Event, out *fields.Value) bool {
				r, ok := e.request()
				if !ok || r.Spec.Containers == nil {
					return false
				}
				for i := range *r.Spec.Containers {
					if (*r.Spec.Containers)[i].SecurityContext.Privileged.s == "true" {
						return setStr(out, "true")
					}
				}
				return setStr(out, "false")
			})},
		{Name: "ka.uri.param", Kind: fields.KindString, Arg: fields.ArgRequired, ArgKind: fields.ArgKey,
			Desc: "The value of a given query parameter in the uri (e.g. when uri=/foo?key=val, ka.uri.param[key] is val).",
			Bind: func(arg string) (fields.Extract, error) {
				if arg == "" {
					return nil, fmt.Errorf("ka.uri.param needs a parameter name, e.g. ka.uri.param[command]")
				}
				return func(ev fields.Event, out *fields.Value) bool {
					e, ok := ev.(*Event)
					if !ok || !e.w.RequestURI.ok {
						return false
					}
					u, err := url.Parse(e.w.RequestURI.s)
					if err != nil {
						return false
					}
					q, err := url.ParseQuery(u.RawQuery)
					if err != nil || len(q[arg]) == 0 {
						return false
					}
					return setStr(out, q[arg][0])
				}, nil
			}},
		{Name: "ka.req.binding.subject.has_name", Kind: fields.KindString, Arg: fields.ArgRequired, ArgKind: fields.ArgKey,
			Desc: "Deprecated, always true (kept for compatibility with older rules)",
			Bind: func(arg string) (fields.Extract, error) {
				return func(ev fields.Event, out *fields.Value) bool {
					_, ok := ev.(*Event)
					return ok && setStr(out, "true")
				}, nil
			}},
		{Name: "ka.req.volume.hostpath", Kind: fields.KindString, Arg: fields.ArgRequired, ArgKind: fields.ArgKey,
			Desc: "Deprecated by ka.req.pod.volumes.hostpath. \"true\" if the given host path (a prefix when it ends with *) is used by any volume",
			Bind: func(arg string) (fields.Extract, error) {
				if arg == "" {
					return nil, fmt.Errorf("ka.req.volume.hostpath needs a path, e.g. ka.req.volume.hostpath[/etc*]")
				}
				prefix, isPrefix := strings.CutSuffix(arg, "*")
				return func(ev fields.Event, out *fields.Value) bool {
					e, ok := ev.(*Event)
					if !ok {
						return false
					}
					r, ok := e.request()
					if !ok || r.Spec.Volumes == nil {
						return false
					}
					for _, v := range *r.Spec.Volumes {
						if v.hostPath.ok && (v.hostPath.s == arg || isPrefix && strings.HasPrefix(v.hostPath.s, prefix)) {
							return setStr(out, "true")
						}
					}
					return setStr(out, "false")
				}, nil
			}},
	}
	return defs
}

// listFunc appends the values of a list field to dst; idx selects one
// element of the underlying array (-1 for all). ok false means no value.
type listFunc func(e *Event, idx int, dst []string) ([]string, bool)

func listDef(name, desc string, indexed bool, fn listFunc) fields.Def {
	d := fields.Def{Name: name, Kind: fields.KindString, List: true, Desc: desc}
	if indexed {
		d.Arg, d.ArgKind = fields.ArgOptional, fields.ArgIndex
	}
	d.Bind = func(arg string) (fields.Extract, error) {
		idx := -1
		if arg != "" {
			if !indexed {
				return nil, fmt.Errorf("%s takes no argument", name)
			}
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s: index %q is not a non-negative integer", name, arg)
			}
			idx = n
		}
		return func(ev fields.Event, out *fields.Value) bool {
			e, ok := ev.(*Event)
			if !ok {
				return false
			}
			vals, ok := fn(e, idx, out.Strs[:0])
			if !ok {
				return false
			}
			out.Kind, out.IsList, out.Strs = fields.KindString, true, vals
			return true
		}, nil
	}
	return d
}

// pick returns the slice of n items selected by idx.
func pick(n, idx int) (lo, hi int, ok bool) {
	if idx < 0 {
		return 0, n, true
	}
	if idx >= n {
		return 0, 0, false
	}
	return idx, idx + 1, true
}

func textList(l jlist, idx int, dst []string) ([]string, bool) {
	if !l.ok {
		return dst, false
	}
	lo, hi, ok := pick(len(l.items), idx)
	if !ok {
		return dst, false
	}
	return append(dst, l.items[lo:hi]...), true
}

func listDefs() []fields.Def {
	rulesField := func(get func(r *rbacRule) jlist) listFunc {
		return func(e *Event, idx int, dst []string) ([]string, bool) {
			r, ok := e.request()
			if !ok || r.Rules == nil {
				return dst, false
			}
			lo, hi, ok := pick(len(*r.Rules), idx)
			if !ok {
				return dst, false
			}
			for _, rule := range (*r.Rules)[lo:hi] {
				dst = append(dst, get(&rule).items...)
			}
			return dst, true
		}
	}
	subjects := func(kind string, render func(s *subject) string) listFunc {
		return func(e *Event, _ int, dst []string) ([]string, bool) {
			r, ok := e.request()
			if !ok || r.Subjects == nil {
				return dst, false
			}
			for i := range *r.Subjects {
				s := &(*r.Subjects)[i]
				if kind == "" || s.Kind.s == kind {
					dst = append(dst, render(s))
				}
			}
			return dst, true
		}
	}
	volumes := func(get func(v *volume, dst []string) []string) listFunc {
		return func(e *Event, idx int, dst []string) ([]string, bool) {
			r, ok := e.request()
			if !ok || r.Spec.Volumes == nil {
				return dst, false
			}
			lo, hi, ok := pick(len(*r.Spec.Volumes), idx)
			if !ok {
				return dst, false
			}
			for i := lo; i < hi; i++ {
				dst = get(&(*r.Spec.Volumes)[i], dst)
			}
			return dst, true
		}
	}
	return []fields.Def{
		listDef("ka.user.groups", "The groups to which the user belongs", false,
			func(e *Event, idx int, dst []string) ([]string, bool) { return textList(e.w.User.Groups, idx, dst) }),
		listDef("ka.sourceips", "The IP addresses of the client who made the request to the apiserver", true,
			func(e *Event, idx int, dst []string) ([]string, bool) { return textList(e.w.SourceIPs, idx, dst) }),
		listDef("ka.req.binding.subjects", "When the request object refers to a cluster role binding, the subject (e.g. account/users) being linked by the binding", false,
			subjects("", func(s *subject) string { return s.text })),
		listDef("ka.req.binding.subjects.user_names", "When the request object refers to a cluster role binding, the subject user names being linked by the binding", false,
			subjects("User", func(s *subject) string { return s.Name.s })),
		listDef("ka.req.binding.subjects.serviceaccount_names", "When the request object refers to a cluster role binding, the subject service account names being linked by the binding", false,
			subjects("ServiceAccount", func(s *subject) string { return s.Name.s })),
		listDef("ka.req.binding.subjects.serviceaccount_ns_names", "When the request object refers to a cluster role binding, the subject service accounts as namespace:name", false,
			subjects("ServiceAccount", func(s *subject) string { return s.Namespace.s + ":" + s.Name.s })),
		listDef("ka.req.binding.subjects.group_names", "When the request object refers to a cluster role binding, the subject group names being linked by the binding", false,
			subjects("Group", func(s *subject) string { return s.Name.s })),
		listDef("ka.req.role.rules", "When the request object refers to a role/cluster role, the rules associated with the role", false,
			func(e *Event, _ int, dst []string) ([]string, bool) {
				r, ok := e.request()
				if !ok || r.Rules == nil {
					return dst, false
				}
				for _, rule := range *r.Rules {
					dst = append(dst, rule.text)
				}
				return dst, true
			}),
		listDef("ka.req.role.rules.apiGroups", "When the request object refers to a role/cluster role, the api groups associated with the role's rules", true,
			rulesField(func(r *rbacRule) jlist { return r.APIGroups })),
		listDef("ka.req.role.rules.nonResourceURLs", "When the request object refers to a role/cluster role, the non resource urls associated with the role's rules", true,
			rulesField(func(r *rbacRule) jlist { return r.NonResourceURLs })),
		listDef("ka.req.role.rules.verbs", "When the request object refers to a role/cluster role, the verbs associated with the role's rules", true,
			rulesField(func(r *rbacRule) jlist { return r.Verbs })),
		listDef("ka.req.role.rules.resources", "When the request object refers to a role/cluster role, the resources associated with the role's rules", true,
			rulesField(func(r *rbacRule) jlist { return r.Resources })),
		listDef("ka.req.pod.supplemental_groups", "When the request object refers to a pod, the supplementalGroup gids specified by the security context.", false,
			func(e *Event, idx int, dst []string) ([]string, bool) {
				r, ok := e.request()
				if !ok {
					return dst, false
				}
				return textList(r.Spec.SecurityContext.SupplementalGroups, idx, dst)
			}),
		listDef("ka.req.service.ports", "When the request object refers to a service, the service's ports", true,
			func(e *Event, idx int, dst []string) ([]string, bool) {
				r, ok := e.request()
				if !ok {
					return dst, false
				}
				return textList(r.Spec.Ports, idx, dst)
			}),
		listDef("ka.req.pod.volumes.hostpath", "When the request object refers to a pod, all hostPath paths specified for all volumes", true,
			volumes(func(v *volume, dst []string) []string {
				if v.hostPath.ok {
					dst = append(dst, v.hostPath.s)
				}
				return dst
			})),
		listDef("ka.req.pod.volumes.flexvolume_driver", "When the request object refers to a pod, all flexvolume drivers specified for all volumes", true,
			volumes(func(v *volume, dst []string) []string {
				if v.flexDriver.ok {
					dst = append(dst, v.flexDriver.s)
				}
				return dst
			})),
		listDef("ka.req.pod.volumes.volume_type", "When the request object refers to a pod, all volume types for all volumes", true,
			volumes(func(v *volume, dst []string) []string { return append(dst, v.keys...) })),
	}
}

// containerDefs are the per-container fields, for the containers, the init
// containers and the ephemeral containers of a pod.
func containerDefs() []fields.Def {
	type leaf struct {
		name, desc string
		get        func(c *container, s *spec, dst []string) []string
	}
	text := func(sel func(c *container) jtext) func(c *container, _ *spec, dst []string) []string {
		return func(c *container, _ *spec, dst []string) []string {
			if t := sel(c); t.ok {
				dst = append(dst, t.s)
			}
			return dst
		}
	}
	effective := func(sel func(c *container) jtext, pod func(s *spec) jtext) func(c *container, s *spec, dst []string) []string {
		return func(c *container, s *spec, dst []string) []string {
			if t := sel(c); t.ok {
				return append(dst, t.s)
			}
			if t := pod(s); t.ok {
				return append(dst, t.s)
			}
			return append(dst, "0")
		}
	}
	leaves := []leaf{
		{"name", "names", text(func(c *container) jtext { return c.Name })},
		{"image", "images", text(func(c *container) jtext { return c.Image })},
		{"image.repository", "image repositories (the image without tag or digest, e.g. falcosecurity/falco)", func(c *container, _ *spec, dst []string) []string {
			if c.Image.ok {
				dst = append(dst, repository(c.Image.s))
			}
			return dst
		}},
		{"command", "commands (each as a JSON array)", text(func(c *container) jtext { return c.Command })},
		{"args", "args (each as a JSON array)", text(func(c *container) jtext { return c.Args })},
		{"host_port", "hostPort values (containerPort when hostPort is not set)", func(c *container, _ *spec, dst []string) []string {
			if c.Ports == nil {
				return dst
			}
			for _, p := range *c.Ports {
				if p.HostPort.ok {
					dst = append(dst, p.HostPort.s)
				} else if p.ContainerPort.ok {
					dst = append(dst, p.ContainerPort.s)
				}
			}
			return dst
		}},
		{"privileged", "privileged flags", text(func(c *container) jtext { return c.SecurityContext.Privileged })},
		{"allow_privilege_escalation", "allowPrivilegeEscalation flags", text(func(c *container) jtext { return c.SecurityContext.AllowPrivilegeEscalation })},
		{"read_only_fs", "readOnlyRootFilesystem flags", text(func(c *container) jtext { return c.SecurityContext.ReadOnlyRootFilesystem })},
		{"run_as_user", "runAsUser uids", text(func(c *container) jtext { return c.SecurityContext.RunAsUser })},
		{"run_as_group", "runAsGroup gids", text(func(c *container) jtext { return c.SecurityContext.RunAsGroup })},
		{"eff_run_as_user", "effective initial uids (the container's runAsUser, else the pod's, else 0)",
			effective(func(c *container) jtext { return c.SecurityContext.RunAsUser }, func(s *spec) jtext { return s.SecurityContext.RunAsUser })},
		{"eff_run_as_group", "effective initial gids (the container's runAsGroup, else the pod's, else 0)",
			effective(func(c *container) jtext { return c.SecurityContext.RunAsGroup }, func(s *spec) jtext { return s.SecurityContext.RunAsGroup })},
		{"proc_mount", "procMount types", text(func(c *container) jtext { return c.SecurityContext.ProcMount })},
		{"add_capabilities", "capabilities added", func(c *container, _ *spec, dst []string) []string {
			return append(dst, c.SecurityContext.Capabilities.Add.items...)
		}},
	}
	kinds := []struct {
		key, what string
		sel       func(s *spec) *[]container
	}{
		{"containers", "containers", func(s *spec) *[]container { return s.Containers }},
		{"initContainers", "init containers", func(s *spec) *[]container { return s.InitContainers }},
		{"ephemeralContainers", "ephemeral containers", func(s *spec) *[]container { return s.EphemeralContainers }},
	}
	var defs []fields.Def
	for _, k := range kinds {
		for _, l := range leaves {
			defs = append(defs, listDef("ka.req.pod."+k.key+"."+l.name,
				"When the request object refers to a pod, the "+k.what+"' "+l.desc, true,
				func(e *Event, idx int, dst []string) ([]string, bool) {
					r, ok := e.request()
					if !ok {
						return dst, false
					}
					cs := k.sel(&r.Spec)
					if cs == nil {
						return dst, false
					}
					lo, hi, ok := pick(len(*cs), idx)
					if !ok {
						return dst, false
					}
					for i := lo; i < hi; i++ {
						dst = l.get(&(*cs)[i], &r.Spec, dst)
					}
					return dst, true
				}))
		}
	}
	return defs
}

// repository strips the tag and digest of an image reference, as the
// k8saudit plugin does (everything from the first ':' or '@').
func repository(image string) string {
	if i := strings.IndexByte(image, ':'); i >= 0 {
		image = image[:i]
	}
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	return image
}

// jsonDefs are the json plugin's fields under prefix (json or jevt).
func jsonDefs(prefix string) []fields.Def {
	return []fields.Def{
		{Name: prefix + ".value", Kind: fields.KindString, Arg: fields.ArgRequired, ArgKind: fields.ArgKey,
			Desc: "The value at a JSON pointer in the event (e.g. " + prefix + ".value[/user/username]): strings as is, other values as JSON text",
			Bind: bindPointer},
		{Name: prefix + ".obj", Kind: fields.KindString, Desc: "The whole event as JSON text",
			Bind: noArg(func(e *Event, out *fields.Value) bool { return setStr(out, string(e.raw)) })},
		{Name: prefix + ".rawtime", Kind: fields.KindUint, Desc: "The event time in nanoseconds since the epoch",
			Bind: noArg(func(e *Event, out *fields.Value) bool {
				out.Kind, out.IsList, out.Uint = fields.KindUint, false, uint64(e.time.UnixNano())
				return true
			})},
	}
}

// topPointers serve the JSON pointers that rules use on every event from
// the decoded struct instead of scanning the text.
var topPointers = map[string]func(w *wireEvent) jtext{
	"/stage":               func(w *wireEvent) jtext { return w.Stage },
	"/verb":                func(w *wireEvent) jtext { return w.Verb },
	"/auditID":             func(w *wireEvent) jtext { return w.AuditID },
	"/requestURI":          func(w *wireEvent) jtext { return w.RequestURI },
	"/userAgent":           func(w *wireEvent) jtext { return w.UserAgent },
	"/user/username":       func(w *wireEvent) jtext { return w.User.Username },
	"/objectRef/resource":  func(w *wireEvent) jtext { return w.ObjectRef.Resource },
	"/objectRef/namespace": func(w *wireEvent) jtext { return w.ObjectRef.Namespace },
	"/objectRef/name":      func(w *wireEvent) jtext { return w.ObjectRef.Name },
}

func bindPointer(arg string) (fields.Extract, error) {
	toks, err := parsePointer(arg)
	if err != nil {
		return nil, err
	}
	if arg == "" {
		return nil, fmt.Errorf("needs a JSON pointer, e.g. jevt.value[/user/username]")
	}
	if get, ok := topPointers[arg]; ok {
		return func(ev fields.Event, out *fields.Value) bool {
			e, ok := ev.(*Event)
			return ok && setText(out, get(&e.w))
		}, nil
	}
	return func(ev fields.Event, out *fields.Value) bool {
		e, ok := ev.(*Event)
		if !ok {
			return false
		}
		raw, ok := lookupPointer(e.raw, toks)
		if !ok {
			return false
		}
		s, ok := rawText(raw)
		return ok && setStr(out, s)
	}, nil
}

func noArg(fn func(e *Event, out *fields.Value) bool) func(string) (fields.Extract, error) {
	return func(arg string) (fields.Extract, error) {
		if arg != "" {
			return nil, fmt.Errorf("takes no argument (got %q)", arg)
		}
		return func(ev fields.Event, out *fields.Value) bool {
			e, ok := ev.(*Event)
			return ok && fn(e, out)
		}, nil
	}
}

func setText(out *fields.Value, t jtext) bool {
	if !t.ok {
		return false
	}
	return setStr(out, t.s)
}

func setStr(out *fields.Value, s string) bool {
	out.Kind, out.IsList, out.Str = fields.KindString, false, s
	return true
}
