package console

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/console/auth"
	"github.com/harrier-security/harrier/router/internal/console/index"
	"github.com/harrier-security/harrier/router/internal/deadletter"
)

// dlServer serves a real dead-letter store; replay "delivers" by dropping.
type dlServer struct {
	harrierv1.UnimplementedDeadLettersServer
	s *deadletter.Store
}

func (d *dlServer) List(_ context.Context, req *harrierv1.ListDeadLettersRequest) (*harrierv1.ListDeadLettersResponse, error) {
	ls, total, err := d.s.List(req.GetOutput(), int(req.GetLimit()))
	return &harrierv1.ListDeadLettersResponse{DeadLetters: ls, Total: uint64(total)}, err
}

func (d *dlServer) Replay(_ context.Context, req *harrierv1.ReplayDeadLettersRequest) (*harrierv1.ReplayDeadLettersResponse, error) {
	n, f, err := d.s.Replay(req.GetOutput(), func([]*harrierv1.DeadLetter) []*harrierv1.DeadLetter { return nil })
	return &harrierv1.ReplayDeadLettersResponse{Replayed: uint64(n), Failed: uint64(f)}, err
}

func testAlert(i int, rule, prio, ns, sensor string) *harrierv1.Alert {
	p := harrierv1.Priority(harrierv1.Priority_value["PRIORITY_"+strings.ToUpper(prio)])
	return &harrierv1.Alert{Id: "id-" + rule + "-" + sensor + "-" + string(rune('a'+i)), Time: timestamppb.New(time.Now().Add(-time.Duration(i) * time.Second)),
		Rule: rule, Priority: p, Source: "syscall", Output: "shell spawned in " + ns, Hostname: "host-" + sensor, SensorId: sensor,
		Tags:         []string{"shell"},
		OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: ns}}}}
}

type env struct {
	srv   *httptest.Server
	idx   *index.Index
	store *deadletter.Store
	logs  *logBuf
}

// logBuf collects the console's JSON logs (the audit trail).
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records are the logged records whose msg is msg.
func (l *logBuf) records(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		m := map[string]any{}
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func newEnv(t *testing.T, open bool) *env {
	t.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte("viewer-pass"), bcrypt.MinCost)
	rhash, _ := bcrypt.GenerateFromPassword([]byte("resp-pass"), bcrypt.MinCost)
	var users []auth.User
	if !open {
		users = []auth.User{{Name: "vera", Hash: string(hash), Role: auth.Viewer}, {Name: "rob", Hash: string(rhash), Role: auth.Responder}}
	}
	idx, err := index.Open(index.Options{Dir: t.TempDir(), IncidentFields: []string{"k8s.ns.name"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	store, err := deadletter.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	c, err := New(Deps{Index: idx, Guard: auth.New(auth.Options{Users: users, Open: open, InsecureCookies: true, Logger: log}),
		DeadLetters: &dlServer{s: store}, StateDir: t.TempDir(), IncidentFields: []string{"k8s.ns.name"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &env{srv: srv, idx: idx, store: store, logs: logs}
}

type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func (e *env) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: e.srv.URL, hc: &http.Client{Jar: jar}}
}

func (c *client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if c.csrf != "" {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func (c *client) login(user, pass string) {
	c.t.Helper()
	code, m := c.do("POST", "/ui/api/login", `{"user":"`+user+`","password":"`+pass+`"}`)
	if code != 200 {
		c.t.Fatalf("login %s: %d %v", user, code, m)
	}
	c.csrf = m["csrf"].(string)
}

func TestAPI(t *testing.T) {
	e := newEnv(t, false)
	for i, s := range []string{"s1", "s2", "s3"} {
		e.idx.Add(uint64(i+1), testAlert(i, "Terminal shell", "Critical", "payments", s), nil)
	}
	e.idx.Add(4, testAlert(4, "Read sensitive file", "Warning", "default", "s1"), nil)
	if err := e.store.Add(context.Background(), "webhook", []*harrierv1.DeadLetter{{Output: "webhook", Alert: testAlert(9, "X", "Error", "ns", "s1"), Reason: "HTTP 500", Time: timestamppb.Now(), Seq: 4}}); err != nil {
		t.Fatal(err)
	}
	anon := e.client(t)
	viewer := e.client(t)
	viewer.login("vera", "viewer-pass")
	resp := e.client(t)
	resp.login("rob", "resp-pass")
	noCSRF := e.client(t)
	noCSRF.login("rob", "resp-pass")
	noCSRF.csrf = "wrong"

	incs := e.idx.Incidents()
	var shellKey string
	for _, in := range incs {
		if in.Rule == "Terminal shell" {
			shellKey = in.Key
		}
	}
	tests := []struct {
		name       string
		c          *client
		method     string
		path, body string
		code       int
		check      func(m map[string]any) bool
	}{
		{"page", anon, "GET", "/ui/", "", 200, nil},
		{"page deep link", anon, "GET", "/ui/anything?view=search", "", 200, nil},
		{"page by POST", anon, "POST", "/ui/", "", 405, nil},
		{"me anonymous", anon, "GET", "/ui/api/me", "", 401, nil},
		{"search needs sign-in", anon, "GET", "/ui/api/search", "", 401, nil},
		{"login wrong password", anon, "POST", "/ui/api/login", `{"user":"vera","password":"nope"}`, 401, nil},
		{"login unknown user", anon, "POST", "/ui/api/login", `{"user":"admin","password":"admin"}`, 401, nil},
		{"login bad json", anon, "POST", "/ui/api/login", `{`, 400, nil},
		{"login empty", anon, "POST", "/ui/api/login", `{}`, 400, nil},
		{"me viewer", viewer, "GET", "/ui/api/me", "", 200, func(m map[string]any) bool { return m["role"] == "viewer" }},
		{"search all", viewer, "GET", "/ui/api/search", "", 200, func(m map[string]any) bool { return m["total"] == 4.0 }},
		{"search priority", viewer, "GET", "/ui/api/search?priority=Critical", "", 200, func(m map[string]any) bool { return m["total"] == 3.0 }},
		{"search namespace", viewer, "GET", "/ui/api/search?namespace=default", "", 200, func(m map[string]any) bool { return m["total"] == 1.0 }},
		{"search text", viewer, "GET", "/ui/api/search?q=SHELL+spawned+in+pay", "", 200, func(m map[string]any) bool { return m["total"] == 3.0 }},
		{"search unknown value", viewer, "GET", "/ui/api/search?rule=nope", "", 200, func(m map[string]any) bool { return m["total"] == 0.0 }},
		{"search counts", viewer, "GET", "/ui/api/search", "", 200, func(m map[string]any) bool {
			cs := m["counts"].(map[string]any)["namespace"].([]any)
			return cs[0].(map[string]any)["value"] == "payments" && cs[0].(map[string]any)["count"] == 3.0
		}},
		{"search time window", viewer, "GET", "/ui/api/search?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", "", 200, func(m map[string]any) bool { return m["total"] == 0.0 }},
		{"search bad filter", viewer, "GET", "/ui/api/search?colour=red", "", 400, func(m map[string]any) bool { return strings.Contains(m["error"].(string), "colour") }},
		{"search bad time", viewer, "GET", "/ui/api/search?from=yesterday", "", 400, func(m map[string]any) bool { return strings.Contains(m["error"].(string), "from") }},
		{"search to before from", viewer, "GET", "/ui/api/search?from=1h&to=2h", "", 400, nil},
		{"search bad limit", viewer, "GET", "/ui/api/search?limit=0", "", 400, nil},
		{"search bad before", viewer, "GET", "/ui/api/search?before=x", "", 400, nil},
		{"stream bad filter", viewer, "GET", "/ui/api/stream?x=1", "", 400, nil},
		{"alert by seq", viewer, "GET", "/ui/api/alerts/4", "", 200, func(m map[string]any) bool {
			return m["alert"].(map[string]any)["rule"] == "Read sensitive file" && strings.Contains(m["filter"].(string), "namespace=default")
		}},
		{"alert by id", viewer, "GET", "/ui/api/alerts/id-Terminal shell-s2-b", "", 200, nil},
		{"alert missing", viewer, "GET", "/ui/api/alerts/999", "", 404, nil},
		{"incidents", viewer, "GET", "/ui/api/incidents", "", 200, func(m map[string]any) bool {
			for _, x := range m["incidents"].([]any) {
				in := x.(map[string]any)
				if in["rule"] == "Terminal shell" {
					return in["count"] == 3.0 && len(in["sensors"].([]any)) == 3 && in["state"] == "open"
				}
			}
			return false
		}},
		{"incidents bad state", viewer, "GET", "/ui/api/incidents?state=x", "", 400, nil},
		{"viewer cannot ack", viewer, "POST", "/ui/api/incidents/" + shellKey, `{"state":"acknowledged"}`, 403, isRoleRefusal},
		{"ack needs csrf", noCSRF, "POST", "/ui/api/incidents/" + shellKey, `{"state":"acknowledged"}`, 403, nil},
		{"ack bad state", resp, "POST", "/ui/api/incidents/" + shellKey, `{"state":"gone"}`, 400, nil},
		{"ack bad json", resp, "POST", "/ui/api/incidents/" + shellKey, `x`, 400, nil},
		{"mute bad duration", resp, "POST", "/ui/api/incidents/" + shellKey, `{"state":"muted","mute_for":"forever"}`, 400, nil},
		{"ack unknown incident", resp, "POST", "/ui/api/incidents/nope", `{"state":"acknowledged"}`, 404, nil},
		{"ack", resp, "POST", "/ui/api/incidents/" + shellKey, `{"state":"acknowledged"}`, 200, func(m map[string]any) bool { return m["by"] == "rob" }},
		{"viewer sees ack", viewer, "GET", "/ui/api/incidents?state=acknowledged", "", 200, func(m map[string]any) bool { return len(m["incidents"].([]any)) == 1 }},
		{"viewer cannot resolve", viewer, "POST", "/ui/api/incidents/" + shellKey, `{"state":"resolved"}`, 403, isRoleRefusal},
		{"viewer cannot mute", viewer, "POST", "/ui/api/incidents/" + shellKey, `{"state":"muted","mute_for":"1h"}`, 403, isRoleRefusal},
		{"viewer cannot unmute", viewer, "POST", "/ui/api/incidents/" + shellKey, `{"state":"open"}`, 403, isRoleRefusal},
		{"resolve", resp, "POST", "/ui/api/incidents/" + shellKey, `{"state":"resolved"}`, 200, func(m map[string]any) bool { return m["state"] == "resolved" }},
		{"mute", resp, "POST", "/ui/api/incidents/" + shellKey, `{"state":"muted","mute_for":"1h"}`, 200, func(m map[string]any) bool { return m["state"] == "muted" }},
		// Muted alerts leave search unless asked for, then come marked.
		{"search hides muted", viewer, "GET", "/ui/api/search?namespace=payments", "", 200, func(m map[string]any) bool {
			return len(m["alerts"].([]any)) == 0 && m["muted_hidden"] == 3.0 && m["total"] == 3.0
		}},
		{"search shows muted marked", viewer, "GET", "/ui/api/search?muted=show", "", 200, func(m map[string]any) bool {
			n := 0
			for _, h := range m["alerts"].([]any) {
				if h.(map[string]any)["muted"] == true {
					n++
				}
			}
			return len(m["alerts"].([]any)) == 4 && n == 3 && m["muted_hidden"] == 0.0
		}},
		{"search bad muted", viewer, "GET", "/ui/api/search?muted=maybe", "", 400, nil},
		{"unmute", resp, "POST", "/ui/api/incidents/" + shellKey, `{"state":"open"}`, 200, func(m map[string]any) bool { return m["state"] == "open" }},
		{"search after unmute", viewer, "GET", "/ui/api/search?namespace=payments", "", 200, func(m map[string]any) bool {
			return len(m["alerts"].([]any)) == 3 && m["muted_hidden"] == 0.0
		}},
		{"viewer cannot replay one output", viewer, "POST", "/ui/api/deadletters/replay", `{"output":"webhook"}`, 403, isRoleRefusal},
		{"dead letters", viewer, "GET", "/ui/api/deadletters", "", 200, func(m map[string]any) bool { return m["total"] == 1.0 }},
		{"dead letters bad limit", viewer, "GET", "/ui/api/deadletters?limit=-1", "", 400, nil},
		{"viewer cannot replay", viewer, "POST", "/ui/api/deadletters/replay", `{"output":""}`, 403, isRoleRefusal},
		{"replay bad json", resp, "POST", "/ui/api/deadletters/replay", `[`, 400, nil},
		{"replay", resp, "POST", "/ui/api/deadletters/replay", `{"output":"webhook"}`, 200, func(m map[string]any) bool { return m["replayed"] == 1.0 }},
		{"dead letters emptied", viewer, "GET", "/ui/api/deadletters", "", 200, func(m map[string]any) bool { return m["total"] == 0.0 }},
		{"sensors", viewer, "GET", "/ui/api/sensors", "", 200, func(m map[string]any) bool { return len(m["sensors"].([]any)) == 3 }},
		{"unknown api", viewer, "GET", "/ui/api/nope", "", 404, nil},
		{"logout", viewer, "POST", "/ui/api/logout", "", 204, nil},
		{"after logout", viewer, "GET", "/ui/api/search", "", 401, nil},
	}
	for _, tc := range tests {
		code, m := tc.c.do(tc.method, tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s: %s %s = %d %v, want %d", tc.name, tc.method, tc.path, code, m, tc.code)
			continue
		}
		if code >= 400 && code != 404 && code != 405 {
			if s, _ := m["error"].(string); s == "" {
				t.Errorf("%s: %d without a reason", tc.name, code)
			}
		}
		if tc.check != nil && !tc.check(m) {
			t.Errorf("%s: unexpected body %v", tc.name, m)
		}
	}

	// Every state change is logged with who did it.
	var acts []string
	for _, r := range e.logs.records("console: incident state changed") {
		if r["who"] != "rob" || r["incident"] != shellKey {
			t.Errorf("incident change logged without its actor: %v", r)
		}
		acts = append(acts, r["action"].(string))
	}
	if want := "acknowledge resolve mute unmute"; strings.Join(acts, " ") != want {
		t.Errorf("logged incident actions %q, want %q", strings.Join(acts, " "), want)
	}
	for msg, who := range map[string]string{"console: dead letters replayed": "rob", "console: signed in": "vera", "console: signed out": "vera"} {
		rs := e.logs.records(msg)
		found := false
		for _, r := range rs {
			found = found || r["who"] == who || r["user"] == who
		}
		if !found {
			t.Errorf("%q not logged for %s: %v", msg, who, rs)
		}
	}
	if rs := e.logs.records("console: action refused by role"); len(rs) < 6 {
		t.Errorf("refused viewer actions logged %d times, want each of 6", len(rs))
	}
	if s := e.logs.b.String(); strings.Contains(s, "viewer-pass") || strings.Contains(s, "resp-pass") {
		t.Error("a password reached the logs")
	}
}

func isRoleRefusal(m map[string]any) bool {
	s, _ := m["error"].(string)
	return strings.Contains(s, "responder role") && strings.Contains(s, "viewer")
}

// A password session ended by sign-out is gone on the router: a copy of
// its cookie taken before no longer works.
func TestSignOutRevokesCookie(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	c.login("rob", "resp-pass")
	u, _ := url.Parse(e.srv.URL + "/ui/")
	thief := e.client(t)
	thief.hc.Jar.SetCookies(u, c.hc.Jar.Cookies(u))
	thief.csrf = c.csrf
	if code, _ := thief.do("GET", "/ui/api/search", ""); code != 200 {
		t.Fatalf("copied cookie before sign-out: %d", code)
	}
	if code, _ := c.do("POST", "/ui/api/logout", ""); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	for _, p := range []string{"/ui/api/search", "/ui/api/me"} {
		if code, _ := thief.do("GET", p, ""); code != 401 {
			t.Fatalf("copied cookie after sign-out: GET %s = %d, want 401", p, code)
		}
	}
	if code, _ := thief.do("POST", "/ui/api/deadletters/replay", `{"output":""}`); code != 401 {
		t.Fatalf("copied cookie after sign-out: replay = %d, want 401", code)
	}
}

// Alerts of a muted incident stay out of every live stream until the
// mute is lifted; others keep coming.
func TestStreamHidesMuted(t *testing.T) {
	e := newEnv(t, false)
	rob := e.client(t)
	rob.login("rob", "resp-pass")
	e.idx.Add(1, testAlert(0, "Terminal shell", "Critical", "payments", "s1"), nil)
	var key string
	for _, in := range e.idx.Incidents() {
		key = in.Key
	}
	if code, m := rob.do("POST", "/ui/api/incidents/"+key, `{"state":"muted","mute_for":"1h"}`); code != 200 {
		t.Fatalf("mute: %d %v", code, m)
	}
	vera := e.client(t) // another session
	vera.login("vera", "viewer-pass")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/ui/api/stream", nil)
	resp, err := vera.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	next := func() string {
		var got strings.Builder
		for !strings.Contains(got.String(), "\n\n") {
			n, err := resp.Body.Read(buf)
			if err != nil {
				t.Fatalf("stream: %v (got %q)", err, got.String())
			}
			got.Write(buf[:n])
		}
		return got.String()
	}
	e.idx.Add(2, testAlert(1, "Terminal shell", "Critical", "payments", "s2"), nil) // muted
	e.idx.Add(3, testAlert(2, "Terminal shell", "Critical", "default", "s2"), nil)  // another incident
	if s := next(); !strings.Contains(s, "ns=default") && !strings.Contains(s, "in default") || strings.Contains(s, "payments") {
		t.Fatalf("while muted the stream sent %q", s)
	}
	if code, m := rob.do("POST", "/ui/api/incidents/"+key, `{"state":"open"}`); code != 200 {
		t.Fatalf("unmute: %d %v", code, m)
	}
	e.idx.Add(4, testAlert(3, "Terminal shell", "Critical", "payments", "s3"), nil)
	if s := next(); !strings.Contains(s, "in payments") {
		t.Fatalf("after unmute the stream sent %q", s)
	}
}

func TestOpenLoopback(t *testing.T) {
	e := newEnv(t, true)
	c := e.client(t)
	code, m := c.do("GET", "/ui/api/me", "")
	if code != 200 || m["role"] != "responder" || m["open"] != true {
		t.Fatalf("open me = %d %v", code, m)
	}
	c.csrf = m["csrf"].(string)
	if code, m := c.do("GET", "/ui/api/search", ""); code != 200 {
		t.Fatalf("open search = %d %v", code, m)
	}
	if code, _ := c.do("POST", "/ui/api/deadletters/replay", `{"output":""}`); code != 200 {
		t.Fatalf("open replay = %d", code)
	}
}

func TestStream(t *testing.T) {
	e := newEnv(t, true)
	c := e.client(t)
	_, m := c.do("GET", "/ui/api/me", "")
	_ = m
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/ui/api/stream?namespace=payments", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	if _, err := resp.Body.Read(buf); err != nil { // the greeting: subscribed
		t.Fatal(err)
	}
	e.idx.Add(1, testAlert(0, "Other", "Notice", "default", "s1"), nil)
	e.idx.Add(2, testAlert(0, "Terminal shell", "Critical", "payments", "s1"), nil)
	var got strings.Builder
	for !strings.Contains(got.String(), "\n\n") {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("stream: %v (got %q)", err, got.String())
		}
		got.Write(buf[:n])
	}
	if s := got.String(); !strings.Contains(s, "Terminal shell") || strings.Contains(s, "Other") {
		t.Fatalf("stream sent %q", s)
	}
}
