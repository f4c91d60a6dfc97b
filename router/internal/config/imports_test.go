package config

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Configuration is plain data: building outputs belongs to package outputs,
// so config must not import delivery or any integration.
func TestConfigIsPlainData(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, banned := range []string{"/router/internal/delivery", "/router/internal/output", "/router/internal/outputs"} {
				if strings.HasSuffix(p, banned) || strings.Contains(p, banned+"/") {
					t.Errorf("%s imports %s", f, p)
				}
			}
		}
	}
}
