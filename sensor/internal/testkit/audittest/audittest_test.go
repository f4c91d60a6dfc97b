package audittest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestLinesAndEventList(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       int
	}{
		{"empty", "", 0},
		{"blank lines and spaces", "\n  {\"a\":1}  \n\n{\"b\":2}\n", 2},
		{"no final newline", `{"a":1}`, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.json")
			if err := os.WriteFile(p, []byte(c.file), 0o600); err != nil {
				t.Fatal(err)
			}
			lines := Lines(t, p)
			if len(lines) != c.want {
				t.Fatalf("%d lines %q, want %d", len(lines), lines, c.want)
			}
			var l struct {
				Kind  string            `json:"kind"`
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(EventList(lines), &l); err != nil || l.Kind != "EventList" || len(l.Items) != c.want {
				t.Fatalf("EventList %s: %+v %v", EventList(lines), l, err)
			}
		})
	}
}
