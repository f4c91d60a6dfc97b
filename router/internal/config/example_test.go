package config

import (
	"os"
	"strings"
	"testing"
)

// The documented example must stay valid, with its commented-out named
// outputs enabled too.
func TestExampleConfigIsValid(t *testing.T) {
	const path = "../../harrier-router.example.yaml"
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.DefaultOutputs {
		t.Fatalf("the example enables outputs: %v", c.Summaries())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "# Named outputs")
	var out []string
	for _, line := range strings.Split(text[i:], "\n")[1:] {
		out = append(out, strings.TrimPrefix(line, "# "))
	}
	text = text[:i] + strings.Join(out, "\n")
	text = strings.ReplaceAll(text, "/etc/harrier/soc-ca.pem", "")
	c, err = Load(write(t, text))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Outputs) != 15 {
		t.Fatalf("named outputs: %v", c.Summaries())
	}
}
