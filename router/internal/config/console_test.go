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
	} {
		p := filepath.Join(t.TempDir(), "r.yaml")
		os.WriteFile(p, []byte(tc.yaml+"\n"), 0o600)
		c, err := Load(p)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if !c.Console.Enabled || c.Console.MaxAlerts != 1_000_000 {
				t.Errorf("%s: %+v", tc.name, c.Console)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}
