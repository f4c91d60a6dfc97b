package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCOptions configure sign-in through an OpenID Connect provider
// (authorization code flow).
type OIDCOptions struct {
	Issuer, ClientID, ClientSecret, RedirectURL string
	// Scopes beyond openid (default: profile, email, groups).
	Scopes []string
	// RoleClaim is the ID token claim (a string or a list of strings)
	// mapped to roles (default "groups"): a value in Responders makes a
	// responder, else one in Viewers a viewer; anyone else is refused.
	RoleClaim           string
	Responders, Viewers []string
	// Client reaches the provider (its CA, proxy); nil: http.DefaultClient.
	Client *http.Client
	// PostLogoutRedirectURL is where the provider sends the browser after
	// its logout (RP-initiated logout); default: /ui/ on RedirectURL's
	// origin. Register it at the provider.
	PostLogoutRedirectURL string
}

// OIDC serves the sign-in redirect and the provider's callback; sessions
// are the Guard's.
type OIDC struct {
	g *Guard
	o OIDCOptions

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	conf     *oauth2.Config
	// endSession is the provider's end_session_endpoint ("" when its
	// discovery document has none).
	endSession string
}

// Paths of the flow under the console.
const (
	OIDCLoginPath    = "/ui/api/oidc/login"
	OIDCCallbackPath = "/ui/api/oidc/callback"
	oidcStateCookie  = "harrier_console_oidc"
)

// NewOIDC adds OIDC sign-in to g. The provider is discovered at the first
// sign-in (and again after a failure), so an unreachable provider never
// keeps the router from starting.
func NewOIDC(g *Guard, o OIDCOptions) *OIDC {
	if o.RoleClaim == "" {
		o.RoleClaim = "groups"
	}
	if o.Scopes == nil {
		o.Scopes = []string{"profile", "email", "groups"}
	}
	if o.PostLogoutRedirectURL == "" {
		if u, err := url.Parse(o.RedirectURL); err == nil && u.Host != "" {
			o.PostLogoutRedirectURL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/ui/"}).String()
		}
	}
	x := &OIDC{g: g, o: o}
	g.oidcLogin = OIDCLoginPath
	g.logoutURL = x.logoutURL
	g.refresh = x.refresh
	return x
}

// refresh renews s with its refresh token. The new ID token is verified
// like the first; a user whose role at the provider changed must sign in
// again (the role is not swapped under a live session).
func (x *OIDC) refresh(ctx context.Context, s *Session) (time.Time, string, string, error) {
	verifier, conf, err := x.provider(ctx)
	if err != nil {
		return time.Time{}, "", "", err
	}
	ctx, cancel := context.WithTimeout(x.ctx(ctx), 10*time.Second)
	defer cancel()
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refreshToken}).Token()
	if err != nil {
		return time.Time{}, "", "", fmt.Errorf("refresh: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		if tok.Expiry.IsZero() {
			return time.Time{}, "", "", errors.New("refresh: neither an ID token nor an expiry in the answer")
		}
		return tok.Expiry, tok.RefreshToken, s.idToken, nil
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return time.Time{}, "", "", fmt.Errorf("refreshed ID token rejected: %w", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return time.Time{}, "", "", fmt.Errorf("refreshed ID token claims: %w", err)
	}
	if r := x.role(claims[x.o.RoleClaim]); r != s.Role {
		return time.Time{}, "", "", fmt.Errorf("the role at the provider is now %q, was %q", r, s.Role)
	}
	return idt.Expiry, tok.RefreshToken, raw, nil
}

// logoutURL is where the browser goes after our sign-out of an OIDC
// session, to end the provider's session too ("" when the provider
// offers no end_session_endpoint, or s did not come from it).
func (x *OIDC) logoutURL(s *Session) string {
	x.mu.Lock()
	end := x.endSession
	x.mu.Unlock()
	if end == "" || s.Via != "oidc" {
		return ""
	}
	u, err := url.Parse(end)
	if err != nil {
		return ""
	}
	q := u.Query()
	if s.idToken != "" {
		q.Set("id_token_hint", s.idToken)
	}
	q.Set("client_id", x.o.ClientID)
	if x.o.PostLogoutRedirectURL != "" {
		q.Set("post_logout_redirect_uri", x.o.PostLogoutRedirectURL)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (x *OIDC) ctx(ctx context.Context) context.Context {
	if x.o.Client != nil {
		return oidc.ClientContext(ctx, x.o.Client)
	}
	return ctx
}

func (x *OIDC) provider(ctx context.Context) (*oidc.IDTokenVerifier, *oauth2.Config, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.verifier != nil {
		return x.verifier, x.conf, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(x.ctx(ctx), x.o.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("console.oidc.issuer %s: discovery: %w", x.o.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err == nil && strings.HasPrefix(meta.EndSession, "http") {
		x.endSession = meta.EndSession
	}
	x.verifier = p.Verifier(&oidc.Config{ClientID: x.o.ClientID, Now: x.g.opts.Now})
	x.conf = &oauth2.Config{ClientID: x.o.ClientID, ClientSecret: x.o.ClientSecret, RedirectURL: x.o.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, x.o.Scopes...)}
	return x.verifier, x.conf, nil
}

// Login answers GET /ui/api/oidc/login: a redirect to the provider, with
// state, nonce and PKCE verifier kept in a short-lived cookie.
func (x *OIDC) Login(w http.ResponseWriter, r *http.Request) {
	_, conf, err := x.provider(r.Context())
	if err != nil {
		x.g.opts.Logger.Error("console: OIDC provider unavailable", "err", err)
		Error(w, http.StatusBadGateway, "the sign-in provider is unavailable")
		return
	}
	state, nonce, pkce := token(), token(), oauth2.GenerateVerifier()
	// Lax, not Strict: the provider's redirect back is a cross-site
	// top-level navigation, which must carry this cookie.
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie, Value: state + "." + nonce + "." + pkce, Path: OIDCCallbackPath,
		HttpOnly: true, Secure: !x.g.opts.InsecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce)), http.StatusFound)
}

// Callback answers the provider's redirect: it checks state, exchanges the
// code, verifies the ID token (signature, issuer, audience, expiry, nonce),
// maps the role claim and starts a session.
func (x *OIDC) Callback(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, reason string, err error) {
		x.g.opts.Logger.Warn("console: OIDC sign-in failed", "reason", reason, "err", err, "remote", r.RemoteAddr)
		Error(w, status, reason)
	}
	c, err := r.Cookie(oidcStateCookie)
	if err != nil {
		fail(http.StatusBadRequest, "no sign-in in progress (start at "+OIDCLoginPath+")", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie, Value: "", Path: OIDCCallbackPath, MaxAge: -1})
	parts := strings.Split(c.Value, ".") // state.nonce.verifier, each base64url
	if len(parts) != 3 || subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("state")), []byte(parts[0])) != 1 {
		fail(http.StatusBadRequest, "sign-in state mismatch", nil)
		return
	}
	if e := r.URL.Query().Get("error"); e != "" {
		fail(http.StatusUnauthorized, "the provider refused the sign-in: "+e, nil)
		return
	}
	nonce, pkce := parts[1], parts[2]
	verifier, conf, err := x.provider(r.Context())
	if err != nil {
		fail(http.StatusBadGateway, "the sign-in provider is unavailable", err)
		return
	}
	ctx := x.ctx(r.Context())
	tok, err := conf.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		fail(http.StatusUnauthorized, "code exchange failed", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		fail(http.StatusUnauthorized, "the provider returned no ID token", nil)
		return
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		fail(http.StatusUnauthorized, "ID token rejected", err)
		return
	}
	if idt.Nonce != nonce {
		fail(http.StatusUnauthorized, "ID token nonce mismatch", nil)
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		fail(http.StatusUnauthorized, "ID token claims unreadable", err)
		return
	}
	user := idt.Subject
	for _, k := range []string{"preferred_username", "email"} {
		if s, ok := claims[k].(string); ok && s != "" {
			user = s
			break
		}
	}
	role := x.role(claims[x.o.RoleClaim])
	if role == "" {
		x.g.opts.Logger.Warn("console: OIDC user has no console role", "user", user, "claim", x.o.RoleClaim)
		Error(w, http.StatusForbidden, "signed in as "+user+", but no console role is mapped to your "+x.o.RoleClaim)
		return
	}
	// The session lasts as long as the ID token; then it is renewed with
	// the refresh token if the provider gave one (up to the session TTL
	// from now), else the page sends the user through the provider again.
	s := &Session{User: user, Role: role, Via: "oidc", idToken: raw, refreshToken: tok.RefreshToken}
	x.g.start(w, s, idt.Expiry)
	x.g.opts.Logger.Info("console: signed in", "user", user, "role", role, "via", "oidc", "remote", r.RemoteAddr, "until", s.Expires)
	// A page that moves on by itself, not a redirect: the session cookie is
	// SameSite=Strict and a redirect chain begun at the provider would not
	// carry it to /ui/.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `<!doctype html><meta http-equiv="refresh" content="0;url=/ui/"><p>Signed in as %s. <a href="/ui/">Continue</a></p>`, html.EscapeString(user))
}

func (x *OIDC) role(v any) string {
	var vals []string
	switch t := v.(type) {
	case string:
		vals = []string{t}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				vals = append(vals, s)
			}
		}
	}
	has := func(want []string) bool {
		return slices.ContainsFunc(vals, func(s string) bool { return slices.Contains(want, s) })
	}
	switch {
	case has(x.o.Responders):
		return Responder
	case has(x.o.Viewers):
		return Viewer
	}
	return ""
}
