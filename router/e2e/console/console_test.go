// Package console drives the router's web console in Debian's headless
// Chromium (chromedp) against a real router on real sockets: alerts sent
// over gRPC, sign-in through the page, two sessions with different roles.
// Screenshots of every view go to $HARRIER_ARTIFACTS (default: a temp
// dir, logged).
package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/server"
	"github.com/harrier-security/harrier/router/internal/testkit/require"
)

type rig struct {
	t      *testing.T
	r      *server.Router
	base   string
	conn   *grpc.ClientConn
	sink   atomic.Int32 // webhook status to answer (0: 200)
	seq    uint64
	shots  string
	nAlert int
}

func startRouter(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	g := &rig{t: t}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if c := g.sink.Load(); c != 0 {
			w.WriteHeader(int(c))
		}
	}))
	t.Cleanup(hook.Close)
	vh, _ := bcrypt.GenerateFromPassword([]byte("viewer-secret-1"), bcrypt.MinCost)
	rh, _ := bcrypt.GenerateFromPassword([]byte("responder-secret-1"), bcrypt.MinCost)
	yaml := fmt.Sprintf(`
data_dir: %s/data
grpc: {address: 127.0.0.1:0}
http: {address: 127.0.0.1:0, metrics_address: 127.0.0.1:0}
log: {level: error}
console:
  incident_fields: [k8s.ns.name]
  users:
    vera: {password_hash: %q, role: viewer}
    rob: {password_hash: %q, role: responder}
outputs: {webhook: {soc: {address: %s}}}
`, dir, vh, rh, hook.URL)
	p := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	g.r, g.base = r, "http://"+r.HTTPAddr()+"/ui/"
	if g.conn, err = grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.conn.Close() })
	g.shots = os.Getenv("HARRIER_ARTIFACTS")
	if g.shots == "" {
		g.shots = filepath.Join(os.TempDir(), "harrier-console-artifacts")
	}
	if err := os.MkdirAll(g.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", g.shots)
	return g
}

func (g *rig) alert(rule string, p harrierv1.Priority, ns, sensor string) *harrierv1.Alert {
	g.nAlert++
	return &harrierv1.Alert{Id: fmt.Sprintf("e2e-%04d", g.nAlert), Time: timestamppb.Now(), Rule: rule, Priority: p, Source: "syscall",
		Output: fmt.Sprintf("%s (ns=%s sensor=%s)", rule, ns, sensor), Hostname: "node-" + sensor, SensorId: sensor,
		Tags:         []string{"mitre_execution"},
		OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: ns}}}}
}

// send streams one batch per sensor and waits for the acks.
func (g *rig) send(alerts ...*harrierv1.Alert) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := harrierv1.NewIngestClient(g.conn).Stream(ctx)
	if err != nil {
		g.t.Fatal(err)
	}
	g.seq++
	if err := stream.Send(&harrierv1.AlertBatch{Sequence: g.seq, Alerts: alerts, SensorId: alerts[0].GetSensorId()}); err != nil {
		g.t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		g.t.Fatalf("ack: %v", err)
	}
	stream.CloseSend()
}

func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		require.Missing(t, "Debian's chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1100, 700))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if _, err := chromedp.Run(ctx, chromedp.Location()); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, acts ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(c, acts...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll evaluates js until want(result) or the deadline.
func poll[T any](t *testing.T, ctx context.Context, what, js string, want func(T) bool) T {
	t.Helper()
	v, ok, err := pollUntil(ctx, time.Now().Add(10*time.Second), js, want)
	if !ok {
		t.Fatalf("%s: last value %v (err %v)", what, v, err)
	}
	return v
}

func pollUntil[T any](ctx context.Context, deadline time.Time, js string, want func(T) bool) (T, bool, error) {
	var v T
	for {
		var err error
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](js))
		if err == nil && want(v) {
			return v, true, nil
		}
		if time.Now().After(deadline) {
			return v, false, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// navPoll opens url and polls js until want, reloading the page every 2 s:
// a view fetches its data when it opens, and an alert acknowledged to its
// sender reaches the index only after the journal's fsync window, so on a
// loaded machine the first load can come too early.
func navPoll[T any](t *testing.T, ctx context.Context, url, what, js string, want func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		run(t, ctx, what+" (open)", chromedp.Navigate(url))
		round := time.Now().Add(2 * time.Second)
		if round.After(deadline) {
			round = deadline
		}
		v, ok, err := pollUntil(ctx, round, js, want)
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last value %v (err %v)", what, v, err)
		}
	}
}

func (g *rig) shot(ctx context.Context, name string) {
	g.t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		g.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(g.shots, name+".png"), buf, 0o644); err != nil {
		g.t.Fatal(err)
	}
	if dst := os.Getenv("HARRIER_README_SHOT"); dst != "" && name == "search" {
		_ = os.WriteFile(dst, buf, 0o644)
	}
}

func login(t *testing.T, ctx context.Context, base, user, pass string) {
	t.Helper()
	run(t, ctx, "sign in as "+user,
		chromedp.Navigate(base),
		chromedp.WaitVisible(`#login-form`),
		chromedp.SendKeys(`#login-form input[name=user]`, user),
		chromedp.SendKeys(`#login-form input[name=password]`, pass),
		chromedp.Click(`#login-form button`),
		chromedp.WaitVisible(`#who button`),
	)
}

const rowsJS = `[...document.querySelectorAll('#search-rows tr.alert-row')].map(r => r.dataset.priority + '/' + r.dataset.namespace + '/' + r.dataset.rule)`

func TestConsoleInChromium(t *testing.T) {
	g := startRouter(t)
	rob := browser(t)
	vera := browser(t)

	// Sign-in is required (not loopback-open: users are configured).
	run(t, rob, "open", chromedp.Navigate(g.base), chromedp.WaitVisible(`#login-form`))
	g.shot(rob, "login")
	login(t, rob, g.base, "rob", "responder-secret-1")
	login(t, vera, g.base, "vera", "viewer-secret-1")

	// Live: an alert sent over gRPC shows up within a second.
	run(t, rob, "live view", chromedp.Navigate(g.base+"?view=live"))
	poll(t, rob, "live stream connected", `document.querySelector('#live-state').textContent`, func(s string) bool { return s == "connected" })
	start := time.Now()
	g.send(g.alert("Live probe", harrierv1.Priority_PRIORITY_NOTICE, "default", "s1"))
	poll(t, rob, "live row", `document.querySelectorAll('#live-rows tr[data-rule="Live probe"]').length`, func(n int) bool { return n == 1 })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("live view showed the alert after %v, want under 1s", d)
	} else {
		t.Logf("live view: alert visible %v after send", d)
	}
	g.shot(rob, "live")

	// Incident material: one rule in one namespace from three sensors.
	for _, s := range []string{"s1", "s2", "s3"} {
		g.send(g.alert("Terminal shell in container", harrierv1.Priority_PRIORITY_CRITICAL, "payments", s))
	}
	g.send(g.alert("Read sensitive file", harrierv1.Priority_PRIORITY_WARNING, "default", "s2"),
		g.alert("Read sensitive file", harrierv1.Priority_PRIORITY_WARNING, "kube-system", "s2"),
		g.alert("Write below etc", harrierv1.Priority_PRIORITY_CRITICAL, "default", "s3"))

	// Filters: exactly the matching alerts, from a deep link and from the form.
	rows := navPoll(t, rob, g.base+"?view=search&priority=Critical", "critical rows", rowsJS, func(r []string) bool { return len(r) == 4 })
	for _, r := range rows {
		if !strings.HasPrefix(r, "Critical/") {
			t.Fatalf("priority filter shows %v", rows)
		}
	}
	g.shot(rob, "search")
	// A phone: the page fits the width (no horizontal scrolling).
	run(t, rob, "phone viewport", chromedp.EmulateViewport(390, 844))
	poll(t, rob, "fits a phone", `document.documentElement.scrollWidth <= window.innerWidth + 1`, func(b bool) bool { return b })
	g.shot(rob, "search-phone")
	run(t, rob, "desktop viewport", chromedp.EmulateViewport(1100, 700))
	run(t, rob, "search by namespace (form)", chromedp.Navigate(g.base+"?view=search"),
		chromedp.WaitVisible(`#filters input[name=namespace]`),
		chromedp.SendKeys(`#filters input[name=namespace]`, "payments"),
		chromedp.Click(`#filters button[type=submit]`))
	rows = poll(t, rob, "payments rows", rowsJS, func(r []string) bool { return len(r) == 3 })
	for _, r := range rows {
		if r != "Critical/payments/Terminal shell in container" {
			t.Fatalf("namespace filter shows %v", rows)
		}
	}
	loc, _ := chromedp.Run(rob, chromedp.Location())
	if !strings.Contains(loc, "namespace=payments") {
		t.Fatalf("the URL does not hold the filter: %s", loc)
	}

	// One alert: all fields, raw JSON, copyable filter.
	run(t, rob, "alert detail", chromedp.Click(`#search-rows tr.alert-row`), chromedp.WaitVisible(`#alert-raw`))
	poll(t, rob, "raw json", `document.querySelector('#alert-raw').textContent`, func(s string) bool { return strings.Contains(s, `"k8s.ns.name": "payments"`) })
	poll(t, rob, "filter", `document.querySelector('#alert-filter').textContent`, func(s string) bool { return strings.Contains(s, "namespace=payments") })
	g.shot(rob, "alert")

	// Incident from three sensors; rob acknowledges, vera sees it.
	const incRow = `document.querySelector('tr.incident[data-rule="Terminal shell in container"]')`
	navPoll(t, rob, g.base+"?view=incidents", "incident grouped", incRow+`?.querySelector('.sensors').textContent + '/' + `+incRow+`?.querySelector('.count').textContent`,
		func(s string) bool { return s == "3/3" })
	run(t, rob, "acknowledge", chromedp.Click(`tr.incident[data-rule="Terminal shell in container"] button.ack`))
	poll(t, rob, "acknowledged", incRow+`?.dataset.state`, func(s string) bool { return s == "acknowledged" })
	g.shot(rob, "incidents")
	run(t, vera, "incidents (viewer)", chromedp.Navigate(g.base+"?view=incidents"))
	poll(t, vera, "viewer sees the state", incRow+`?.dataset.state`, func(s string) bool { return s == "acknowledged" })
	poll(t, vera, "viewer has no triage buttons", incRow+`?.querySelector('button.ack').offsetParent === null`, func(b bool) bool { return b })

	// Mute: rob mutes the incident; in vera's live view (another session) a
	// new alert of it does not appear while one of another incident does;
	// search hides its alerts until asked, then marks them; unmute brings
	// them back live.
	run(t, rob, "mute", chromedp.Click(`tr.incident[data-rule="Terminal shell in container"] button.mute`))
	poll(t, rob, "muted", incRow+`?.dataset.state`, func(s string) bool { return s == "muted" })
	const liveNS = `[...document.querySelectorAll('#live-rows tr.alert-row')].map(r => r.dataset.namespace + '/' + r.dataset.rule)`
	run(t, vera, "live (viewer)", chromedp.Navigate(g.base+"?view=live"))
	poll(t, vera, "live stream connected", `document.querySelector('#live-state').textContent`, func(s string) bool { return s == "connected" })
	g.send(g.alert("Terminal shell in container", harrierv1.Priority_PRIORITY_CRITICAL, "payments", "s1"))
	g.send(g.alert("Netcat remote code execution", harrierv1.Priority_PRIORITY_CRITICAL, "payments", "s2"))
	rowsLive := poll(t, vera, "the other incident live", liveNS, func(r []string) bool { return slices.Contains(r, "payments/Netcat remote code execution") })
	// The muted alert was sent first, so had it passed it would be here.
	for _, r := range rowsLive {
		if r == "payments/Terminal shell in container" {
			t.Fatalf("a muted incident's alert is in the live view: %v", rowsLive)
		}
	}
	navPoll(t, vera, g.base+"?view=search&namespace=payments", "muted hidden in search",
		`document.querySelectorAll('#search-rows tr.alert-row').length + '/' + document.querySelector('#muted-note').textContent`,
		func(s string) bool { return strings.HasPrefix(s, "1/4 alerts of muted incidents hidden") })
	run(t, vera, "show muted", chromedp.Click(`#muted-toggle`))
	poll(t, vera, "muted shown marked", `document.querySelectorAll('#search-rows tr.alert-row.is-muted').length`, func(n int) bool { return n == 4 })
	g.shot(vera, "search-muted")
	run(t, rob, "incidents", chromedp.Navigate(g.base+"?view=incidents"))
	run(t, rob, "unmute", chromedp.WaitVisible(`tr.incident[data-rule="Terminal shell in container"] button.unmute`),
		chromedp.Click(`tr.incident[data-rule="Terminal shell in container"] button.unmute`))
	poll(t, rob, "unmuted", incRow+`?.dataset.state`, func(s string) bool { return s == "open" })
	run(t, vera, "live again", chromedp.Navigate(g.base+"?view=live"))
	poll(t, vera, "live stream connected", `document.querySelector('#live-state').textContent`, func(s string) bool { return s == "connected" })
	g.send(g.alert("Terminal shell in container", harrierv1.Priority_PRIORITY_CRITICAL, "payments", "s3"))
	poll(t, vera, "unmuted alerts live", `[...document.querySelectorAll('#live-rows tr.alert-row')].filter(r => r.dataset.namespace === 'payments' && r.dataset.rule === 'Terminal shell in container').length`,
		func(n int) bool { return n == 5 })

	// Dead letters: the webhook refuses; a viewer cannot replay, a responder can.
	g.sink.Store(400)
	g.send(g.alert("Refused by webhook", harrierv1.Priority_PRIORITY_ERROR, "default", "s1"))
	navPoll(t, vera, g.base+"?view=deadletters", "dead letter listed", `document.querySelectorAll('tr.dead-letter').length`, func(n int) bool { return n >= 1 })
	msg, err := chromedp.Run(vera, chromedp.Evaluate[string](`fetch('/ui/api/deadletters/replay', {method: 'POST', headers: {'X-CSRF-Token': me.csrf}, body: '{"output":""}'}).then(r => r.status + ' ' + r.statusText)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "403") {
		t.Fatalf("viewer replay answered %q, want 403", msg)
	}
	hidden, _ := chromedp.Run(vera, chromedp.Evaluate[bool](`document.querySelector('#replay-all').offsetParent === null`))
	if !hidden {
		t.Fatal("a viewer sees the replay button")
	}
	g.sink.Store(0)
	navPoll(t, rob, g.base+"?view=deadletters", "dead letter listed", `document.querySelectorAll('tr.dead-letter').length`, func(n int) bool { return n >= 1 })
	g.shot(rob, "deadletters")
	run(t, rob, "replay", chromedp.Click(`#replay-all`))
	poll(t, rob, "replayed", `document.querySelector('#replay-result').textContent`, func(s string) bool { return strings.HasPrefix(s, "replayed 1") })

	// Sensors.
	run(t, rob, "sensors", chromedp.Navigate(g.base+"?view=sensors"))
	poll(t, rob, "three sensors", `document.querySelectorAll('tr.sensor').length`, func(n int) bool { return n == 3 })
	g.shot(rob, "sensors")
}

// On a phone (390x844, mobile emulation): the first load of a signed-in
// search view, with the browser cache off, transfers under 300 KB (page,
// assets and the API answers it fetches, as the page's Resource Timing
// counts them); every view is reachable from the navigation and nothing
// is wider than the screen. Screenshots go to the artifacts.
func TestConsoleOnAPhone(t *testing.T) {
	g := startRouter(t)
	for i, s := range []string{"s1", "s2", "s3"} {
		g.send(g.alert("Terminal shell in container", harrierv1.Priority_PRIORITY_CRITICAL, "payments", s),
			g.alert("Read sensitive file with a rather long rule name", harrierv1.Priority_PRIORITY_WARNING, fmt.Sprintf("team-%d", i), s))
	}
	ph := browser(t)
	run(t, ph, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	if _, err := chromedp.Call(ph, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ph, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatal(err)
	}
	login(t, ph, g.base, "vera", "viewer-secret-1")
	navPoll(t, ph, g.base+"?view=search", "search rows", `document.querySelectorAll('#search-rows tr.alert-row').length`, func(n int) bool { return n == 6 })
	type entry struct {
		Name string  `json:"name"`
		Size float64 `json:"size"`
	}
	entries, err := chromedp.Run(ph, chromedp.Evaluate[[]entry](`[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map(e => ({name: e.name, size: e.transferSize}))`))
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, e := range entries {
		if e.Size == 0 { // 0 means from a cache or not measured: the figure would lie
			t.Fatalf("%s: no transfer size (cached?): %+v", e.Name, entries)
		}
		total += e.Size
	}
	if len(entries) < 5 || total >= 300*1024 {
		t.Fatalf("first load: %d requests, %.0f bytes (want the page, its assets and API calls, under 300 KB): %+v", len(entries), total, entries)
	}
	t.Logf("first load on a phone: %d requests, %.1f KB transferred", len(entries), total/1024)

	const fits = `document.documentElement.scrollWidth <= window.innerWidth + 1 && document.body.scrollWidth <= window.innerWidth + 1`
	for _, view := range []string{"live", "search", "incidents", "deadletters", "sensors"} {
		link := `#nav a[data-view="` + view + `"]`
		poll(t, ph, view+" link on screen", `(() => { const r = document.querySelector('`+link+`').getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight; })()`,
			func(b bool) bool { return b })
		run(t, ph, "open "+view, chromedp.Click(link))
		poll(t, ph, view+" shown", `!document.querySelector('#view-`+view+`').hidden && document.querySelector('`+link+`').classList.contains('active')`, func(b bool) bool { return b })
		poll(t, ph, view+" fits the width", fits, func(b bool) bool { return b })
		g.shot(ph, "phone-"+view)
	}
	// The alert view (from a row) fits too.
	run(t, ph, "search", chromedp.Click(`#nav a[data-view="search"]`), chromedp.WaitVisible(`#search-rows tr.alert-row`),
		chromedp.Click(`#search-rows tr.alert-row`), chromedp.WaitVisible(`#alert-raw`))
	poll(t, ph, "alert fits the width", fits, func(b bool) bool { return b })
	g.shot(ph, "phone-alert")
}
