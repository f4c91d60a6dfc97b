package main

import (
	"context"
	"fmt"
	"io"

	"github.com/harrier-security/harrier/router/internal/config"
)

func init() {
	register(command{name: "config show", summary: "print the effective configuration with secrets redacted: config show [FILE]", run: showConfig})
}

func showConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "usage: harrier-router config show [FILE]\n" +
		"Prints the effective configuration (defaults and environment applied), every secret replaced by REDACTED."
	if code, done := flagsOnly(args, usage, stdout, stderr); done {
		return code
	}
	if len(args) > 1 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	path := ""
	if len(args) == 1 {
		path = args[0]
	}
	if _, err := config.Load(path); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	out, err := config.Redacted(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	stdout.Write(out)
	return 0
}
