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
	"net/http"
	"sync"
	"time"

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
}

// Session is a signed-in user.
type Session struct {
	User    string `json:"user"`
	Role    string `json:"role"`
	CSRF    string `json:"csrf"`
	Open    bool   `json:"open"`
	expires time.Time
}

// Guard checks requests.
type Guard struct {
	opts  Options
	users map[string]User
	// dummy keeps sign-in time the same for unknown users.
	dummy []byte

	// oidcLogin is where OIDC sign-in starts ("" without OIDC).
	oidcLogin string

	mu       sync.Mutex
	sessions map[string]*Session
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
	g := &Guard{opts: opts, users: map[string]User{}, sessions: map[string]*Session{}}
	for _, u := range opts.Users {
		g.users[u.Name] = u
	}
	g.dummy, _ = bcrypt.GenerateFromPassword([]byte(token()), bcrypt.MinCost)
	return g
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

func (g *Guard) session(r *http.Request) *Session {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sessions[c.Value]
	if s == nil {
		return nil
	}
	if g.opts.Now().After(s.expires) {
		delete(g.sessions, c.Value)
		return nil
	}
	return s
}

func (g *Guard) start(w http.ResponseWriter, s *Session) {
	id := token()
	s.CSRF = token()
	s.expires = g.opts.Now().Add(g.opts.TTL)
	g.mu.Lock()
	// Drop expired sessions now and then.
	if len(g.sessions) > 1000 {
		now := g.opts.Now()
		for k, v := range g.sessions {
			if now.After(v.expires) {
				delete(g.sessions, k)
			}
		}
	}
	g.sessions[id] = s
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/ui", HttpOnly: true,
		Secure: !g.opts.InsecureCookies, SameSite: http.SameSiteStrictMode, Expires: s.expires})
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
		g.start(w, s)
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
	u, ok := g.users[req.User]
	hash := g.dummy
	if ok {
		hash = []byte(u.Hash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil || !ok {
		g.opts.Logger.Warn("console: sign-in failed", "user", req.User, "remote", r.RemoteAddr)
		Error(w, http.StatusUnauthorized, "wrong user or password")
		return
	}
	s := &Session{User: u.Name, Role: u.Role}
	g.start(w, s)
	g.opts.Logger.Info("console: signed in", "user", u.Name, "role", u.Role, "remote", r.RemoteAddr)
	writeJSON(w, s)
}

// Logout answers POST /ui/api/logout.
func (g *Guard) Logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		g.mu.Lock()
		s := g.sessions[c.Value]
		delete(g.sessions, c.Value)
		g.mu.Unlock()
		if s != nil {
			g.opts.Logger.Info("console: signed out", "user", s.User)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/ui", MaxAge: -1, HttpOnly: true,
		Secure: !g.opts.InsecureCookies, SameSite: http.SameSiteStrictMode})
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
