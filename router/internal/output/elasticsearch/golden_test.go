package elasticsearch

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden keeps testdata/index-template.json and testdata/document.json
// equal to what the output installs and indexes. They are the contract for
// consumers outside this module (the Kibana saved objects check field
// names against them); go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	doc, err := Document(testAlert())
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"index-template.json": Template("falco", SuffixDaily),
		"document.json":       doc,
	} {
		got, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGolden -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale; run go test -run TestGolden -update and review the diff:\n%s", path, got)
		}
	}
}
