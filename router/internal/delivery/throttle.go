package delivery

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
)

// Throttle is an output's flood control across sensors: at most Rate alerts
// per Window for each key (the rule plus the values of Fields). The alerts
// held back are counted and, when the key's window ends, summarised in one
// alert ("42 more like this in 5m") delivered like any other.
type Throttle struct {
	Rate   int
	Window time.Duration
	// Fields join the rule in the key: alert fields (hostname, source,
	// priority, sensor_id, cluster_name) or output fields (k8s.ns.name).
	Fields []string
	// Now is the clock (nil: time.Now); tests inject one.
	Now func() time.Time
}

// throttler keeps the windows of one output's keys. The fetcher goroutine
// uses it; the mutex only guards against the pending-summary check.
type throttler struct {
	cfg Throttle
	mu  sync.Mutex
	// keys of the current windows; a key with no alert for a whole
	// window is dropped when its window ends.
	keys map[string]*window
}

type window struct {
	start  time.Time
	passed int
	held   int
	sample *harrierv1.Alert // the first alert held back
	first  time.Time        // event times of the held alerts
	last   time.Time
}

func newThrottler(cfg Throttle) *throttler {
	if cfg.Rate <= 0 {
		return nil
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	return &throttler{cfg: cfg, keys: map[string]*window{}}
}

func (t *throttler) key(a *harrierv1.Alert) string {
	var b strings.Builder
	b.WriteString(a.GetRule())
	for _, f := range t.cfg.Fields {
		b.WriteByte(0)
		switch f {
		case "hostname":
			b.WriteString(a.GetHostname())
		case "source":
			b.WriteString(a.GetSource())
		case "priority":
			b.WriteString(a.GetPriority().FalcoName())
		case "sensor_id":
			b.WriteString(a.GetSensorId())
		case "cluster_name":
			b.WriteString(a.GetClusterName())
		default:
			if v, ok := a.GetOutputFields()[f]; ok {
				b.WriteString(msgtemplate.FieldText(v))
			}
		}
	}
	return b.String()
}

// admit reports whether a passes; held-back alerts are counted. Summaries
// of windows that ended are returned for delivery before a.
func (t *throttler) admit(a *harrierv1.Alert) (pass bool, summaries []*harrierv1.Alert) {
	now := t.cfg.Now()
	k := t.key(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.keys[k]
	if w != nil && !now.Before(w.start.Add(t.cfg.Window)) {
		if s := t.summary(w); s != nil {
			summaries = append(summaries, s)
		}
		w = nil
	}
	if w == nil {
		w = &window{start: now}
		t.keys[k] = w
	}
	if w.passed < t.cfg.Rate {
		w.passed++
		return true, summaries
	}
	w.held++
	at := a.GetTime().AsTime()
	if w.sample == nil {
		w.sample, w.first = a, at
	}
	if at.After(w.last) {
		w.last = at
	}
	return false, summaries
}

// due returns the summaries of every window that has ended, and forgets
// those windows; next is when the earliest remaining window with held
// alerts ends (zero: none).
func (t *throttler) due() (summaries []*harrierv1.Alert, next time.Time) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, w := range t.keys {
		end := w.start.Add(t.cfg.Window)
		if now.Before(end) {
			if w.held > 0 && (next.IsZero() || end.Before(next)) {
				next = end
			}
			continue
		}
		if s := t.summary(w); s != nil {
			summaries = append(summaries, s)
		}
		delete(t.keys, k)
	}
	return summaries, next
}

// pending counts the alerts held back in windows not yet summarised.
func (t *throttler) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, w := range t.keys {
		n += w.held
	}
	return n
}

// summary is the follow-up alert of a window (nil when nothing was held):
// the first held alert's rule, priority, source, host, tags and fields,
// with count, first and last times of the held alerts.
func (t *throttler) summary(w *window) *harrierv1.Alert {
	if w.held == 0 {
		return nil
	}
	s := w.sample
	fields := make(map[string]*harrierv1.FieldValue, len(s.GetOutputFields())+2)
	for k, v := range s.GetOutputFields() {
		fields[k] = v
	}
	fields["harrier.throttle.held"] = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: int64(w.held)}}
	fields["harrier.throttle.window"] = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: t.cfg.Window.String()}}
	id := uuid.Must(uuid.NewV7())
	return &harrierv1.Alert{
		Id:             id.String(),
		Time:           timestamppb.New(w.last),
		Rule:           s.GetRule(),
		Priority:       s.GetPriority(),
		Source:         s.GetSource(),
		Output:         fmt.Sprintf("%d more like this in %s: %s", w.held, shortDuration(t.cfg.Window), s.GetOutput()),
		OutputFields:   fields,
		Tags:           s.GetTags(),
		Hostname:       s.GetHostname(),
		SensorId:       s.GetSensorId(),
		RulesetVersion: s.GetRulesetVersion(),
		ClusterName:    s.GetClusterName(),
		Count:          uint32(w.held),
		FirstTime:      timestamppb.New(w.first),
		LastTime:       timestamppb.New(w.last),
	}
}

// shortDuration prints 5m rather than 5m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
