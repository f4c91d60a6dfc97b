package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/tools/ruletest"
)

func init() {
	register(command{
		name:    "rules test",
		summary: "run rule test files: events and the rules that must (not) fire",
		run:     runRulesTest,
	})
}

// ruleTestRulesFlag collects repeated -r flags.
type ruleTestRulesFlag []string

func (f *ruleTestRulesFlag) String() string     { return strings.Join(*f, ",") }
func (f *ruleTestRulesFlag) Set(v string) error { *f = append(*f, v); return nil }

func runRulesTest(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rulesFiles ruleTestRulesFlag
	fs.Var(&rulesFiles, "r", "rules file to load, repeatable (default: the rules files named by each test file)")
	verbose := fs.Bool("v", false, "print passing cases too")
	asJSON := fs.Bool("json", false, "print one JSON object per case instead of the text report")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrier-sensor rules test [-r RULES ...] [-v] [-json] TESTS ...")
		fmt.Fprintln(stderr, "\nTESTS are rule test files or directories of them (*.yaml); see docs/rule-tests.md.")
		fmt.Fprintln(stderr, "Exit status: 0 when every case passed or was skipped, 1 on a failure or error, 2 on bad usage.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	paths, err := ruleTestPaths(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "rules test: %v\n", err)
		return 2
	}
	report := &ruletest.Report{}
	runners := map[string]*ruletest.Runner{} // by rules file list
	for _, p := range paths {
		f, err := ruletest.ParseFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "rules test: %v\n", err)
			return 1
		}
		files := []string(rulesFiles)
		if len(files) == 0 {
			files = f.Rules
		}
		if len(files) == 0 {
			fmt.Fprintf(stderr, "rules test: %s names no rules files; give -r RULES\n", p)
			return 2
		}
		key := strings.Join(files, "\x00")
		runner := runners[key]
		if runner == nil {
			rs, diags, err := ruletest.LoadRules(files)
			for _, d := range diags.Warnings() {
				fmt.Fprintln(stderr, d)
			}
			if err != nil {
				fmt.Fprintf(stderr, "rules test: %v\n", err)
				return 1
			}
			if runner, err = ruletest.NewRunner(rs); err != nil {
				fmt.Fprintf(stderr, "rules test: %v\n", err)
				return 1
			}
			runners[key] = runner
		}
		report.Results = append(report.Results, runner.RunFile(f)...)
	}
	if *asJSON {
		if err := report.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "rules test: %v\n", err)
			return 1
		}
	} else {
		report.Write(stdout, *verbose)
	}
	if !report.OK() {
		return 1
	}
	return 0
}

// ruleTestPaths expands directories into the *.yaml/*.yml files in them.
func ruleTestPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		found, err := rules.ExpandPaths([]string{a})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml test files", a)
		}
		out = append(out, found...)
	}
	return out, nil
}
