package main

import (
	"context"
	"fmt"
	"io"

	"github.com/harrier-security/harrier/router/internal/config"
)

func init() {
	register(command{name: "config validate", summary: "check a configuration file offline: config validate FILE", run: validateConfig})
}

func validateConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "usage: harrier-router config validate FILE\n" +
		"Checks a configuration file offline (keys, values, outputs) and lists its outputs; exit 1 when invalid."
	if code, done := flagsOnly(args, usage, stdout, stderr); done {
		return code
	}
	if len(args) != 1 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", args[0])
	if cfg.DefaultOutputs {
		fmt.Fprintln(stdout, "no outputs configured: the embedded defaults apply")
	}
	for _, s := range cfg.Summaries() {
		min := s.MinimumPriority
		if min == "" {
			min = "any"
		}
		fmt.Fprintf(stdout, "  output %-24s %-14s minimumpriority=%-9s %s\n", s.Name, s.Kind, min, s.Target)
	}
	return 0
}

// flagsOnly handles the arguments of a command that takes no flags: -h or
// --help prints usage (exit 0), another flag is an error (exit 2) rather
// than a file name.
func flagsOnly(args []string, usage string, stdout, stderr io.Writer) (code int, done bool) {
	for _, a := range args {
		switch {
		case a == "-h" || a == "-help" || a == "--help":
			fmt.Fprintln(stdout, usage)
			return 0, true
		case len(a) > 1 && a[0] == '-':
			fmt.Fprintf(stderr, "unknown flag %s\n%s\n", a, usage)
			return 2, true
		}
	}
	return 0, false
}
