package kafka

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestConfigNeverPrintsSecrets(t *testing.T) {
	c := Config{HostPort: "k1:9093", Topic: "falco", SASL: SASL{Mechanism: "plain", Username: "harrier", Password: "pa55word"}}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("output", "config", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), buf.String()} {
		if strings.Contains(out, "pa55word") {
			t.Errorf("%q leaks the password", out)
		}
		if !strings.Contains(out, "k1:9093") || !strings.Contains(out, "harrier") {
			t.Errorf("%q lost the non-secret settings", out)
		}
	}
}
