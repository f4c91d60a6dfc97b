package deploytest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the values table in charts/harrier/README.md")

const (
	valuesBegin = "<!-- values:begin (generated from values.yaml by `make chart-readme`) -->"
	valuesEnd   = "<!-- values:end -->"
)

// TestChartReadme keeps the values table of charts/harrier/README.md equal
// to values.yaml: every value, its default and its "# --" comment. A value
// without a comment fails the test.
func TestChartReadme(t *testing.T) {
	dir := chartDir(t)
	table, err := valuesTable(readFile(t, filepath.Join(dir, "values.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "README.md")
	readme := string(readFile(t, path))
	b, e := strings.Index(readme, valuesBegin), strings.Index(readme, valuesEnd)
	if b < 0 || e < b {
		t.Fatalf("%s: no %q ... %q section", path, valuesBegin, valuesEnd)
	}
	got := readme[b+len(valuesBegin) : e]
	want := "\n" + table
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:b+len(valuesBegin)]+want+readme[e:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the values table is stale; run make chart-readme", path)
}

type valueRow struct{ key, def, doc string }

func valuesTable(src []byte) (string, error) {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(src, &doc); err != nil {
		return "", fmt.Errorf("values.yaml: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yamlv3.MappingNode {
		return "", fmt.Errorf("values.yaml: not a mapping")
	}
	var rows []valueRow
	var errs []string
	var walk func(prefix string, m *yamlv3.Node)
	walk = func(prefix string, m *yamlv3.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			key := prefix + k.Value
			d := describe(k.HeadComment)
			if d == "" && v.Kind == yamlv3.MappingNode && len(v.Content) > 0 {
				walk(key+".", v)
				continue
			}
			if d == "" {
				errs = append(errs, fmt.Sprintf("values.yaml:%d: %s has no \"# --\" comment", k.Line, key))
				continue
			}
			var val any
			if err := v.Decode(&val); err != nil {
				errs = append(errs, fmt.Sprintf("values.yaml:%d: %s: %v", k.Line, key, err))
				continue
			}
			js, _ := json.Marshal(val)
			rows = append(rows, valueRow{key, string(js), d})
		}
	}
	walk("", doc.Content[0])
	if len(errs) > 0 {
		return "", fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	var buf bytes.Buffer
	buf.WriteString("| Key | Default | Description |\n|-----|---------|-------------|\n")
	for _, r := range rows {
		fmt.Fprintf(&buf, "| `%s` | `%s` | %s |\n", r.key, cell(r.def), cell(r.doc))
	}
	return buf.String(), nil
}

// describe returns the "# -- ..." paragraph of a head comment (the lines
// after it continue it), or "".
func describe(comment string) string {
	lines := strings.Split(comment, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "# --") {
			start = i
		}
	}
	if start < 0 {
		return ""
	}
	var parts []string
	for _, l := range lines[start:] {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		l = strings.TrimSpace(strings.TrimPrefix(l, "--"))
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
