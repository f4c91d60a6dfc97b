// Package console serves the Harrier console at /ui: the embedded page and
// its JSON API (search, live stream, alert detail, incidents with their
// triage states, dead letters with replay, sensors), behind auth.Guard.
package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/console/auth"
	"github.com/harrier-security/harrier/router/internal/console/index"
	"github.com/harrier-security/harrier/router/internal/console/web"
)

// Deps are what the console reads and acts on.
type Deps struct {
	Index       *index.Index
	Guard       *auth.Guard
	OIDC        *auth.OIDC // nil: no OIDC sign-in
	DeadLetters harrierv1.DeadLettersServer
	Fleet       harrierv1.FleetAdminServer
	// StateDir keeps incident states (acknowledged, resolved, muted).
	StateDir string
	// IncidentFields are the index's (console.incident_fields): with the
	// rule they name an alert's incident, which mutes apply to.
	IncidentFields []string
	// Done ends the live streams (router shutdown), which would otherwise
	// hold the HTTP server's graceful shutdown open.
	Done   <-chan struct{}
	Logger *slog.Logger
	Now    func() time.Time
}

// Console is the /ui handler.
type Console struct {
	d   Deps
	mux *http.ServeMux

	mu     sync.Mutex
	states map[string]IncidentState
}

// IncidentState is a triage decision kept on the router.
type IncidentState struct {
	State      string    `json:"state"` // open, acknowledged, resolved, muted
	MutedUntil time.Time `json:"muted_until,omitzero"`
	By         string    `json:"by"`
	At         time.Time `json:"at"`
}

// New loads the incident states and builds the handler.
func New(d Deps) (*Console, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	c := &Console{d: d, states: map[string]IncidentState{}}
	if err := os.MkdirAll(d.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("console state dir: %w", err)
	}
	if b, err := os.ReadFile(c.statePath()); err == nil {
		if err := json.Unmarshal(b, &c.states); err != nil {
			return nil, fmt.Errorf("console %s: %w", c.statePath(), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("console: %w", err)
	}
	g := d.Guard
	m := http.NewServeMux()
	m.Handle("/ui/", web.Handler("/ui/"))
	m.HandleFunc("GET /ui/api/me", g.Me)
	m.HandleFunc("POST /ui/api/login", g.Login)
	m.HandleFunc("POST /ui/api/logout", g.Logout)
	if d.OIDC != nil {
		m.HandleFunc("GET "+auth.OIDCLoginPath, d.OIDC.Login)
		m.HandleFunc("GET "+auth.OIDCCallbackPath, d.OIDC.Callback)
	}
	m.Handle("GET /ui/api/search", g.Require(auth.Viewer, http.HandlerFunc(c.search)))
	m.Handle("GET /ui/api/stream", g.Require(auth.Viewer, http.HandlerFunc(c.stream)))
	m.Handle("GET /ui/api/alerts/{key}", g.Require(auth.Viewer, http.HandlerFunc(c.alert)))
	m.Handle("GET /ui/api/incidents", g.Require(auth.Viewer, http.HandlerFunc(c.incidents)))
	m.Handle("POST /ui/api/incidents/{key}", g.Require(auth.Responder, http.HandlerFunc(c.setIncident)))
	m.Handle("GET /ui/api/deadletters", g.Require(auth.Viewer, http.HandlerFunc(c.deadLetters)))
	m.Handle("POST /ui/api/deadletters/replay", g.Require(auth.Responder, http.HandlerFunc(c.replay)))
	m.Handle("GET /ui/api/sensors", g.Require(auth.Viewer, http.HandlerFunc(c.sensors)))
	m.HandleFunc("/ui/api/", func(w http.ResponseWriter, r *http.Request) {
		auth.Error(w, http.StatusNotFound, "no such console API: "+r.Method+" "+r.URL.Path)
	})
	c.mux = m
	return c, nil
}

func (c *Console) statePath() string { return filepath.Join(c.d.StateDir, "incidents.json") }

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	c.mux.ServeHTTP(w, r)
}

// ParseQuery reads search filters from a URL query (the page's deep link).
func ParseQuery(v url.Values, now time.Time) (index.Query, error) {
	q := index.Query{Facets: map[int][]string{}, Limit: 100}
	for key, vals := range v {
		switch key {
		case "from", "to":
			t, err := parseTime(vals[0], now)
			if err != nil {
				return q, fmt.Errorf("%s: %w", key, err)
			}
			if key == "from" {
				q.From = t
			} else {
				q.To = t
			}
		case "q":
			q.Text = vals[0]
		case "limit":
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 1 || n > 1000 {
				return q, fmt.Errorf("limit: want 1-1000, got %q", vals[0])
			}
			q.Limit = n
		case "before":
			n, err := strconv.ParseUint(vals[0], 10, 64)
			if err != nil {
				return q, fmt.Errorf("before: want a sequence number, got %q", vals[0])
			}
			q.Before = n
		case "view", "alert":
			// The page's own state in the deep link.
		case "muted":
			// Whether alerts of muted incidents show in search (the live
			// view always hides them).
			if vals[0] != "show" && vals[0] != "hide" {
				return q, fmt.Errorf("muted: want show or hide, got %q", vals[0])
			}
		default:
			f := index.FacetByName(key)
			if f < 0 {
				return q, fmt.Errorf("unknown filter %q (want from, to, q, limit, before or one of %s)", key, strings.Join(index.FacetNames[:], ", "))
			}
			for _, s := range vals {
				for _, p := range strings.Split(s, ",") {
					if p = strings.TrimSpace(p); p != "" {
						q.Facets[f] = append(q.Facets[f], p)
					}
				}
			}
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return q, errors.New("to: before from")
	}
	return q, nil
}

// parseTime takes RFC 3339 or a duration back from now ("15m", "24h").
func parseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("want a positive duration, got %q", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 time or a duration like 15m, got %q", s)
	}
	return t, nil
}

type hitJSON struct {
	Seq   uint64          `json:"seq"`
	Alert json.RawMessage `json:"alert"`
	Muted bool            `json:"muted,omitempty"`
}

func alertJSON(a *harrierv1.Alert) json.RawMessage {
	b, err := falcojson.Marshal(a)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return b
}

func (c *Console) search(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query(), c.d.Now())
	if err != nil {
		auth.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	res := c.d.Index.Search(q)
	hits, hidden, next := c.markMuted(res.Hits, r.URL.Query().Get("muted") == "show")
	writeJSON(w, struct {
		index.Result
		Alerts []hitJSON `json:"alerts"`
		// MutedHidden alerts of muted incidents were left out (muted=show
		// keeps them, marked); NextBefore pages on past them.
		MutedHidden int    `json:"muted_hidden"`
		NextBefore  uint64 `json:"next_before,omitempty"`
	}{res, hits, hidden, next})
}

// FilterFor is the deep-link filter that selects alerts like a.
func FilterFor(a *harrierv1.Alert) string {
	v := url.Values{}
	v.Set("rule", a.GetRule())
	if a.GetHostname() != "" {
		v.Set("hostname", a.GetHostname())
	}
	if f, ok := a.GetOutputFields()["k8s.ns.name"]; ok {
		if s := index.FieldString(f); s != "" && s != "<NA>" {
			v.Set("namespace", s)
		}
	}
	return v.Encode()
}

func (c *Console) alert(w http.ResponseWriter, r *http.Request) {
	a, seq, err := c.d.Index.Get(r.PathValue("key"))
	if err != nil {
		auth.Error(w, http.StatusNotFound, "alert "+r.PathValue("key")+": "+err.Error())
		return
	}
	writeJSON(w, map[string]any{"seq": seq, "alert": alertJSON(a), "filter": FilterFor(a),
		"sensor_id": a.GetSensorId(), "ruleset_version": a.GetRulesetVersion(), "cluster": a.GetClusterName()})
}

func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query(), c.d.Now())
	if err != nil {
		auth.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	q.From, q.To = time.Time{}, time.Time{} // live: time filters do not apply
	fl, ok := w.(http.Flusher)
	if !ok {
		auth.Error(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	// A stream outlives any write timeout the listener sets for requests.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	ch, cancel := c.d.Index.Subscribe(256)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": harrier live\n\n")
	fl.Flush()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.d.Done:
			return
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		case a := <-ch:
			if !index.MatchAlert(q, a) || c.muted(a, c.d.Now()) {
				continue
			}
			fmt.Fprintf(w, "event: alert\ndata: %s\n\n", alertJSON(a))
			fl.Flush()
		}
	}
}

type incidentJSON struct {
	index.Incident
	IncidentState
	Filter string `json:"filter"`
}

func (c *Console) incidents(w http.ResponseWriter, r *http.Request) {
	now := c.d.Now()
	want := r.URL.Query().Get("state")
	switch want {
	case "", "open", "acknowledged", "resolved", "muted":
	default:
		auth.Error(w, http.StatusBadRequest, "state: want open, acknowledged, resolved or muted, got "+strconv.Quote(want))
		return
	}
	c.mu.Lock()
	out := []incidentJSON{}
	for _, in := range c.d.Index.Incidents() {
		st := c.effective(in, now)
		if want != "" && st.State != want {
			continue
		}
		v := url.Values{"rule": {in.Rule}}
		for k, val := range in.Fields {
			switch k {
			case "k8s.ns.name":
				v.Set("namespace", val)
			case "k8s.pod.name":
				v.Set("pod", val)
			case "container.name":
				v.Set("container", val)
			}
		}
		out = append(out, incidentJSON{Incident: in, IncidentState: st, Filter: v.Encode()})
	}
	c.mu.Unlock()
	writeJSON(w, map[string]any{"incidents": out})
}

// effective applies time: a mute ends, and a resolved incident that fires
// again is open again. Called with mu held.
func (c *Console) effective(in index.Incident, now time.Time) IncidentState {
	st, ok := c.states[in.Key]
	if !ok {
		return IncidentState{State: "open"}
	}
	switch {
	case st.State == "muted" && now.After(st.MutedUntil):
		st.State = "open"
	case st.State == "resolved" && in.LastSeen.After(st.At):
		st.State = "open"
	}
	return st
}

func (c *Console) setIncident(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	var req struct {
		State   string `json:"state"`
		MuteFor string `json:"mute_for"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		auth.Error(w, http.StatusBadRequest, "want a JSON body {\"state\": ...}: "+err.Error())
		return
	}
	found := false
	for _, in := range c.d.Index.Incidents() {
		if in.Key == key {
			found = true
			break
		}
	}
	if !found {
		auth.Error(w, http.StatusNotFound, "incident "+key+" is not known (expired or never seen)")
		return
	}
	now := c.d.Now()
	st := IncidentState{State: req.State, By: auth.Who(r.Context()), At: now}
	switch req.State {
	case "open", "acknowledged", "resolved":
		if req.MuteFor != "" {
			auth.Error(w, http.StatusBadRequest, "mute_for: only with state muted")
			return
		}
	case "muted":
		d, err := time.ParseDuration(req.MuteFor)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			auth.Error(w, http.StatusBadRequest, "mute_for: want a duration between 1s and 720h, got "+strconv.Quote(req.MuteFor))
			return
		}
		st.MutedUntil = now.Add(d)
	default:
		auth.Error(w, http.StatusBadRequest, "state: want open, acknowledged, resolved or muted, got "+strconv.Quote(req.State))
		return
	}
	c.mu.Lock()
	prev := c.states[key]
	c.states[key] = st
	b, _ := json.MarshalIndent(c.states, "", "  ")
	err := writeFileAtomic(c.statePath(), b)
	c.mu.Unlock()
	if err != nil {
		auth.Error(w, http.StatusInternalServerError, "saving incident state: "+err.Error())
		return
	}
	c.d.Logger.Info("console: incident state changed", "who", st.By, "incident", key, "state", st.State,
		"action", action(prev.State, st.State), "muted_until", st.MutedUntil, "remote", r.RemoteAddr)
	writeJSON(w, st)
}

func writeFileAtomic(name string, b []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request) {
	if c.d.DeadLetters == nil {
		writeJSON(w, map[string]any{"dead_letters": []any{}, "total": 0})
		return
	}
	limit := 200
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			auth.Error(w, http.StatusBadRequest, "limit: want 1-1000, got "+strconv.Quote(s))
			return
		}
		limit = n
	}
	resp, err := c.d.DeadLetters.List(r.Context(), &harrierv1.ListDeadLettersRequest{Output: r.URL.Query().Get("output"), Limit: uint32(limit)})
	if err != nil {
		auth.Error(w, http.StatusInternalServerError, "dead letters: "+err.Error())
		return
	}
	type letter struct {
		Output string          `json:"output"`
		Reason string          `json:"reason"`
		Time   time.Time       `json:"time"`
		Seq    uint64          `json:"seq"`
		Alert  json.RawMessage `json:"alert"`
	}
	out := []letter{}
	for _, l := range resp.GetDeadLetters() {
		out = append(out, letter{Output: l.GetOutput(), Reason: l.GetReason(), Time: l.GetTime().AsTime(), Seq: l.GetSeq(), Alert: alertJSON(l.GetAlert())})
	}
	writeJSON(w, map[string]any{"dead_letters": out, "total": resp.GetTotal()})
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Output string `json:"output"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		auth.Error(w, http.StatusBadRequest, "want a JSON body {\"output\": name or \"\" for all}: "+err.Error())
		return
	}
	if c.d.DeadLetters == nil {
		auth.Error(w, http.StatusServiceUnavailable, "no dead-letter store")
		return
	}
	who := auth.Who(r.Context())
	resp, err := c.d.DeadLetters.Replay(r.Context(), &harrierv1.ReplayDeadLettersRequest{Output: req.Output})
	if err != nil {
		code := http.StatusInternalServerError
		if strings.Contains(err.Error(), "not configured") {
			code = http.StatusNotFound
		}
		c.d.Logger.Warn("console: dead-letter replay failed", "who", who, "output", req.Output, "err", err)
		auth.Error(w, code, "replay: "+err.Error())
		return
	}
	c.d.Logger.Info("console: dead letters replayed", "who", who, "output", req.Output,
		"replayed", resp.GetReplayed(), "failed", resp.GetFailed())
	writeJSON(w, map[string]any{"replayed": resp.GetReplayed(), "failed": resp.GetFailed(), "skipped_outputs": resp.GetSkippedOutputs()})
}

func (c *Console) sensors(w http.ResponseWriter, r *http.Request) {
	type sensor struct {
		ID             string    `json:"id"`
		Hostname       string    `json:"hostname"`
		Version        string    `json:"version"`
		RulesetVersion string    `json:"ruleset_version"`
		Connected      bool      `json:"connected"`
		LastSeen       time.Time `json:"last_seen,omitzero"`
		LastAlert      time.Time `json:"last_alert,omitzero"`
		Alerts         int       `json:"alerts"`
	}
	byID := map[string]*sensor{}
	var order []string
	get := func(id string) *sensor {
		if s, ok := byID[id]; ok {
			return s
		}
		s := &sensor{ID: id}
		byID[id] = s
		order = append(order, id)
		return s
	}
	if c.d.Fleet != nil {
		if resp, err := c.d.Fleet.ListSensors(r.Context(), &harrierv1.ListSensorsRequest{}); err == nil {
			for _, st := range resp.GetSensors() {
				rep := st.GetReport()
				s := get(rep.GetSensorId())
				s.Hostname, s.Version, s.Connected = rep.GetHostname(), rep.GetSensorVersion(), st.GetConnected()
				s.RulesetVersion = rep.GetRulesetVersion()
				s.LastSeen = st.GetLastSeen().AsTime()
			}
		}
	}
	for _, seen := range c.d.Index.Sensors() {
		s := get(seen.ID)
		if s.Hostname == "" {
			s.Hostname = seen.Hostname
		}
		if s.RulesetVersion == "" {
			s.RulesetVersion = seen.RulesetVersion
		}
		s.LastAlert, s.Alerts = seen.LastAlert, seen.Alerts
		if s.LastAlert.After(s.LastSeen) {
			s.LastSeen = s.LastAlert
		}
	}
	out := make([]sensor, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	writeJSON(w, map[string]any{"sensors": out})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
