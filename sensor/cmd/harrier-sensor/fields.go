package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

func init() {
	register(command{name: "fields", summary: "list the fields rules can use, per source (like falco --list)", run: runFields})
}

func runFields(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fields", flag.ContinueOnError)
	fs.SetOutput(stderr)
	source := fs.String("source", "", "only this source ("+strings.Join(sources.Names(), ", ")+")")
	asJSON := fs.Bool("json", false, "print JSON on stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	regs := sources.Registries()
	names := sources.Names()
	if *source != "" {
		if regs[*source] == nil {
			fmt.Fprintf(stderr, "harrier-sensor: unknown source %q (have %s)\n", *source, strings.Join(names, ", "))
			return 2
		}
		names = []string{*source}
	}
	type jsonField struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		List   bool   `json:"is_list"`
		Arg    string `json:"arg"` // "", "optional" or "required"
		ArgFor string `json:"arg_kind,omitempty"`
		Desc   string `json:"desc"`
	}
	type jsonSource struct {
		Source string      `json:"source"`
		Fields []jsonField `json:"fields"`
	}
	var out []jsonSource
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for i, n := range names {
		src := jsonSource{Source: n}
		if !*asJSON {
			if i > 0 {
				fmt.Fprintln(tw)
			}
			fmt.Fprintf(tw, "Source: %s\n\n", n)
		}
		for _, d := range regs[n].Fields() {
			f := jsonField{Name: d.Name, Type: d.Kind.String(), List: d.List, Desc: d.Desc}
			switch d.Arg {
			case fields.ArgOptional:
				f.Arg = "optional"
			case fields.ArgRequired:
				f.Arg = "required"
			}
			if d.Arg != fields.ArgNone {
				f.ArgFor = "key"
				if d.ArgKind == fields.ArgIndex {
					f.ArgFor = "index"
				}
			}
			src.Fields = append(src.Fields, f)
			if !*asJSON {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", displayName(d), typeName(d), d.Desc)
			}
		}
		out = append(out, src)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return 0
	}
	_ = tw.Flush()
	return 0
}

// displayName shows how a field takes its argument: ka.uri.param[KEY],
// ka.req.pod.containers.image[INDEX] (optional arguments in brackets).
func displayName(d *fields.Def) string {
	arg := "KEY"
	if d.ArgKind == fields.ArgIndex {
		arg = "INDEX"
	}
	switch d.Arg {
	case fields.ArgRequired:
		return d.Name + "[" + arg + "]"
	case fields.ArgOptional:
		return d.Name + "[" + arg + "]?"
	}
	return d.Name
}

func typeName(d *fields.Def) string {
	if d.List {
		return d.Kind.String() + " (list)"
	}
	return d.Kind.String()
}
