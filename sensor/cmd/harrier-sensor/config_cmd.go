package main

import (
	"context"
	"fmt"
	"io"

	"github.com/harrier-security/harrier/sensor/internal/config"
)

func init() {
	register(command{name: "config convert", summary: "print the Harrier configuration equivalent to a falco.yaml", run: runConfigConvert})
}

func runConfigConvert(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: harrier-sensor config convert FILE")
		fmt.Fprintln(stderr, "Prints the Harrier sensor configuration meaning what FILE (a falco.yaml, with its config_files) means; warnings name the keys Harrier ignores.")
		return 2
	}
	out, warnings, err := config.Convert(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	_, _ = stdout.Write(out)
	return 0
}
