package config

import (
	"strings"
	"time"
)

// Console configures the web console served at /ui on the HTTP listener.
type Console struct {
	Enabled bool
	// MaxAlerts and MaxAge bound the console's search index (the oldest
	// alerts leave first); the journal keeps its own retention.
	MaxAlerts int
	MaxAge    time.Duration
	// IncidentFields are the output fields that, with the rule, make two
	// alerts "the same incident" across sensors.
	IncidentFields []string
	// Users may sign in; empty with a loopback listener means open access.
	Users      []ConsoleUser
	SessionTTL time.Duration
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
	c.Console.IncidentFields = b.list("incident_fields")
	if !b.has("incident_fields") {
		c.Console.IncidentFields = []string{"k8s.ns.name", "container.name"}
	}
	c.Console.SessionTTL = b.duration("session_ttl", 12*time.Hour)
	if c.Console.MaxAlerts < 1 {
		b.errorf("max_alerts", "must be at least 1")
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
	b.finish()
}
