package server

import (
	"context"
	"net"
	"net/http"
	"path/filepath"

	"github.com/harrier-security/harrier/router/internal/console"
	"github.com/harrier-security/harrier/router/internal/console/auth"
	"github.com/harrier-security/harrier/router/internal/console/index"
)

// startConsole mounts the console at /ui and starts its indexer, which
// reads the journal on its own (ingest never waits for it).
func (r *Router) startConsole(mux *http.ServeMux) error {
	cfg := r.cfg.Console
	if !cfg.Enabled {
		return nil
	}
	// The index lives in <data_dir>/console beside the console's state; a
	// damaged database is moved aside there and rebuilt from the journal.
	idx, err := index.Open(index.Options{Dir: filepath.Join(r.cfg.DataDir, "console"), MaxAlerts: cfg.MaxAlerts, MaxAge: cfg.MaxAge,
		MaxBytes: cfg.MaxBytes, IncidentFields: cfg.IncidentFields, Logger: r.log})
	if err != nil {
		return err
	}
	users := make([]auth.User, 0, len(cfg.Users))
	for _, u := range cfg.Users {
		users = append(users, auth.User{Name: u.Name, Hash: u.PasswordHash, Role: u.Role})
	}
	open := len(users) == 0 && cfg.OIDC == nil && isLoopback(r.cfg.HTTP.Address)
	if len(users) == 0 && cfg.OIDC == nil && !open {
		r.log.Warn("console: no console.users configured and http.address is not loopback: the console refuses every sign-in")
	}
	tlsOn := r.cfg.HTTP.TLS.Enabled()
	if !tlsOn && !isLoopback(r.cfg.HTTP.Address) && (len(users) > 0 || cfg.OIDC != nil) {
		r.log.Warn("console: http.tls is off on a non-loopback address: console passwords and sessions travel in clear text")
	}
	g := auth.New(auth.Options{Users: users, Open: open, TTL: cfg.SessionTTL, InsecureCookies: !tlsOn, Logger: r.log, Registerer: r.reg})
	var oidc *auth.OIDC
	var c *console.Console
	if o := cfg.OIDC; o != nil {
		oidc = auth.NewOIDC(g, auth.OIDCOptions{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
			RedirectURL: o.RedirectURL, Scopes: o.Scopes, RoleClaim: o.RoleClaim, Responders: o.Responders, Viewers: o.Viewers})
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err = console.New(console.Deps{Index: idx, Guard: g, OIDC: oidc, DeadLetters: &deadLetters{store: r.dead, r: r},
		Fleet: r.fl.AdminServer(), StateDir: filepath.Join(r.cfg.DataDir, "console"), IncidentFields: cfg.IncidentFields, Done: ctx.Done(), Logger: r.log})
	if err != nil {
		cancel()
		idx.Close()
		return err
	}
	if err := r.reg.Register(idx.Collector()); err != nil {
		cancel()
		idx.Close()
		return err
	}
	r.consoleStop = cancel
	r.consoleDone = make(chan struct{})
	go func() {
		defer close(r.consoleDone)
		defer idx.Close()
		switch {
		case r.j != nil:
			_ = idx.Run(ctx, r.j)
		case r.kl != nil:
			// Each replica reads every partition itself (no consumer
			// group), so every replica's console shows every alert.
			_ = idx.RunShared(ctx, r.kl)
		}
	}()
	r.consoleIndex = idx
	mux.Handle("/ui/", c)
	mux.Handle("/ui", http.RedirectHandler("/ui/", http.StatusFound))
	r.log.Info("console at /ui", "open_access", open, "users", len(users), "oidc", oidc != nil)
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ConsoleIndex exposes the console's index (tests, benchmarks); nil when off.
func (r *Router) ConsoleIndex() *index.Index { return r.consoleIndex }
