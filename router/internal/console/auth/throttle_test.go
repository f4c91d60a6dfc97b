package auth

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func throttledGuard(t *testing.T) (*Guard, *clock, *lockedBuf, *prometheus.Registry) {
	t.Helper()
	h, _ := bcrypt.GenerateFromPassword([]byte("right-pass"), bcrypt.MinCost)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	logs := &lockedBuf{}
	reg := prometheus.NewRegistry()
	g := New(Options{Users: []User{{Name: "rob", Hash: string(h), Role: Responder}}, InsecureCookies: true,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Now: c.now, Registerer: reg})
	return g, c, logs, reg
}

// signIn posts a password sign-in from addr; it answers the status, the
// Retry-After header and the body.
func signIn(g *Guard, addr, user, pass string) (int, string, string) {
	r := httptest.NewRequest("POST", "/ui/api/login", strings.NewReader(`{"user":`+strconv.Quote(user)+`,"password":`+strconv.Quote(pass)+`}`))
	r.RemoteAddr = addr
	w := httptest.NewRecorder()
	g.Login(w, r)
	return w.Code, w.Header().Get("Retry-After"), w.Body.String()
}

func TestSignInThrottlePerUser(t *testing.T) {
	for _, user := range []string{"rob", "nobody"} { // known and unknown names behave alike
		t.Run(user, func(t *testing.T) {
			g, c, logs, reg := throttledGuard(t)
			// Five free failures, each from another address (per-user count).
			for i := range 5 {
				if st, ra, body := signIn(g, "10.0.0."+strconv.Itoa(i+1)+":5000", user, "guess-"+strconv.Itoa(i)); st != http.StatusUnauthorized || ra != "" {
					t.Fatalf("failure %d: %d %q %s", i+1, st, ra, body)
				}
			}
			// The sixth failure starts the wait: 1 s, then 2 s, 4 s.
			for _, want := range []string{"1", "2", "4"} {
				if st, _, body := signIn(g, "10.0.1.1:5000", user, "wrong"); st != http.StatusUnauthorized {
					t.Fatalf("failure after the wait: %d %s", st, body)
				}
				st, ra, body := signIn(g, "10.0.2.2:5000", user, "right-pass")
				if st != http.StatusTooManyRequests || ra != want || !strings.Contains(body, "for this user") {
					t.Fatalf("during the wait: %d Retry-After %q %s, want 429, %s s and a reason", st, ra, body, want)
				}
				d, _ := strconv.Atoi(want)
				c.add(time.Duration(d) * time.Second)
			}
			st, _, body := signIn(g, "10.0.2.2:5000", user, "right-pass")
			if user == "rob" && st != http.StatusOK {
				t.Fatalf("after the wait the right password: %d %s", st, body)
			}
			if user == "nobody" && st != http.StatusUnauthorized {
				t.Fatalf("unknown user after the wait: %d %s", st, body)
			}
			if user == "rob" {
				// A good sign-in clears the name's count.
				if st, ra, _ := signIn(g, "10.0.2.2:5000", user, "wrong"); st != http.StatusUnauthorized || ra != "" {
					t.Fatalf("after a good sign-in a failure is free again: %d %q", st, ra)
				}
			}
			if n := signins(t, g, reg, "throttled"); n != 3 {
				t.Fatalf("throttled sign-ins metric = %v, want 3", n)
			}
			if s := logs.String(); !strings.Contains(s, "sign-in throttled") || strings.Contains(s, "right-pass") || strings.Contains(s, "guess-") {
				t.Fatalf("logs: want the throttling and no password:\n%s", s)
			}
		})
	}
}

func TestSignInThrottlePerAddress(t *testing.T) {
	g, c, _, reg := throttledGuard(t)
	// Twenty failures from one address over many names (a spray).
	for i := range 20 {
		if st, _, body := signIn(g, "192.0.2.7:4000", "user"+strconv.Itoa(i), "pw"); st != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, st, body)
		}
	}
	if st, _, _ := signIn(g, "192.0.2.7:4001", "user99", "pw"); st != http.StatusUnauthorized {
		t.Fatal("the 21st failure is still answered")
	}
	st, ra, body := signIn(g, "192.0.2.7:4002", "rob", "right-pass")
	if st != http.StatusTooManyRequests || ra != "1" || !strings.Contains(body, "from your address") {
		t.Fatalf("the address waits: %d %q %s", st, ra, body)
	}
	// Another address is not affected, and an IPv6 host is one /64.
	if st, _, body := signIn(g, "192.0.2.8:4000", "rob", "right-pass"); st != http.StatusOK {
		t.Fatalf("another address: %d %s", st, body)
	}
	for i := range 21 {
		signIn(g, "[2001:db8::"+strconv.FormatInt(int64(i+1), 16)+"]:4000", "x"+strconv.Itoa(i), "pw")
	}
	if st, _, _ := signIn(g, "[2001:db8::ffff]:4000", "rob", "right-pass"); st != http.StatusTooManyRequests {
		t.Fatalf("an IPv6 /64 spreading its guesses over addresses: %d, want 429", st)
	}
	c.add(time.Second)
	if st, _, body := signIn(g, "192.0.2.7:4003", "rob", "right-pass"); st != http.StatusOK {
		t.Fatalf("after the wait: %d %s", st, body)
	}
	if ok := signins(t, g, reg, "ok"); ok != 2 {
		t.Fatalf("ok sign-ins metric = %v, want 2", ok)
	}
}

// An unknown name costs a bcrypt comparison at the configured cost, like
// a wrong password, so timing does not tell which names exist.
func TestUnknownUserCostsTheSame(t *testing.T) {
	for _, cost := range []int{bcrypt.MinCost, 6} {
		h, _ := bcrypt.GenerateFromPassword([]byte("x"), cost)
		g := New(Options{Users: []User{{Name: "a", Hash: string(h), Role: Viewer}}, Logger: slog.New(slog.DiscardHandler)})
		if got, _ := bcrypt.Cost(g.dummy); got != cost {
			t.Errorf("dummy hash cost %d, users' %d", got, cost)
		}
	}
}

func TestThrottleForgetsAndBounds(t *testing.T) {
	th := newThrottle(1)
	th.limit = 3
	now := time.Unix(1000, 0)
	th.fail("a", now)
	th.fail("a", now)
	if th.wait("a", now) != time.Second {
		t.Fatalf("wait %v", th.wait("a", now))
	}
	// After an idle hour the count starts again.
	later := now.Add(2 * time.Hour)
	th.fail("a", later)
	if w := th.wait("a", later); w != 0 {
		t.Fatalf("after idle: wait %v", w)
	}
	for _, k := range []string{"b", "c", "d", "e"} {
		th.fail(k, later)
	}
	if len(th.keys) > 3 {
		t.Fatalf("%d keys kept, limit 3", len(th.keys))
	}
	// The wait never exceeds the cap.
	for range 100 {
		th.fail("z", later)
	}
	if w := th.wait("z", later); w != 15*time.Minute {
		t.Fatalf("capped wait %v", w)
	}
}

// signins reads the sign-in counter for result, checking it is registered.
func signins(t *testing.T, g *Guard, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	if n, err := testutil.GatherAndCount(reg, "harrier_router_console_signins_total"); err != nil || n != 3 {
		t.Fatalf("harrier_router_console_signins_total: %d series, %v (want ok, failed, throttled)", n, err)
	}
	return testutil.ToFloat64(g.signins.WithLabelValues(result))
}
