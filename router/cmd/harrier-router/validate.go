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
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: harrier-router config validate FILE")
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
