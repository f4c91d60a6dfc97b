package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConsoleConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, err string
	}{
		{"defaults", "", ""},
		{"users", "console: {users: {alice: {password_hash: \"$2y$10$abcdefghijklmnopqrstuv\", role: responder}}}", ""},
		{"plain password", "console: {users: {alice: {password_hash: hunter2}}}", "console.users.alice.password_hash: want a bcrypt hash"},
		{"bad role", "console: {users: {alice: {password_hash: \"$2y$10$x\", role: admin}}}", "console.users.alice.role"},
		{"typo", "console: {max_alert: 5}", "console.max_alert: unknown key"},
		{"max_alerts", "console: {max_alerts: 0}", "console.max_alerts: must be at least 1"},
		{"max_bytes", "console: {max_bytes: 64KiB}", "console.max_bytes: must be at least 1MiB"},
		{"max_bytes size", "console: {max_bytes: 500MiB, max_age: 72h}", ""},
		{"oidc", "console: {oidc: {issuer: \"https://idp.example.org\", client_id: harrier, client_secret_file: SECRET, redirect_url: \"https://harrier.example.org/ui/api/oidc/callback\", responders: [soc]}}", ""},
		{"oidc http issuer", "console: {oidc: {issuer: \"http://idp.example.org\", client_id: harrier, client_secret_file: SECRET, redirect_url: \"https://h/cb\", responders: [soc]}}", "console.oidc.issuer: want https"},
		{"oidc no secret", "console: {oidc: {issuer: \"https://idp\", client_id: harrier, redirect_url: \"https://h/cb\", viewers: [all]}}", "console.oidc.client_secret_file: required"},
		{"oidc no roles", "console: {oidc: {issuer: \"https://idp\", client_id: harrier, client_secret_file: SECRET, redirect_url: \"https://h/cb\"}}", "console.oidc.responders: map at least one groups value"},
		{"oidc typo", "console: {oidc: {issuer: \"https://idp\", clientid: x}}", "console.oidc.clientid: unknown key"},
	} {
		dir := t.TempDir()
		secret := filepath.Join(dir, "secret")
		os.WriteFile(secret, []byte("s3cret\n"), 0o600)
		p := filepath.Join(dir, "r.yaml")
		os.WriteFile(p, []byte(strings.ReplaceAll(tc.yaml, "SECRET", secret)+"\n"), 0o600)
		c, err := Load(p)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if !c.Console.Enabled || c.Console.MaxAlerts != 1_000_000 || c.Console.MaxBytes < 1<<20 {
				t.Errorf("%s: %+v", tc.name, c.Console)
			} else if o := c.Console.OIDC; o != nil && (o.ClientSecret != "s3cret" || o.RoleClaim != "groups") {
				t.Errorf("%s: %+v", tc.name, o)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}
