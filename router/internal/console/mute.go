package console

import (
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/console/index"
)

// incidentKey is the key of the incident a belongs to (as the index
// groups them: the rule and the configured incident fields).
func (c *Console) incidentKey(a *harrierv1.Alert) string {
	vals := make(map[string]string, len(c.d.IncidentFields))
	for _, f := range c.d.IncidentFields {
		if v, ok := a.GetOutputFields()[f]; ok {
			vals[f] = index.FieldString(v)
		}
	}
	return index.IncidentKey(a.GetRule(), c.d.IncidentFields, vals)
}

// muted tells whether a's incident is muted at now. Mutes are kept on the
// router, so they hold for every session until they end or are lifted.
func (c *Console) muted(a *harrierv1.Alert, now time.Time) bool {
	key := c.incidentKey(a)
	c.mu.Lock()
	st, ok := c.states[key]
	c.mu.Unlock()
	return ok && st.State == "muted" && now.Before(st.MutedUntil)
}

// action names a state change for the audit log.
func action(from, to string) string {
	switch {
	case to == "acknowledged":
		return "acknowledge"
	case to == "resolved":
		return "resolve"
	case to == "muted":
		return "mute"
	case from == "muted":
		return "unmute"
	}
	return "reopen"
}

// markMuted turns search hits into answers: hits of muted incidents are
// marked, and left out unless show. next is where the following page
// starts (the last hit looked at, shown or not).
func (c *Console) markMuted(hs []index.Hit, show bool) (out []hitJSON, hidden int, next uint64) {
	now := c.d.Now()
	out = make([]hitJSON, 0, len(hs))
	for _, h := range hs {
		next = h.Seq
		m := c.muted(h.Alert, now)
		if m && !show {
			hidden++
			continue
		}
		out = append(out, hitJSON{Seq: h.Seq, Alert: alertJSON(h.Alert), Muted: m})
	}
	return out, hidden, next
}
