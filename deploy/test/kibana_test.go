package deploytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// savedObject is one line of a Kibana saved-objects export.
type savedObject struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	References []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"references"`
}

func loadSavedObjects(t *testing.T) []savedObject {
	t.Helper()
	p := filepath.Join(repoRoot(t), "deploy", "kibana", "harrier.ndjson")
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, p)))
	sc.Buffer(nil, 1<<20)
	var objs []savedObject
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var o savedObject
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("%s:%d: %v", p, line, err)
		}
		if o.Type == "" || o.ID == "" || o.Attributes["title"] == nil {
			t.Errorf("%s:%d: an object needs type, id and a title", p, line)
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		t.Fatalf("%s: no saved objects", p)
	}
	return objs
}

// jsonAttr decodes an attribute that Kibana stores as a JSON string.
func jsonAttr(t *testing.T, o savedObject, get func(map[string]any) any, into any) bool {
	t.Helper()
	s, ok := get(o.Attributes).(string)
	if !ok {
		return false
	}
	if err := json.Unmarshal([]byte(s), into); err != nil {
		t.Errorf("%s %s: a JSON attribute does not parse: %v", o.Type, o.ID, err)
		return false
	}
	return true
}

func searchSourceOf(o savedObject) func(map[string]any) any {
	return func(a map[string]any) any {
		m, _ := a["kibanaSavedObjectMeta"].(map[string]any)
		return m["searchSourceJSON"]
	}
}

// Every reference resolves to an object of the file, every reference
// name used inside an object is declared, and the dashboard has the panels
// the lab promises.
func TestKibanaReferences(t *testing.T) {
	objs := loadSavedObjects(t)
	byKey := map[string]savedObject{}
	for _, o := range objs {
		k := o.Type + "/" + o.ID
		if _, dup := byKey[k]; dup {
			t.Errorf("%s appears twice", k)
		}
		byKey[k] = o
	}
	for _, o := range objs {
		refs := map[string]bool{}
		for _, r := range o.References {
			if _, ok := byKey[r.Type+"/"+r.ID]; !ok {
				t.Errorf("%s %s: reference %s points at %s/%s, which is not in the file", o.Type, o.ID, r.Name, r.Type, r.ID)
			}
			refs[r.Name] = true
		}
		var ss struct {
			IndexRefName string `json:"indexRefName"`
		}
		if jsonAttr(t, o, searchSourceOf(o), &ss) && ss.IndexRefName != "" && !refs[ss.IndexRefName] {
			t.Errorf("%s %s: searchSourceJSON.indexRefName %q is not a reference", o.Type, o.ID, ss.IndexRefName)
		}
		if o.Type == "visualization" || o.Type == "search" {
			if ss.IndexRefName == "" {
				t.Errorf("%s %s: no data view", o.Type, o.ID)
			}
		}
		if o.Type != "dashboard" {
			continue
		}
		var panels []struct {
			PanelIndex   string `json:"panelIndex"`
			PanelRefName string `json:"panelRefName"`
			Type         string `json:"type"`
		}
		if !jsonAttr(t, o, func(a map[string]any) any { return a["panelsJSON"] }, &panels) {
			t.Fatalf("dashboard %s: no panelsJSON", o.ID)
		}
		var titles []string
		for _, p := range panels {
			// Kibana 8 names a panel's reference "<panelIndex>:<panelRefName>".
			name := p.PanelIndex + ":" + p.PanelRefName
			if !refs[name] && !refs[p.PanelRefName] {
				t.Errorf("dashboard %s: panel %s refers to %q, which is not a reference", o.ID, p.PanelIndex, name)
				continue
			}
			for _, r := range o.References {
				if r.Name == name || r.Name == p.PanelRefName {
					titles = append(titles, byKey[r.Type+"/"+r.ID].Attributes["title"].(string))
				}
			}
		}
		for _, want := range []string{"alerts over time by priority", "top rules", "top hosts", "top containers", "recent alerts"} {
			if !slices.ContainsFunc(titles, func(s string) bool { return strings.Contains(strings.ToLower(s), want) }) {
				t.Errorf("dashboard %s has no %q panel (panels: %v)", o.ID, want, titles)
			}
		}
	}
}

// indexTemplate is the router's Elasticsearch index template, kept by the
// router's golden test in testdata/index-template.json.
type indexTemplate struct {
	IndexPatterns []string `json:"index_patterns"`
	Template      struct {
		Mappings struct {
			Properties map[string]struct {
				Type string `json:"type"`
			} `json:"properties"`
		} `json:"mappings"`
	} `json:"template"`
}

func routerTemplate(t *testing.T) indexTemplate {
	t.Helper()
	p := filepath.Join(componentDir(t, "router", "HARRIER_ROUTER_DIR"), "internal", "output", "elasticsearch", "testdata", "index-template.json")
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		missing(t, fmt.Sprintf("%s is absent (the router's golden index template); the Kibana field check needs it", p))
	}
	if err != nil {
		t.Fatal(err)
	}
	var it indexTemplate
	if err := json.Unmarshal(b, &it); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if len(it.Template.Mappings.Properties) == 0 || len(it.IndexPatterns) == 0 {
		t.Fatalf("%s: no mappings or index patterns", p)
	}
	return it
}

var docFieldRE = regexp.MustCompile(`doc\[['"]([^'"]+)['"]\]|def f = '([^']+)'`)

// Every field the saved objects use is one the router indexes: a mapped
// property of its index template, a key below the flattened output_fields
// that Harrier's rules put in their output, or a runtime field of the data
// view built from those.
func TestKibanaFieldsMatchRouterMapping(t *testing.T) {
	tmpl := routerTemplate(t)
	props := tmpl.Template.Mappings.Properties
	ruleText := ""
	for _, f := range repoRules(t) {
		ruleText += string(readFile(t, f))
	}
	checkStored := func(where, field string) {
		t.Helper()
		if p, ok := props[field]; ok {
			if p.Type == "" {
				t.Errorf("%s: %s has no type in the router's mapping", where, field)
			}
			return
		}
		if sub, ok := strings.CutPrefix(field, "output_fields."); ok && props["output_fields"].Type == "flattened" {
			if !strings.Contains(ruleText, "%"+sub) {
				t.Errorf("%s: %s: no rule of rules/ outputs %%%s, so the field would stay empty", where, field, sub)
			}
			return
		}
		t.Errorf("%s: field %q is not written by the router (its template maps %v)", where, field, keys(props))
	}

	objs := loadSavedObjects(t)
	runtime := map[string]bool{}
	views := 0
	for _, o := range objs {
		if o.Type != "index-pattern" {
			continue
		}
		views++
		title := o.Attributes["title"].(string)
		if !slices.ContainsFunc(tmpl.IndexPatterns, func(p string) bool { m, _ := path.Match(p, strings.TrimSuffix(title, "*")+"2026.11.24"); return m }) {
			t.Errorf("data view %q does not cover the router's indices (template patterns %v)", title, tmpl.IndexPatterns)
		}
		tf, _ := o.Attributes["timeFieldName"].(string)
		if p := props[tf]; p.Type != "date" && p.Type != "date_nanos" {
			t.Errorf("data view %s: time field %q is %q in the router's mapping, want a date", o.ID, tf, p.Type)
		}
		var rt map[string]struct {
			Type   string `json:"type"`
			Script struct {
				Source string `json:"source"`
			} `json:"script"`
		}
		jsonAttr(t, o, func(a map[string]any) any { return a["runtimeFieldMap"] }, &rt)
		for name, f := range rt {
			runtime[name] = true
			refs := docFieldRE.FindAllStringSubmatch(f.Script.Source, -1)
			if len(refs) == 0 {
				t.Errorf("runtime field %s reads no document field: %s", name, f.Script.Source)
			}
			for _, m := range refs {
				checkStored("runtime field "+name, m[1]+m[2])
			}
		}
	}
	if views != 1 {
		t.Errorf("want one data view, got %d", views)
	}
	check := func(where, field string) {
		t.Helper()
		if !runtime[field] {
			checkStored(where, field)
		}
	}
	for _, o := range objs {
		where := o.Type + " " + o.ID
		switch o.Type {
		case "visualization":
			var vs struct {
				Aggs []struct {
					Type   string         `json:"type"`
					Params map[string]any `json:"params"`
				} `json:"aggs"`
			}
			if !jsonAttr(t, o, func(a map[string]any) any { return a["visState"] }, &vs) || len(vs.Aggs) == 0 {
				t.Errorf("%s: no aggregations", where)
			}
			for _, a := range vs.Aggs {
				if f, ok := a.Params["field"].(string); ok {
					check(where, f)
				} else if a.Type != "count" {
					t.Errorf("%s: %s aggregation without a field", where, a.Type)
				}
			}
		case "search":
			cols, _ := o.Attributes["columns"].([]any)
			if !slices.Contains(cols, any("output")) {
				t.Errorf("%s: the recent alerts table lacks the output column", where)
			}
			for _, c := range cols {
				check(where, c.(string))
			}
			sorts, _ := o.Attributes["sort"].([]any)
			for _, s := range sorts {
				check(where, s.([]any)[0].(string))
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
