// Package k8saudit is the k8s_audit event source: it decodes Kubernetes
// audit events (audit.k8s.io Event objects, single, one per line or in an
// EventList) and publishes the ka.*, jevt.* and json.* fields of Falco's
// k8saudit and json plugins with the same semantics.
//
// Each event is decoded once: the top level into a struct, the request and
// response objects lazily on first use (most rules never look at them), and
// every field extractor then reads the decoded struct.
package k8saudit

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"
)

// Source is the source name of audit events, as written in rules.
const Source = "k8s_audit"

// Event is one decoded audit event. It is safe to evaluate one Event from
// several goroutines: the lazily decoded parts are guarded by sync.Once.
type Event struct {
	raw  []byte // the event's JSON text, as received
	time time.Time
	w    wireEvent

	reqOnce sync.Once
	req     requestObject
	reqOK   bool

	respOnce sync.Once
	respName jtext
}

// Source implements fields.Event.
func (*Event) Source() string { return Source }

// TypeID implements fields.Event: audit events have a single type.
func (*Event) TypeID() uint16 { return 0 }

// Time is the event time: stageTimestamp, else timestamp (audit v1beta1),
// else requestReceivedTimestamp; the zero time when none parses.
func (e *Event) Time() time.Time { return e.time }

// EventTime is Time: alerts carry it (alertfmt.Timed).
func (e *Event) EventTime() time.Time { return e.time }

// Raw returns the event's JSON text. The caller must not modify it.
func (e *Event) Raw() []byte { return e.raw }

// AuditID is the event's auditID.
func (e *Event) AuditID() string { return e.w.AuditID.s }

// wireEvent is the part of an audit event that the ka.* fields read. Leaves
// are jtext so that a value of an unexpected JSON type still reads as text,
// as the k8saudit plugin renders it, instead of failing the decode.
type wireEvent struct {
	Kind                     jtext           `json:"kind"`
	AuditID                  jtext           `json:"auditID"`
	Stage                    jtext           `json:"stage"`
	RequestURI               jtext           `json:"requestURI"`
	Verb                     jtext           `json:"verb"`
	User                     userInfo        `json:"user"`
	ImpersonatedUser         userInfo        `json:"impersonatedUser"`
	SourceIPs                jlist           `json:"sourceIPs"`
	UserAgent                jtext           `json:"userAgent"`
	ObjectRef                objectRef       `json:"objectRef"`
	ResponseStatus           responseStatus  `json:"responseStatus"`
	RequestObject            json.RawMessage `json:"requestObject"`
	ResponseObject           json.RawMessage `json:"responseObject"`
	Annotations              annotations     `json:"annotations"`
	StageTimestamp           jtext           `json:"stageTimestamp"`
	Timestamp                jtext           `json:"timestamp"`
	RequestReceivedTimestamp jtext           `json:"requestReceivedTimestamp"`
}

// annotations are the audit annotations the fields read (a struct rather
// than a map: no allocation per key).
type annotations struct {
	Decision jtext `json:"authorization.k8s.io/decision"`
	Reason   jtext `json:"authorization.k8s.io/reason"`
}

type userInfo struct {
	Username jtext `json:"username"`
	Groups   jlist `json:"groups"`
}

type objectRef struct {
	Resource    jtext `json:"resource"`
	Namespace   jtext `json:"namespace"`
	Name        jtext `json:"name"`
	Subresource jtext `json:"subresource"`
}

type responseStatus struct {
	Code   jtext `json:"code"`
	Reason jtext `json:"reason"`
}

// requestObject is the union of the request objects the ka.req.* fields
// read: pods, services, configmaps, roles and bindings share the struct.
type requestObject struct {
	Data     jtext                `json:"data"`
	Spec     spec                 `json:"spec"`
	Rules    *[]rbacRule          `json:"rules"`
	Subjects *[]subject           `json:"subjects"`
	RoleRef  struct{ Name jtext } `json:"roleRef"`
}

type spec struct {
	Containers          *[]container `json:"containers"`
	InitContainers      *[]container `json:"initContainers"`
	EphemeralContainers *[]container `json:"ephemeralContainers"`
	HostIPC             jtext        `json:"hostIPC"`
	HostNetwork         jtext        `json:"hostNetwork"`
	HostPID             jtext        `json:"hostPID"`
	SecurityContext     struct {
		RunAsUser          jtext `json:"runAsUser"`
		RunAsGroup         jtext `json:"runAsGroup"`
		FSGroup            jtext `json:"fsGroup"`
		SupplementalGroups jlist `json:"supplementalGroups"`
	} `json:"securityContext"`
	Volumes *[]volume `json:"volumes"`
	Type    jtext     `json:"type"`  // services
	Ports   jlist     `json:"ports"` // services
}

type container struct {
	Name    jtext `json:"name"`
	Image   jtext `json:"image"`
	Command jtext `json:"command"`
	Args    jtext `json:"args"`
	Ports   *[]struct {
		HostPort      jtext `json:"hostPort"`
		ContainerPort jtext `json:"containerPort"`
	} `json:"ports"`
	SecurityContext struct {
		Privileged               jtext `json:"privileged"`
		AllowPrivilegeEscalation jtext `json:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   jtext `json:"readOnlyRootFilesystem"`
		RunAsUser                jtext `json:"runAsUser"`
		RunAsGroup               jtext `json:"runAsGroup"`
		ProcMount                jtext `json:"procMount"`
		Capabilities             struct {
			Add jlist `json:"add"`
		} `json:"capabilities"`
	} `json:"securityContext"`
}

// volume keeps the names of a volume's keys (its types: hostPath,
// configMap, ...) besides the two sources the fields read.
type volume struct {
	keys       []string
	hostPath   jtext
	flexDriver jtext
}

func (v *volume) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil // not an object: no keys, like the plugin
	}
	// Keep the keys in document order (the map has lost it).
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return nil
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			break
		}
		k, _ := t.(string)
		if k != "name" {
			v.keys = append(v.keys, k)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
	}
	var src struct {
		HostPath struct {
			Path jtext `json:"path"`
		} `json:"hostPath"`
		FlexVolume struct {
			Driver jtext `json:"driver"`
		} `json:"flexVolume"`
	}
	_ = json.Unmarshal(b, &src)
	v.hostPath, v.flexDriver = src.HostPath.Path, src.FlexVolume.Driver
	return nil
}

// rbacRule is one PolicyRule of a Role or ClusterRole: its JSON text (for
// ka.req.role.rules) and its lists.
type rbacRule struct {
	text            string
	APIGroups       jlist `json:"apiGroups"`
	Resources       jlist `json:"resources"`
	Verbs           jlist `json:"verbs"`
	NonResourceURLs jlist `json:"nonResourceURLs"`
}

func (r *rbacRule) UnmarshalJSON(b []byte) error {
	type plain rbacRule
	var p plain
	_ = json.Unmarshal(b, &p) // a non-object rule has no lists
	*r = rbacRule(p)
	r.text = compactText(b)
	return nil
}

// subject is one subject of a (Cluster)RoleBinding.
type subject struct {
	text      string
	Kind      jtext `json:"kind"`
	Name      jtext `json:"name"`
	Namespace jtext `json:"namespace"`
}

func (s *subject) UnmarshalJSON(b []byte) error {
	type plain subject
	var p plain
	_ = json.Unmarshal(b, &p)
	*s = subject(p)
	s.text = compactText(b)
	return nil
}

// request returns the decoded requestObject; false when the event has none
// or it is not a JSON object.
func (e *Event) request() (*requestObject, bool) {
	e.reqOnce.Do(func() {
		if len(e.w.RequestObject) == 0 || e.w.RequestObject[0] != '{' {
			return
		}
		// Type mismatches deep inside are tolerated by jtext/jlist; a
		// failure here leaves whatever decoded so far, like a partial
		// plugin extraction.
		_ = json.Unmarshal(e.w.RequestObject, &e.req)
		e.reqOK = true
	})
	return &e.req, e.reqOK
}

func (e *Event) responseName() jtext {
	e.respOnce.Do(func() {
		if len(e.w.ResponseObject) == 0 || e.w.ResponseObject[0] != '{' {
			return
		}
		var r struct {
			Metadata struct {
				Name jtext `json:"name"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(e.w.ResponseObject, &r)
		e.respName = r.Metadata.Name
	})
	return e.respName
}

// jtext is a JSON leaf read as text, as the k8saudit plugin reads every
// field: a string is its value, any other non-null value its compact JSON
// text ("true", "201", {"a":1}). null and absent are "not set".
type jtext struct {
	s  string
	ok bool
}

func (t *jtext) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = jtext{}
	case b[0] == '"':
		// Most strings have no escapes: skip the decoder's second pass.
		if len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
			*t = jtext{s: string(b[1 : len(b)-1]), ok: true}
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = jtext{s: s, ok: true}
	default:
		*t = jtext{s: compactText(b), ok: true}
	}
	return nil
}

// jlist is a JSON array read as a list of texts. A value that is not an
// array leaves the list unset, as the plugin reports a type mismatch.
type jlist struct {
	items []string
	ok    bool
}

func (l *jlist) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		*l = jlist{}
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	items := make([]string, 0, len(raw))
	for _, r := range raw {
		var t jtext
		if err := t.UnmarshalJSON(r); err != nil {
			return err
		}
		if t.ok { // nulls are skipped, as the plugin skips them
			items = append(items, t.s)
		}
	}
	*l = jlist{items: items, ok: true}
	return nil
}

func compactText(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(bytes.TrimSpace(b))
	}
	return buf.String()
}

// eventTime picks the event time as the k8saudit plugin does, falling back
// through the timestamps older audit versions carry.
func (w *wireEvent) eventTime() time.Time {
	for _, t := range []jtext{w.StageTimestamp, w.Timestamp, w.RequestReceivedTimestamp} {
		if !t.ok {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, t.s); err == nil {
			return ts
		}
	}
	return time.Time{}
}
