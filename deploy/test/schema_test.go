package deploytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
)

// TestChartSchema keeps charts/harrier/values.schema.json equal to what
// values.yaml implies: every mapping the chart reads key by key is closed
// (a misspelt value is an error at helm install, not silently ignored),
// every value has the type of its default. Values documented as a whole
// (resources, affinity, extraConfig, ...) stay free-form. make chart-readme
// rewrites it.
func TestChartSchema(t *testing.T) {
	dir := chartDir(t)
	want, err := valuesSchema(readFile(t, filepath.Join(dir, "values.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "values.schema.json")
	got, _ := os.ReadFile(path)
	if bytes.Equal(got, want) {
		return
	}
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale; run make chart-readme", path)
}

// A misspelt value is refused by helm, naming it.
func TestChartSchemaRefusesTypos(t *testing.T) {
	for _, args := range [][]string{
		{"--set", "sensor.privilegd=true"},
		{"--set", "router.outputs.elasticsearch.hostpost=http://es:9200"},
		{"--set", "sensor.privileged=maybe"},
	} {
		_, err := helmTemplate(t, args...)
		if err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("helm template %v: want a schema error, got %v", args, err)
		}
	}
}

func valuesSchema(src []byte) ([]byte, error) {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("values.yaml: %w", err)
	}
	var node func(k, v *yamlv3.Node) map[string]any
	node = func(k, v *yamlv3.Node) map[string]any {
		documented := k != nil && describe(k.HeadComment) != ""
		s := map[string]any{}
		if k != nil && documented {
			s["description"] = describe(k.HeadComment)
		}
		switch v.Kind {
		case yamlv3.MappingNode:
			s["type"] = "object"
			if documented && k != nil {
				return s // free-form: passed through to Kubernetes or the daemons
			}
			props := map[string]any{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				props[v.Content[i].Value] = node(v.Content[i], v.Content[i+1])
			}
			s["properties"] = props
			s["additionalProperties"] = false
		case yamlv3.SequenceNode:
			s["type"] = "array"
		case yamlv3.ScalarNode:
			switch v.Tag {
			case "!!bool":
				s["type"] = "boolean"
			case "!!int":
				s["type"] = "integer"
			case "!!float":
				s["type"] = "number"
			default:
				// Strings also take numbers: --set tag=1.2 or nodePort=30765.
				s["type"] = []string{"string", "number", "null"}
			}
		}
		return s
	}
	root := node(nil, doc.Content[0])
	root["$schema"] = "https://json-schema.org/draft-07/schema#"
	root["title"] = "Values of the harrier chart (generated from values.yaml by make chart-readme)"
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
