package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

	"github.com/go-jose/go-jose/v4"
)

// provider is a minimal OpenID provider written to the published contract
// (OpenID Connect Discovery 1.0, Core 1.0 code flow, RFC 7517 JWKS, RFC
// 7636 PKCE): discovery document, authorize (signs the user in at once),
// token and keys endpoints, on a real loopback socket.
type provider struct {
	srv    *httptest.Server
	key    *rsa.PrivateKey
	claims map[string]any // of the next ID token
	// endSession: discovery names an end_session_endpoint (RP-initiated
	// logout 1.0) at /logout.
	endSession bool

	// now is the provider's clock (ID token times).
	now func() time.Time

	mu      sync.Mutex
	codes   map[string]codeGrant
	issued  string   // the last ID token
	logouts []string // id_token_hint of each logout
	// giveRefresh: the token answers carry a refresh token.
	giveRefresh   bool
	refreshTokens map[string]bool // valid ones
	refreshes     int             // refresh grants asked
}

func (p *provider) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

type codeGrant struct{ nonce, challenge, redirect string }

// providerKey is one signing key for every test provider (an RSA key
// takes a while to make, longer under -race).
var providerKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func newProvider(t *testing.T, claims map[string]any) *provider {
	t.Helper()
	key, err := providerKey()
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{key: key, claims: claims, codes: map[string]codeGrant{}, refreshTokens: map[string]bool{}}
	m := http.NewServeMux()
	m.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		u := p.srv.URL
		doc := map[string]any{"issuer": u, "authorization_endpoint": u + "/authorize",
			"token_endpoint": u + "/token", "jwks_uri": u + "/keys", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}}
		if p.endSession {
			doc["end_session_endpoint"] = u + "/logout"
		}
		_ = json.NewEncoder(w).Encode(doc)
	})
	m.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p.mu.Lock()
		p.logouts = append(p.logouts, q.Get("id_token_hint"))
		p.mu.Unlock()
		if q.Get("client_id") != "harrier" {
			http.Error(w, "unknown client", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, q.Get("post_logout_redirect_uri"), http.StatusFound)
	})
	m.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	m.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "harrier" || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad authorize request "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		code := "code-" + q.Get("state")
		p.mu.Lock()
		p.codes[code] = codeGrant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+url.QueryEscape(code)+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	m.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if id == "" {
			id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		}
		refuse := func() {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		}
		if id != "harrier" || secret != "s3cret" {
			refuse()
			return
		}
		now := p.clock()
		c := map[string]any{"iss": p.srv.URL, "aud": "harrier", "sub": "u-1",
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
		p.mu.Lock()
		if r.PostFormValue("grant_type") == "refresh_token" {
			// RFC 6749 section 6; each refresh token works once (rotation).
			rt := r.PostFormValue("refresh_token")
			ok := p.refreshTokens[rt]
			delete(p.refreshTokens, rt)
			p.refreshes++
			p.mu.Unlock()
			if !ok {
				refuse()
				return
			}
		} else {
			g, ok := p.codes[r.PostFormValue("code")]
			delete(p.codes, r.PostFormValue("code"))
			p.mu.Unlock()
			sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
			if !ok || g.redirect != r.PostFormValue("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
				refuse()
				return
			}
			c["nonce"] = g.nonce
		}
		p.mu.Lock()
		for k, v := range p.claims {
			c[k] = v
		}
		p.mu.Unlock()
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
		body, _ := json.Marshal(c)
		jws, err := sig.Sign(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		idt, _ := jws.CompactSerialize()
		answer := map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": idt}
		p.mu.Lock()
		p.issued = idt
		if p.giveRefresh {
			rt := token()
			p.refreshTokens[rt] = true
			answer["refresh_token"] = rt
		}
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	})
	p.srv = httptest.NewServer(m)
	t.Cleanup(p.srv.Close)
	return p
}

func TestOIDCSignInMapsRoles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		claims map[string]any
		status int
		role   string
	}{
		{"responder group", map[string]any{"groups": []string{"dev", "soc"}, "email": "ann@example.org"}, 200, Responder},
		{"viewer group", map[string]any{"groups": []string{"audit"}, "preferred_username": "bob"}, 200, Viewer},
		{"no mapped group", map[string]any{"groups": []string{"dev"}}, http.StatusForbidden, ""},
		{"wrong audience", map[string]any{"aud": "someone-else", "groups": []string{"soc"}}, http.StatusUnauthorized, ""},
		{"expired", map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "groups": []string{"soc"}}, http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, tc.claims)
			g := New(Options{InsecureCookies: true, Logger: slog.New(slog.DiscardHandler)})
			mux := http.NewServeMux()
			router := httptest.NewServer(mux)
			defer router.Close()
			o := NewOIDC(g, OIDCOptions{Issuer: p.srv.URL, ClientID: "harrier", ClientSecret: "s3cret",
				RedirectURL: router.URL + OIDCCallbackPath, Responders: []string{"soc"}, Viewers: []string{"audit"}})
			mux.HandleFunc("GET "+OIDCLoginPath, o.Login)
			mux.HandleFunc("GET "+OIDCCallbackPath, o.Callback)
			mux.HandleFunc("GET /ui/api/me", g.Me)

			jar, _ := cookiejar.New(nil)
			hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
			me := func() (int, Session, string) {
				resp, err := hc.Get(router.URL + "/ui/api/me")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				var s Session
				_ = json.Unmarshal(b, &s)
				return resp.StatusCode, s, string(b)
			}
			if st, _, body := me(); st != http.StatusUnauthorized || !strings.Contains(body, OIDCLoginPath) {
				t.Fatalf("before sign-in: %d %s (want 401 naming the OIDC login)", st, body)
			}
			// Login → provider's authorize → callback, following redirects.
			resp, err := hc.Get(router.URL + OIDCLoginPath)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("callback: %d %s, want %d", resp.StatusCode, b, tc.status)
			}
			st, s, body := me()
			if tc.role == "" {
				if st != http.StatusUnauthorized {
					t.Fatalf("refused sign-in left a session: %d %s", st, body)
				}
				return
			}
			if st != 200 || s.Role != tc.role || s.User == "" || s.User == "u-1" {
				t.Fatalf("after sign-in: %d %s, want role %s and the user's name", st, body, tc.role)
			}
		})
	}
}

// A callback without the sign-in's state cookie, or with another state,
// is refused (login CSRF).
func TestOIDCCallbackChecksState(t *testing.T) {
	p := newProvider(t, map[string]any{"groups": []string{"soc"}})
	g := New(Options{InsecureCookies: true, Logger: slog.New(slog.DiscardHandler)})
	o := NewOIDC(g, OIDCOptions{Issuer: p.srv.URL, ClientID: "harrier", ClientSecret: "s3cret",
		RedirectURL: "http://127.0.0.1/cb", Responders: []string{"soc"}})
	for _, tc := range []struct{ name, cookie string }{
		{"no cookie", ""},
		{"other state", "a.b.c"},
	} {
		r := httptest.NewRequest("GET", OIDCCallbackPath+"?code=x&state=mine", nil)
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: oidcStateCookie, Value: tc.cookie})
		}
		w := httptest.NewRecorder()
		o.Callback(w, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", tc.name, w.Code, w.Body)
		}
	}
}

// oidcRig is a router with OIDC sign-in and a browser-like client.
type oidcRig struct {
	t      *testing.T
	p      *provider
	g      *Guard
	router *httptest.Server
	hc     *http.Client
	clock  *clock
}

type rigOpts struct {
	endSession, refresh bool
	ttl                 time.Duration
}

func newOIDCRig(t *testing.T, ro rigOpts, claims map[string]any) *oidcRig {
	t.Helper()
	p := newProvider(t, claims)
	c := &clock{t: time.Now()}
	p.endSession, p.giveRefresh, p.now = ro.endSession, ro.refresh, c.now
	g := New(Options{InsecureCookies: true, Logger: slog.New(slog.DiscardHandler), Now: c.now, TTL: ro.ttl})
	mux := http.NewServeMux()
	router := httptest.NewServer(mux)
	t.Cleanup(router.Close)
	o := NewOIDC(g, OIDCOptions{Issuer: p.srv.URL, ClientID: "harrier", ClientSecret: "s3cret",
		RedirectURL: router.URL + OIDCCallbackPath, Responders: []string{"soc"}})
	mux.HandleFunc("GET "+OIDCLoginPath, o.Login)
	mux.HandleFunc("GET "+OIDCCallbackPath, o.Callback)
	mux.HandleFunc("GET /ui/api/me", g.Me)
	mux.HandleFunc("POST /ui/api/logout", g.Logout)
	mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "console page") })
	jar, _ := cookiejar.New(nil)
	x := &oidcRig{t: t, p: p, g: g, router: router, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}, clock: c}
	resp, err := x.hc.Get(router.URL + OIDCLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OIDC sign-in: %d", resp.StatusCode)
	}
	return x
}

func (x *oidcRig) get(hc *http.Client, path string) (int, string) {
	x.t.Helper()
	resp, err := hc.Get(x.router.URL + path)
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (x *oidcRig) cookie() *http.Cookie {
	u, _ := url.Parse(x.router.URL + "/ui/")
	for _, c := range x.hc.Jar.Cookies(u) {
		if c.Name == CookieName {
			return c
		}
	}
	x.t.Fatal("no session cookie")
	return nil
}

// Signing out ends our session on the router (a copied cookie stops
// working) and, when the provider offers it, sends the browser to the
// provider's end_session_endpoint with the ID token as hint, which sends
// it back to the console.
func TestOIDCSignOut(t *testing.T) {
	for _, endSession := range []bool{true, false} {
		t.Run(fmt.Sprintf("end_session_endpoint=%v", endSession), func(t *testing.T) {
			x := newOIDCRig(t, rigOpts{endSession: endSession}, map[string]any{"groups": []string{"soc"}, "preferred_username": "ann"})
			if st, body := x.get(x.hc, "/ui/api/me"); st != 200 || !strings.Contains(body, `"via":"oidc"`) {
				t.Fatalf("signed in: %d %s", st, body)
			}
			stolen := x.cookie()
			resp, err := x.hc.Post(x.router.URL+"/ui/api/logout", "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				LogoutURL string `json:"logout_url"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if !endSession {
				if resp.StatusCode != http.StatusNoContent || out.LogoutURL != "" {
					t.Fatalf("logout without end_session_endpoint: %d %q", resp.StatusCode, out.LogoutURL)
				}
			} else {
				if resp.StatusCode != 200 || !strings.HasPrefix(out.LogoutURL, x.p.srv.URL+"/logout?") {
					t.Fatalf("logout: %d %q, want the provider's end_session_endpoint", resp.StatusCode, out.LogoutURL)
				}
				// The browser follows it: the provider gets our ID token as
				// hint and sends it back to the console page.
				r2, err := x.hc.Get(out.LogoutURL)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(r2.Body)
				r2.Body.Close()
				x.p.mu.Lock()
				hints, issued := x.p.logouts, x.p.issued
				x.p.mu.Unlock()
				if len(hints) != 1 || hints[0] != issued || r2.Request.URL.String() != x.router.URL+"/ui/" || string(b) != "console page" {
					t.Fatalf("provider logout: hints %d (match %v), landed on %s %q", len(hints), len(hints) == 1 && hints[0] == issued, r2.Request.URL, b)
				}
			}
			if st, body := x.get(x.hc, "/ui/api/me"); st != http.StatusUnauthorized {
				t.Fatalf("after sign-out: %d %s", st, body)
			}
			// A copy of the cookie taken before sign-out is dead.
			thief := &http.Client{Timeout: 10 * time.Second, Jar: mustJar(t, x.router.URL, stolen)}
			if st, body := x.get(thief, "/ui/api/me"); st != http.StatusUnauthorized {
				t.Fatalf("stolen cookie after sign-out: %d %s", st, body)
			}
		})
	}
}

// Without a refresh token, an OIDC session ends with its ID token (here
// one minute), even though the session TTL is hours; then the page is told
// to sign in again through the provider.
func TestOIDCSessionEndsWithIDToken(t *testing.T) {
	x := newOIDCRig(t, rigOpts{}, map[string]any{"groups": []string{"soc"}})
	st, body := x.get(x.hc, "/ui/api/me")
	var s Session
	_ = json.Unmarshal([]byte(body), &s)
	if st != 200 || s.Expires.After(time.Now().Add(61*time.Second)) || s.Expires.Before(time.Now().Add(30*time.Second)) {
		t.Fatalf("session %d %s: want it to end with the ID token, in about a minute", st, body)
	}
	x.clock.set(s.Expires.Add(-time.Second))
	if st, body := x.get(x.hc, "/ui/api/me"); st != 200 {
		t.Fatalf("before the ID token expires: %d %s", st, body)
	}
	x.clock.set(s.Expires)
	if st, body := x.get(x.hc, "/ui/api/me"); st != http.StatusUnauthorized || !strings.Contains(body, OIDCLoginPath) {
		t.Fatalf("after the ID token expired: %d %s, want 401 naming the OIDC sign-in", st, body)
	}
	// Signing in again gives a new session.
	resp, err := x.hc.Get(x.router.URL + OIDCLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	x.clock.set(time.Now())
	if st, body := x.get(x.hc, "/ui/api/me"); st != 200 {
		t.Fatalf("re-login: %d %s", st, body)
	}
}

func mustJar(t *testing.T, base string, c *http.Cookie) http.CookieJar {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base + "/ui/")
	jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/ui"}})
	return jar
}

func (x *oidcRig) me() (int, Session) {
	x.t.Helper()
	st, body := x.get(x.hc, "/ui/api/me")
	var s Session
	_ = json.Unmarshal([]byte(body), &s)
	return st, s
}

// With a refresh token, a session past its ID token is renewed at the
// provider (a new, verified ID token), up to the session TTL from sign-in;
// a refused refresh or a role that changed at the provider ends it.
func TestOIDCSessionRefresh(t *testing.T) {
	t.Run("renewed up to the TTL", func(t *testing.T) {
		x := newOIDCRig(t, rigOpts{refresh: true, ttl: 150 * time.Second}, map[string]any{"groups": []string{"soc"}})
		st, s0 := x.me()
		signedIn := x.clock.now()
		if st != 200 || !s0.Expires.Equal(signedIn.Add(time.Minute).Truncate(time.Second)) {
			t.Fatalf("sign-in: %d, ends %v, want with the ID token", st, s0.Expires)
		}
		x.clock.set(s0.Expires)
		st, s1 := x.me()
		if st != 200 || !s1.Expires.After(s0.Expires) {
			t.Fatalf("at the ID token's end: %d, ends %v (was %v), want renewed", st, s1.Expires, s0.Expires)
		}
		x.clock.set(s1.Expires)
		st, s2 := x.me()
		if st != 200 || !s2.Expires.Equal(signedIn.Add(150*time.Second)) {
			t.Fatalf("second renewal: %d, ends %v, want capped at the TTL from sign-in (%v)", st, s2.Expires, signedIn.Add(150*time.Second))
		}
		x.clock.set(s2.Expires)
		if st, _ := x.me(); st != http.StatusUnauthorized {
			t.Fatalf("past the TTL: %d, want 401", st)
		}
		x.p.mu.Lock()
		n := x.p.refreshes
		x.p.mu.Unlock()
		if n != 2 {
			t.Fatalf("%d refreshes at the provider, want 2", n)
		}
	})
	for _, tc := range []struct {
		name   string
		change func(p *provider)
	}{
		{"refresh refused", func(p *provider) { clear(p.refreshTokens) }},
		{"role changed", func(p *provider) { p.claims = map[string]any{"groups": []string{"audit"}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newOIDCRig(t, rigOpts{refresh: true}, map[string]any{"groups": []string{"soc"}})
			st, s0 := x.me()
			if st != 200 {
				t.Fatalf("sign-in: %d", st)
			}
			x.p.mu.Lock()
			tc.change(x.p)
			x.p.mu.Unlock()
			x.clock.set(s0.Expires)
			if st, s := x.me(); st != http.StatusUnauthorized {
				t.Fatalf("after the ID token: %d %+v, want the session ended", st, s)
			}
		})
	}
}
