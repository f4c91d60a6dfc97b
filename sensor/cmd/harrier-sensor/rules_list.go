package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func init() {
	register(command{name: "rules list", summary: "list loaded rules: name, source, priority, enabled, tags, event types", run: runRulesList})
}

func runRulesList(_ context.Context, args []string, stdout, stderr io.Writer) int {
	files, asJSON, code := parseRulesArgs("list", "print JSON on stdout", args, stderr)
	if code != 0 {
		return code
	}
	rs, _, err := loadRules(files, 0)
	if err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
	}
	type row struct {
		Name       string   `json:"name"`
		Source     string   `json:"source"`
		Priority   string   `json:"priority"`
		Enabled    bool     `json:"enabled"`
		Tags       []string `json:"tags"`
		EventTypes []string `json:"event_types"` // empty: all types of the source
		Desc       string   `json:"desc"`
	}
	var rows []row
	for _, r := range rs.Rules() {
		rows = append(rows, row{r.Name, r.Source, r.Priority.FalcoName(), r.Enabled, append([]string{}, r.Tags...), append([]string{}, r.EventTypes...), strings.TrimSpace(r.Desc)})
	}
	if asJSON {
		if rows == nil {
			rows = []row{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tPRIORITY\tENABLED\tTAGS\tEVENT TYPES")
	for _, r := range rows {
		types := strings.Join(r.EventTypes, ",")
		if types == "" {
			types = "(all)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", r.Name, r.Source, r.Priority, r.Enabled, strings.Join(r.Tags, ","), types)
	}
	_ = tw.Flush()
	return 0
}
