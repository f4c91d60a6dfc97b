package index

import (
	"encoding/json"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Incident groups identical alerts (same rule and incident fields) from
// every sensor.
type Incident struct {
	Key       string            `json:"key"`
	Rule      string            `json:"rule"`
	Priority  string            `json:"priority"`
	Fields    map[string]string `json:"fields"`
	Count     int               `json:"count"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
	Sensors   []string          `json:"sensors"`
	Hosts     []string          `json:"hosts"`
}

// SensorSeen is what the alerts tell about a sensor.
type SensorSeen struct {
	ID             string    `json:"id"`
	Hostname       string    `json:"hostname"`
	LastAlert      time.Time `json:"last_alert"`
	RulesetVersion string    `json:"ruleset_version"`
	Alerts         int       `json:"alerts"`
}

// IncidentKey is the identity of an alert's incident.
func IncidentKey(rule string, fields []string, vals map[string]string) string {
	h := fnv.New64a()
	h.Write([]byte(rule))
	for _, f := range fields {
		h.Write([]byte{0})
		h.Write([]byte(f + "=" + vals[f]))
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// addIncident counts a in its incident and returns the incident's key;
// called with mu held.
func (x *Index) addIncident(a *harrierv1.Alert, t time.Time) string {
	vals := make(map[string]string, len(x.opts.IncidentFields))
	for _, f := range x.opts.IncidentFields {
		if v, ok := a.GetOutputFields()[f]; ok {
			vals[f] = FieldString(v)
		}
	}
	key := IncidentKey(a.GetRule(), x.opts.IncidentFields, vals)
	in := x.inc[key]
	if in == nil {
		in = &Incident{Key: key, Rule: a.GetRule(), Fields: vals, FirstSeen: t, LastSeen: t}
		x.inc[key] = in
	}
	n := int(a.GetCount())
	if n < 1 {
		n = 1
	}
	in.Count += n
	in.Priority = PriorityName(a.GetPriority())
	if t.Before(in.FirstSeen) {
		in.FirstSeen = t
	}
	if t.After(in.LastSeen) {
		in.LastSeen = t
	}
	in.Sensors = addSorted(in.Sensors, a.GetSensorId())
	in.Hosts = addSorted(in.Hosts, a.GetHostname())
	return key
}

// pruneIncidents forgets incidents last seen before MaxAge, returning
// their keys; called with mu held.
func (x *Index) pruneIncidents() []string {
	if x.opts.MaxAge <= 0 || len(x.inc) <= 10000 {
		return nil
	}
	var gone []string
	limit := x.opts.Now().Add(-x.opts.MaxAge)
	for k, in := range x.inc {
		if in.LastSeen.Before(limit) {
			delete(x.inc, k)
			gone = append(gone, k)
		}
	}
	return gone
}

// docsFor encodes the touched incidents and sensors for storage (nil: the
// incident was pruned); called with mu held.
func (x *Index) docsFor(inc, sens map[string]bool) (map[string][]byte, map[string][]byte) {
	for _, k := range x.pruneIncidents() {
		inc[k] = true
	}
	id, sd := make(map[string][]byte, len(inc)), make(map[string][]byte, len(sens))
	for k := range inc {
		if in := x.inc[k]; in != nil {
			id[k], _ = json.Marshal(in)
		} else {
			id[k] = nil
		}
	}
	for k := range sens {
		if s := x.sens[k]; s != nil {
			sd[k], _ = json.Marshal(s)
		}
	}
	return id, sd
}

func addSorted(ss []string, s string) []string {
	if s == "" {
		return ss
	}
	i := sort.SearchStrings(ss, s)
	if i < len(ss) && ss[i] == s {
		return ss
	}
	if len(ss) >= 50 { // enough to show "many"
		return ss
	}
	ss = append(ss, "")
	copy(ss[i+1:], ss[i:])
	ss[i] = s
	return ss
}

// addSensor records a's sensor and returns its id; called with mu held.
func (x *Index) addSensor(a *harrierv1.Alert, t time.Time) string {
	id := a.GetSensorId()
	if id == "" {
		id = a.GetHostname()
	}
	s := x.sens[id]
	if s == nil {
		s = &SensorSeen{ID: id}
		x.sens[id] = s
	}
	s.Alerts++
	if !t.Before(s.LastAlert) {
		s.LastAlert, s.Hostname, s.RulesetVersion = t, a.GetHostname(), a.GetRulesetVersion()
	}
	return id
}

// Incidents lists incidents, most recently seen first.
func (x *Index) Incidents() []Incident {
	x.mu.RLock()
	out := make([]Incident, 0, len(x.inc))
	for _, in := range x.inc {
		c := *in
		c.Sensors = append([]string(nil), in.Sensors...)
		c.Hosts = append([]string(nil), in.Hosts...)
		out = append(out, c)
	}
	x.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// Sensors lists the sensors seen in alerts.
func (x *Index) Sensors() []SensorSeen {
	x.mu.RLock()
	out := make([]SensorSeen, 0, len(x.sens))
	for _, s := range x.sens {
		out = append(out, *s)
	}
	x.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
