// Command harrier-sensor is Harrier's node sensor: it captures syscalls with
// eBPF, serves the Kubernetes audit webhook, evaluates Falco-compatible rules
// and streams alerts to the router. Each subcommand lives in its own file and
// registers itself in commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. run gets the arguments after the command's
// name (for "rules validate", after "validate") and returns the exit code.
type command struct {
	name    string // e.g. "run", "rules validate"
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// dispatch picks the longest registered command name that prefixes args.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	for n := min(2, len(args)); n >= 1; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c.run(ctx, args[n:], stdout, stderr)
		}
	}
	// Falco's command line: harrier-sensor -c falco.yaml -r rules.yaml ...
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" && args[0] != "-help" {
		return runSensor(ctx, args, stdout, stderr)
	}
	if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "--help" {
		fmt.Fprintf(stderr, "harrier-sensor: unknown command %q\n\n", strings.Join(args, " "))
		usage(stderr)
		return 2
	}
	usage(stdout)
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: harrier-sensor COMMAND [flags]")
	fmt.Fprintln(w, "       harrier-sensor [Falco's flags: -c falco.yaml -r RULES -o key=value -V -L -l RULE --list ...] (as run)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, commands[n].summary)
	}
}
