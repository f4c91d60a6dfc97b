package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/harrier-security/harrier/sensor/internal/config"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// The answers to Falco's informational flags (-V, -L, -l, --list-events,
// --version), in Falco's text form or, under json_output or
// --output-format json, in the JSON shape Falco prints, so that scripts
// written for falco keep working.

// printVersion is --version: Falco's keys where they have a Harrier
// meaning (the rules engine version is the Falco engine version whose
// rules Harrier loads).
func printVersion(w io.Writer, asJSON bool) int {
	v := buildVersion()
	if asJSON {
		enc := json.NewEncoder(w)
		_ = enc.Encode(map[string]string{
			"harrier_version":       v,
			"engine_version_semver": rules.EngineVersion,
			"engine_version":        strings.Split(rules.EngineVersion, ".")[1],
			"driver":                "harrier eBPF (CO-RE)",
		})
		return 0
	}
	fmt.Fprintf(w, "harrier-sensor %s (%s)\n", v, runtime.GOARCH)
	fmt.Fprintf(w, "Engine:        %s (Falco rules engine version Harrier implements)\n", rules.EngineVersion)
	fmt.Fprintln(w, "Driver:        harrier eBPF (CO-RE, kernel BTF)")
	return 0
}

// Falco's load result shape (falco -V under json_output):
// {"falco_load_results": [{"name", "successful", "errors": [...], "warnings": [...]}]}
// each error or warning {"code", "codedesc", "message", "context": {"locations":
// [{"item_type", "item_name", "position": {"name", "line", "column", "offset"}}], "snippet"}}.
type loadResult struct {
	Name       string     `json:"name"`
	Successful bool       `json:"successful"`
	Errors     []loadItem `json:"errors"`
	Warnings   []loadItem `json:"warnings"`
}

type loadItem struct {
	Code     string      `json:"code"`
	CodeDesc string      `json:"codedesc"`
	Message  string      `json:"message"`
	Context  loadContext `json:"context"`
}

type loadContext struct {
	Locations []loadLocation `json:"locations"`
	Snippet   string         `json:"snippet"`
}

type loadLocation struct {
	ItemType string      `json:"item_type"`
	ItemName string      `json:"item_name"`
	Position loadPostion `json:"position"`
}

type loadPostion struct {
	Name   string `json:"name"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Offset int    `json:"offset"`
}

// codeDescs describe Falco's load codes, in our words.
var codeDescs = map[string]string{
	"LOAD_ERR_FILE_READ":             "The rules file could not be read",
	"LOAD_ERR_YAML_PARSE":            "The file is not valid YAML",
	"LOAD_ERR_YAML_VALIDATE":         "The YAML does not have the structure of a rules file",
	"LOAD_ERR_COMPILE_CONDITION":     "A condition does not compile",
	"LOAD_ERR_COMPILE_OUTPUT":        "An output does not compile",
	"LOAD_ERR_VALIDATE":              "A rule, macro, list or exception is not valid",
	"LOAD_ERR_EXTENSION":             "An extension item is not valid",
	"LOAD_UNKNOWN_SOURCE":            "The rule's source is not loaded; the rule is skipped",
	"LOAD_UNSAFE_NA_CHECK":           "Comparing with <NA> is unreliable",
	"LOAD_NO_EVTTYPE":                "The condition does not limit the event types",
	"LOAD_UNKNOWN_FILTER":            "An unknown field or event type",
	"LOAD_UNUSED_MACRO":              "A macro no rule uses",
	"LOAD_UNUSED_LIST":               "A list no rule uses",
	"LOAD_UNKNOWN_ITEM":              "An item or key the loader does not know; ignored",
	"LOAD_DEPRECATED_ITEM":           "A deprecated item",
	"LOAD_WARNING_EXTENSION":         "An extension item has a problem",
	"LOAD_APPEND_NO_VALUES":          "An append or override adds nothing",
	"LOAD_EXCEPTION_NAME_NOT_UNIQUE": "Several exceptions have the same name",
	"LOAD_INVALID_MACRO_NAME":        "A macro name that is not a valid identifier",
	"LOAD_INVALID_LIST_NAME":         "A list name that is not a valid identifier",
	"LOAD_COMPILE_CONDITION":         "A condition compiles with a problem",
}

func diagItem(d rules.Diagnostic) loadItem {
	code := d.Code
	if code == "" {
		code = "LOAD_ERR_VALIDATE"
		if d.Warning {
			code = "LOAD_UNKNOWN_ITEM"
		}
	}
	typ := d.Kind
	if typ == "" {
		typ = "rules content"
	}
	// Falco's positions count lines and columns from 0.
	return loadItem{
		Code: code, CodeDesc: codeDescs[code], Message: d.Msg,
		Context: loadContext{Locations: []loadLocation{{
			ItemType: typ, ItemName: d.Name,
			Position: loadPostion{Name: d.File, Line: max(d.Line-1, 0), Column: max(d.Col-1, 0)},
		}}},
	}
}

// falcoValidate is -V: the files load together, in order (later files may
// use earlier files' macros and lists), and each gets its result.
func falcoValidate(paths []string, cfg *config.Config, asJSON bool, stdout, stderr io.Writer) int {
	m, err := rules.ParseMatching(cfg.Rules.RuleMatching)
	if err != nil {
		m = rules.MatchFirst
	}
	files, err := rules.ExpandPaths(paths)
	results := make([]loadResult, 0, len(paths))
	var diags rules.Diagnostics
	failed := false
	if err != nil {
		failed = true
		results = append(results, loadResult{Name: strings.Join(paths, ","), Errors: []loadItem{{
			Code: "LOAD_ERR_FILE_READ", CodeDesc: codeDescs["LOAD_ERR_FILE_READ"], Message: err.Error(),
			Context: loadContext{Locations: []loadLocation{}},
		}}, Warnings: []loadItem{}})
	} else {
		_, diags, err = loadRules(files, m)
		var le *rules.LoadError
		if err != nil && !errors.As(err, &le) {
			failed = true
			results = append(results, loadResult{Name: strings.Join(files, ","), Errors: []loadItem{{
				Code: "LOAD_ERR_FILE_READ", CodeDesc: codeDescs["LOAD_ERR_FILE_READ"], Message: err.Error(),
				Context: loadContext{Locations: []loadLocation{}},
			}}, Warnings: []loadItem{}})
		}
		byFile := map[string]*loadResult{}
		for _, f := range files {
			results = append(results, loadResult{Name: f, Successful: true, Errors: []loadItem{}, Warnings: []loadItem{}})
		}
		for i := range results {
			byFile[results[i].Name] = &results[i]
		}
		for _, d := range diags {
			r := byFile[d.File]
			if r == nil {
				r = &results[len(results)-1]
			}
			if d.Warning {
				r.Warnings = append(r.Warnings, diagItem(d))
			} else {
				r.Errors = append(r.Errors, diagItem(d))
				r.Successful = false
				failed = true
			}
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		_ = enc.Encode(map[string]any{"falco_load_results": results})
	} else {
		fmt.Fprintln(stdout, "Validating rules file(s):")
		for _, p := range paths {
			fmt.Fprintf(stdout, "   %s\n", p)
		}
		for _, r := range results {
			switch {
			case !r.Successful:
				fmt.Fprintf(stdout, "%s: Invalid\n", r.Name)
			case len(r.Warnings) > 0:
				fmt.Fprintf(stdout, "%s: Ok, with warnings\n", r.Name)
			default:
				fmt.Fprintf(stdout, "%s: Ok\n", r.Name)
			}
		}
		for _, d := range diags {
			fmt.Fprintln(stderr, d.String())
		}
	}
	if failed {
		return 1
	}
	return 0
}

// falcoListRules is -L (every rule) and -l RULE (one rule).
func falcoListRules(cfg *config.Config, only string, asJSON bool, stdout, stderr io.Writer) int {
	m, _ := rules.ParseMatching(cfg.Rules.RuleMatching)
	rs, _, err := loadRules(cfg.Rules.Files, m)
	if err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
	}
	type info struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Condition   string   `json:"condition"`
		Output      string   `json:"output"`
		Priority    string   `json:"priority"`
		Source      string   `json:"source"`
		Tags        []string `json:"tags"`
		Enabled     bool     `json:"enabled"`
	}
	type entry struct {
		Info    info `json:"info"`
		Details struct {
			Events []string `json:"events"`
		} `json:"details"`
	}
	var list []entry
	for _, r := range rs.Rules() {
		if only != "" && r.Name != only {
			continue
		}
		e := entry{Info: info{
			Name: r.Name, Description: strings.TrimSpace(r.Desc), Condition: r.Condition,
			Priority: r.Priority.FalcoName(), Source: r.Source, Tags: append([]string{}, r.Tags...), Enabled: r.Enabled,
		}}
		if r.Output != nil {
			e.Info.Output = r.Output.Text()
		}
		e.Details.Events = append([]string{}, r.EventTypes...)
		list = append(list, e)
	}
	if only != "" && len(list) == 0 {
		fmt.Fprintf(stderr, "harrier-sensor: no rule named %q\n", only)
		return 1
	}
	if asJSON {
		if list == nil {
			list = []entry{}
		}
		_ = json.NewEncoder(stdout).Encode(map[string]any{"rules": list, "required_engine_version": rules.EngineVersion})
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Rule\tDescription")
	fmt.Fprintln(tw, "----\t-----------")
	for _, e := range list {
		fmt.Fprintf(tw, "%s\t%s\n", e.Info.Name, strings.Join(strings.Fields(e.Info.Description), " "))
	}
	_ = tw.Flush()
	return 0
}

// listEvents is --list-events: the event types the syscall source knows.
func listEvents(w io.Writer, asJSON bool) int {
	var names []string
	for _, n := range sysevent.Names {
		if n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if asJSON {
		_ = json.NewEncoder(w).Encode(map[string]any{"events": names})
		return 0
	}
	for _, n := range names {
		fmt.Fprintln(w, n)
	}
	return 0
}
