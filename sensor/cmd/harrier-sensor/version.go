package main

import (
	"context"
	"fmt"
	"io"

	"github.com/harrier-security/harrier/proto/buildinfo"
)

func init() {
	register(command{name: "version", summary: "print the version (also --version)", run: runVersion})
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, buildinfo.String("harrier-sensor"))
	return 0
}
