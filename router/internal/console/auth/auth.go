// Package auth guards the console: password sign-in against bcrypt hashes
// from the configuration, server-side sessions in Secure, HttpOnly,
// SameSite=Strict cookies, a per-session CSRF token on every state change,
// and two roles (viewer reads; responder also triages and replays). With
// no users configured and a loopback listener, everyone is a responder
// (a local, single-user setup); with no users on any other address the
// console refuses everyone.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// Roles.
const (
	Viewer    = "viewer"
	Responder = "responder"
)

// CookieName is the session cookie.
const CookieName = "harrier_console"

// CSRFHeader carries the session's CSRF token on POST requests.
const CSRFHeader = "X-CSRF-Token"

// User is one account.
type User struct {
	Name, Hash, Role string
}

// Options configure Guard.
type Options struct {
	Users []User
	// Open: no users and a loopback listener.
	Open            bool
	TTL             time.Duration
	InsecureCookies bool
	Logger          *slog.Logger
	Now             func() time.Time
	// Registerer takes the sign-in metrics (nil: not registered).
	Registerer prometheus.Registerer
	// FreeFailures are the failed sign-ins allowed per user name (default
	// 5) and per client address (default 20) before each further failure
	// makes that name or address wait, doubling from 1 s up to 15 min.
	FreeFailuresUser, FreeFailuresAddress int
}

// Session is a signed-in user.
type Session struct {
	User string `json:"user"`
	Role string `json:"role"`
	CSRF string `json:"csrf"`
	Open bool   `json:"open"`
	// Via is "password", "oidc" or "" (open access).
	Via string `json:"via,omitempty"`
	// Expires is when the session ends (for OIDC, no later than the ID
	// token); after it the page signs in again.
	Expires time.Time `json:"expires"`
	// idToken is kept for the provider's logout (id_token_hint).
	idToken string
	// refreshToken renews an OIDC session past its ID token, until absEnd
	// (sign-in + TTL); refreshing lets one request at a time do it.
	refreshToken string
	absEnd       time.Time
	refreshing   *sync.Mutex
}

// Guard checks requests.
type Guard struct {
	opts  Options
	users map[string]User
	// dummy keeps sign-in time the same for unknown users.
	dummy []byte

	// oidcLogin is where OIDC sign-in starts ("" without OIDC).
	oidcLogin string
	// logoutURL, with OIDC, names the provider's logout for a session.
	logoutURL func(*Session) string
	// refresh, with OIDC, renews a session at the provider: its new end,
	// refresh token and ID token.
	refresh func(context.Context, *Session) (until time.Time, refreshToken, idToken string, err error)

	mu       sync.Mutex
	sessions map[string]*Session

	byUser, byAddr *throttle
	signins        *prometheus.CounterVec
}

// New builds a Guard.
func New(opts Options) *Guard {
	if opts.TTL <= 0 {
		opts.TTL = 12 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FreeFailuresUser <= 0 {
		opts.FreeFailuresUser = 5
	}
	if opts.FreeFailuresAddress <= 0 {
		opts.FreeFailuresAddress = 20
	}
	g := &Guard{opts: opts, users: map[string]User{}, sessions: map[string]*Session{},
		byUser: newThrottle(opts.FreeFailuresUser), byAddr: newThrottle(opts.FreeFailuresAddress),
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "harrier_router_console_signins_total",
			Help: "Console password sign-ins by result: ok, failed (wrong user or password), throttled (refused with 429 after repeated failures)."},
			[]string{"result"})}
	for _, r := range []string{"ok", "failed", "throttled"} {
		g.signins.WithLabelValues(r)
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(g.signins)
	}
	// The dummy hash has the cost of the real ones, so an unknown name
	// takes as long to refuse as a wrong password.
	cost := 0
	for _, u := range opts.Users {
		g.users[u.Name] = u
		if c, err := bcrypt.Cost([]byte(u.Hash)); err == nil && c > cost {
			cost = c
		}
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	g.dummy, _ = bcrypt.GenerateFromPassword([]byte(token()), cost)
	return g
}

// clientKey is the throttling key of the request's address: the IP, or
// its /64 for IPv6 (one host usually holds a whole /64). The direct peer
// is used, not X-Forwarded-For, which any client can write.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type ctxKey struct{}

// From returns the request's session (nil when none).
func From(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// Who names the actor for audit logs.
func Who(ctx context.Context) string {
	if s := From(ctx); s != nil {
		return s.User
	}
	return "unknown"
}

// session is a snapshot of the request's live session (nil when none). An
// OIDC session past its ID token is refreshed at the provider when it
// gave a refresh token, up to the session TTL from sign-in.
func (g *Guard) session(r *http.Request) *Session {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	id := c.Value
	g.mu.Lock()
	s := g.sessions[id]
	if s == nil {
		g.mu.Unlock()
		return nil
	}
	now := g.opts.Now()
	if now.Before(s.Expires) {
		cp := *s
		g.mu.Unlock()
		return &cp
	}
	if g.refresh == nil || s.refreshToken == "" || !now.Before(s.absEnd) {
		delete(g.sessions, id)
		g.mu.Unlock()
		g.opts.Logger.Info("console: session ended", "user", s.User, "via", s.Via)
		return nil
	}
	g.mu.Unlock()
	return g.refreshSession(r.Context(), id, s)
}

// refreshSession renews s at the provider; one request at a time per
// session, the others wait and take its result.
func (g *Guard) refreshSession(ctx context.Context, id string, s *Session) *Session {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	g.mu.Lock()
	if g.sessions[id] != s {
		g.mu.Unlock()
		return nil
	}
	if g.opts.Now().Before(s.Expires) { // renewed while this request waited
		cp := *s
		g.mu.Unlock()
		return &cp
	}
	old := *s
	g.mu.Unlock()
	until, rt, idt, err := g.refresh(ctx, &old)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		delete(g.sessions, id)
		g.opts.Logger.Info("console: session ended; the provider did not renew it", "user", s.User, "err", err)
		return nil
	}
	if until.After(s.absEnd) {
		until = s.absEnd
	}
	s.Expires, s.idToken = until, idt
	if rt != "" {
		s.refreshToken = rt
	}
	g.opts.Logger.Debug("console: session renewed at the provider", "user", s.User, "until", until)
	cp := *s
	return &cp
}

// start begins s, ending at the session TTL or at until if sooner (zero:
// no bound).
func (g *Guard) start(w http.ResponseWriter, s *Session, until time.Time) {
	id := token()
	s.CSRF = token()
	s.Expires = g.opts.Now().Add(g.opts.TTL)
	s.absEnd = s.Expires
	s.refreshing = &sync.Mutex{}
	if !until.IsZero() && until.Before(s.Expires) {
		s.Expires = until
	}
	g.mu.Lock()
	// Drop expired sessions now and then.
	if len(g.sessions) > 1000 {
		now := g.opts.Now()
		for k, v := range g.sessions {
			if now.After(v.Expires) {
				delete(g.sessions, k)
			}
		}
	}
	g.sessions[id] = s
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/ui", HttpOnly: true,
		Secure: !g.opts.InsecureCookies, SameSite: http.SameSiteStrictMode, Expires: s.Expires})
}

// Require wraps h: a session with at least role is needed, and state
// changes (any method but GET/HEAD) need the CSRF header.
func (g *Guard) Require(role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := g.session(r)
		if s == nil {
			Error(w, http.StatusUnauthorized, "sign in first")
			return
		}
		if role == Responder && s.Role != Responder {
			g.opts.Logger.Warn("console: action refused by role", "user", s.User, "role", s.Role, "path", r.URL.Path)
			Error(w, http.StatusForbidden, "this needs the responder role; you are "+s.Role)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(s.CSRF)) != 1 {
				Error(w, http.StatusForbidden, "missing or wrong "+CSRFHeader+" header")
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

// Me answers GET /ui/api/me: the session, creating the open-mode session
// when the console is open.
func (g *Guard) Me(w http.ResponseWriter, r *http.Request) {
	s := g.session(r)
	if s == nil && g.opts.Open {
		s = &Session{User: "local", Role: Responder, Open: true}
		g.start(w, s, time.Time{})
	}
	if s == nil {
		// The sign-in page offers the provider when OIDC is on.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "sign in first", "oidc_login": g.oidcLogin})
		return
	}
	writeJSON(w, s)
}

// Login answers POST /ui/api/login {"user","password"}.
func (g *Guard) Login(w http.ResponseWriter, r *http.Request) {
	var req struct{ User, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		Error(w, http.StatusBadRequest, "want a JSON body {\"user\":..., \"password\":...}: "+err.Error())
		return
	}
	if req.User == "" || req.Password == "" {
		Error(w, http.StatusBadRequest, "user and password are required")
		return
	}
	now, addr, name := g.opts.Now(), "addr:"+clientKey(r), "user:"+req.User
	wait, reason := g.byAddr.wait(addr, now), "too many failed sign-ins from your address"
	if uw := g.byUser.wait(name, now); uw > wait {
		wait, reason = uw, "too many failed sign-ins for this user"
	}
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		g.signins.WithLabelValues("throttled").Inc()
		g.opts.Logger.Warn("console: sign-in throttled", "user", req.User, "remote", r.RemoteAddr, "retry_after_s", secs, "reason", reason)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		Error(w, http.StatusTooManyRequests, reason+"; try again in "+strconv.Itoa(secs)+" s")
		return
	}
	u, ok := g.users[req.User]
	hash := g.dummy
	if ok {
		hash = []byte(u.Hash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil || !ok {
		g.byAddr.fail(addr, now)
		g.byUser.fail(name, now)
		g.signins.WithLabelValues("failed").Inc()
		g.opts.Logger.Warn("console: sign-in failed", "user", req.User, "remote", r.RemoteAddr)
		Error(w, http.StatusUnauthorized, "wrong user or password")
		return
	}
	// Only the name is cleared: an attacker holding one account must not
	// reset the count of the address it guesses others' passwords from.
	g.byUser.clear(name)
	g.signins.WithLabelValues("ok").Inc()
	s := &Session{User: u.Name, Role: u.Role, Via: "password"}
	g.start(w, s, time.Time{})
	g.opts.Logger.Info("console: signed in", "user", u.Name, "role", u.Role, "via", "password", "remote", r.RemoteAddr)
	writeJSON(w, s)
}

// Logout answers POST /ui/api/logout. The session is deleted on the
// router, so a copy of the cookie stops working too. For an OIDC session
// whose provider offers RP-initiated logout the answer is 200
// {"logout_url": ...}, where the page goes next to end the provider's
// session; otherwise 204.
func (g *Guard) Logout(w http.ResponseWriter, r *http.Request) {
	var next string
	if c, err := r.Cookie(CookieName); err == nil {
		g.mu.Lock()
		var s *Session
		if live := g.sessions[c.Value]; live != nil {
			cp := *live
			s = &cp
		}
		delete(g.sessions, c.Value)
		g.mu.Unlock()
		if s != nil {
			if g.logoutURL != nil {
				next = g.logoutURL(s)
			}
			g.opts.Logger.Info("console: signed out", "user", s.User, "via", s.Via, "provider_logout", next != "", "remote", r.RemoteAddr)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/ui", MaxAge: -1, HttpOnly: true,
		Secure: !g.opts.InsecureCookies, SameSite: http.SameSiteStrictMode})
	if next != "" {
		writeJSON(w, map[string]string{"logout_url": next})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Error writes {"error": reason} with status.
func Error(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
