package elasticsearch

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestConfigNeverPrintsSecrets(t *testing.T) {
	c := Config{HostPort: "https://es:9200", Username: "harrier", Password: "pa55word", APIKey: "c2VjcmV0a2V5",
		CustomHeaders: map[string]string{"Authorization": "Bearer t0ken"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("output", "config", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), buf.String()} {
		for _, secret := range []string{"pa55word", "c2VjcmV0a2V5", "t0ken"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q leaks %q", out, secret)
			}
		}
		if !strings.Contains(out, "https://es:9200") || !strings.Contains(out, "Authorization") {
			t.Errorf("%q lost the non-secret settings", out)
		}
	}
}
