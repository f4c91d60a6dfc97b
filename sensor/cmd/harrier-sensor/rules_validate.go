package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
)

func init() {
	register(command{name: "rules validate", summary: "check rules files; errors as FILE:LINE:COL: rule \"NAME\": message", run: runRulesValidate})
}

// fileList is a repeatable -r flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// loadRules loads the rules files named by -r flags with the sources of
// this build.
func loadRules(paths []string, m rules.Matching) (*rules.Ruleset, rules.Diagnostics, error) {
	files, err := rules.ExpandPaths(paths)
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, errors.New("no rules files (give -r FILE or -r DIR)")
	}
	return rules.LoadFiles(files, rules.Options{Registries: sources.Registries(), Matching: m})
}

type jsonDiagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Kind     string `json:"kind,omitempty"`
	Name     string `json:"name,omitempty"`
	Message  string `json:"message"`
}

// parseRulesArgs parses the flags "rules NAME" shares: rules files as -r
// (repeatable) or arguments, and --json (jsonHelp). code is 2 on a usage
// error (reported on stderr), else 0.
func parseRulesArgs(name, jsonHelp string, args []string, stderr io.Writer) (files []string, asJSON bool, code int) {
	fs := flag.NewFlagSet("rules "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fl fileList
	fs.Var(&fl, "r", "rules file or directory (repeatable, loaded in order)")
	fs.BoolVar(&asJSON, "json", false, jsonHelp)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: harrier-sensor rules %s -r FILE [-r FILE ...] [--json]\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, false, 2
	}
	if files = append(fl, fs.Args()...); len(files) == 0 {
		fs.Usage()
		return nil, false, 2
	}
	return files, asJSON, 0
}

func runRulesValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	files, asJSON, code := parseRulesArgs("validate", "print the result as JSON on stdout", args, stderr)
	if code != 0 {
		return code
	}
	rs, diags, err := loadRules(files, rules.MatchFirst)
	var le *rules.LoadError
	if err != nil && !errors.As(err, &le) {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
	}
	if asJSON {
		res := struct {
			Valid       bool             `json:"valid"`
			Rules       int              `json:"rules"`
			Version     string           `json:"ruleset_version,omitempty"`
			Diagnostics []jsonDiagnostic `json:"diagnostics"`
		}{Valid: err == nil, Diagnostics: []jsonDiagnostic{}}
		if rs != nil {
			res.Rules, res.Version = len(rs.Rules()), rs.Version()
		}
		for _, d := range diags {
			sev := "error"
			if d.Warning {
				sev = "warning"
			}
			res.Diagnostics = append(res.Diagnostics, jsonDiagnostic{File: d.File, Line: d.Line, Column: d.Col, Severity: sev, Kind: d.Kind, Name: d.Name, Message: d.Msg})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		for _, d := range diags {
			fmt.Fprintln(stderr, d.String())
		}
		if err == nil {
			fmt.Fprintf(stdout, "ok: %d rules compiled, %d warnings\n", len(rs.Rules()), len(diags.Warnings()))
		}
	}
	if err != nil {
		if !asJSON {
			fmt.Fprintf(stderr, "%d errors\n", len(diags.Errors()))
		}
		return 1
	}
	return 0
}
