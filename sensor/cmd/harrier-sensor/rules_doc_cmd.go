package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/tools/ruledoc"
)

func init() {
	register(command{
		name:    "rules doc",
		summary: "print Markdown reference documentation of rules files",
		run:     runRulesDoc,
	})
}

func runRulesDoc(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules doc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files ruleTestRulesFlag
	fs.Var(&files, "r", "rules file to document, repeatable, in load order")
	root := fs.String("root", ".", "directory the rules files are named relative to in the document")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrier-sensor rules doc -r RULES [-r RULES ...] [-root DIR] > rules.md")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(files) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	display := make([]string, len(files))
	cmd := []string{"harrier-sensor rules doc"}
	for i, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			fmt.Fprintf(stderr, "rules doc: %v\n", err)
			return 1
		}
		rootAbs, _ := filepath.Abs(*root)
		display[i] = ruledoc.DisplayName(rootAbs, abs)
		cmd = append(cmd, "-r "+display[i])
	}
	doc, err := ruledoc.Load(files, display, rules.Options{Registries: sources.Registries()})
	if err != nil {
		fmt.Fprintf(stderr, "rules doc: %v\n", err)
		return 1
	}
	if err := doc.Write(stdout, strings.Join(cmd, " ")); err != nil {
		fmt.Fprintf(stderr, "rules doc: %v\n", err)
		return 1
	}
	return 0
}
