package config

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// Console configures the web console served at /ui on the HTTP listener.
type Console struct {
	Enabled bool
	// MaxAge, MaxBytes and MaxAlerts bound the console's search index in
	// <data_dir>/console (the oldest alerts leave first); the journal
	// keeps its own retention.
	MaxAlerts int
	MaxAge    time.Duration
	MaxBytes  int64
	// IncidentFields are the output fields that, with the rule, make two
	// alerts "the same incident" across sensors.
	IncidentFields []string
	// Users may sign in; empty with a loopback listener means open access.
	Users      []ConsoleUser
	SessionTTL time.Duration
	// OIDC, when set, adds sign-in through an OpenID Connect provider.
	OIDC *ConsoleOIDC
}

// ConsoleOIDC is console.oidc: the provider, this client, and which values
// of RoleClaim in the ID token make a responder or a viewer.
type ConsoleOIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string `json:"-"`
	RedirectURL  string
	Scopes       []string
	RoleClaim    string
	Responders   []string
	Viewers      []string
}

// ConsoleUser is one console account. PasswordHash is a bcrypt hash; the
// router never stores or accepts a plain password in its configuration.
type ConsoleUser struct {
	Name         string
	PasswordHash string `json:"-"`
	Role         string // viewer or responder
}

func parseConsole(root *block, c *Config) {
	b := root.sub("console")
	c.Console.Enabled = b.boolean("enabled", true)
	c.Console.MaxAlerts = b.integer("max_alerts", 1_000_000)
	c.Console.MaxAge = b.duration("max_age", 168*time.Hour)
	c.Console.MaxBytes = b.size("max_bytes", 2<<30)
	c.Console.IncidentFields = b.list("incident_fields")
	if !b.has("incident_fields") {
		c.Console.IncidentFields = []string{"k8s.ns.name", "container.name"}
	}
	c.Console.SessionTTL = b.duration("session_ttl", 12*time.Hour)
	if c.Console.MaxAlerts < 1 {
		b.errorf("max_alerts", "must be at least 1")
	}
	if c.Console.MaxBytes < 1<<20 {
		b.errorf("max_bytes", "must be at least 1MiB (the index's tables alone take a few hundred KiB)")
	}
	users := b.sub("users")
	for _, name := range sortedKeys(users.m) {
		u := users.sub(name)
		cu := ConsoleUser{Name: name, PasswordHash: u.secret("password_hash"), Role: strings.ToLower(u.str("role", "viewer"))}
		if !strings.HasPrefix(cu.PasswordHash, "$2") {
			u.errorf("password_hash", "want a bcrypt hash (htpasswd -nbBC 10 USER PASSWORD | cut -d: -f2); plain passwords are refused")
		}
		if cu.Role != "viewer" && cu.Role != "responder" {
			u.errorf("role", "want viewer or responder, got %q", cu.Role)
		}
		u.finish()
		c.Console.Users = append(c.Console.Users, cu)
	}
	users.finish()
	if b.has("oidc") {
		c.Console.OIDC = parseConsoleOIDC(b.sub("oidc"))
	}
	b.finish()
}

func parseConsoleOIDC(o *block) *ConsoleOIDC {
	c := &ConsoleOIDC{Issuer: o.str("issuer", ""), ClientID: o.str("client_id", ""), ClientSecret: o.secret("client_secret"),
		RedirectURL: o.str("redirect_url", ""), RoleClaim: o.str("role_claim", "groups"),
		Responders: o.list("responders"), Viewers: o.list("viewers")}
	if o.has("scopes") {
		c.Scopes = o.list("scopes")
	}
	for k, v := range map[string]string{"issuer": c.Issuer, "redirect_url": c.RedirectURL} {
		u, err := url.Parse(v)
		switch {
		case v == "":
			o.errorf(k, "required")
		case err != nil || !u.IsAbs() || u.Host == "":
			o.errorf(k, "want an absolute URL, got %q", v)
		case u.Scheme != "https" && !loopbackHost(u.Hostname()):
			o.errorf(k, "want https (http only on loopback), got %q", v)
		}
	}
	if c.ClientID == "" {
		o.errorf("client_id", "required")
	}
	if c.ClientSecret == "" {
		o.errorf("client_secret_file", "required (a file holding the client secret)")
	}
	if len(c.Responders) == 0 && len(c.Viewers) == 0 {
		o.errorf("responders", "map at least one %s value to a role (responders or viewers), or nobody can sign in", c.RoleClaim)
	}
	o.finish()
	return c
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
