package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at link time by release builds and packages
// (-ldflags "-X main.version=1.2.3"); otherwise the module version.
var version string

func init() {
	register(command{name: "version", summary: "print the version", run: func(_ context.Context, _ []string, stdout, _ io.Writer) int {
		v := version
		if v == "" {
			v = "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
		}
		fmt.Fprintln(stdout, "harrierctl", v)
		return 0
	}})
}
