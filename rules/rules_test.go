package rules

import (
	"os"
	"path/filepath"
	"testing"
)

// The embedded files are exactly the *.yaml of this directory.
func TestFilesAreThisDirectory(t *testing.T) {
	onDisk, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := Files()
	if len(got) != len(onDisk) || len(got) == 0 {
		t.Fatalf("embedded %d files, directory has %d", len(got), len(onDisk))
	}
	for i, f := range got {
		if f.Name != onDisk[i] {
			t.Errorf("file %d: %s, want %s", i, f.Name, onDisk[i])
		}
		data, err := os.ReadFile(onDisk[i])
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != string(f.Data) {
			t.Errorf("%s: embedded content differs from the file", f.Name)
		}
	}
}
