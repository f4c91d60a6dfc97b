package rules

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestExpandPaths(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.yaml", "a.yml", "c.txt", "sub.yaml/x.yaml"} {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	single := filepath.Join(dir, "c.txt")
	got, err := ExpandPaths([]string{single, dir})
	if err != nil {
		t.Fatal(err)
	}
	// A named file is kept whatever its name; a directory gives its YAML
	// files by name, not its subdirectories.
	want := []string{single, filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml")}
	if !slices.Equal(got, want) {
		t.Fatalf("ExpandPaths = %v, want %v", got, want)
	}
	if _, err := ExpandPaths([]string{filepath.Join(dir, "missing.yaml")}); err == nil {
		t.Fatal("a missing path gave no error")
	}
	empty := t.TempDir()
	if got, err := ExpandPaths([]string{empty}); err != nil || len(got) != 0 {
		t.Fatalf("empty directory: %v, %v", got, err)
	}
}
