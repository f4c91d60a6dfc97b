package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"

	"github.com/harrier-security/harrier/proto/falcojson"
	"github.com/harrier-security/harrier/sensor/internal/engine/alertfmt"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/k8saudit"
	"github.com/harrier-security/harrier/sensor/internal/syscall/capturefile"
	"github.com/harrier-security/harrier/sensor/internal/syscall/scapfile"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func init() {
	register(command{name: "replay", summary: "evaluate recorded events (k8s audit files, capture files); one JSON alert per line", run: runReplay})
}

// inputFormat is one kind of recorded events replay reads. detect looks at
// the first bytes of the input.
type inputFormat struct {
	name   string
	source string // the event source its events belong to
	detect func(head []byte) bool
	read   func(r io.Reader, emit func(fields.Event) error) error
}

var inputFormats = []inputFormat{
	{
		name: "Harrier capture file", source: "syscall",
		detect: capturefile.IsCapture,
		read: func(r io.Reader, emit func(fields.Event) error) error {
			cr, err := capturefile.NewReader(r)
			if err != nil {
				return err
			}
			return emitAll(cr.Next, emit)
		},
	},
	{
		name: "Falco/sysdig capture (.scap)", source: "syscall",
		detect: scapfile.IsScap,
		read: func(r io.Reader, emit func(fields.Event) error) error {
			sr, err := scapfile.NewReader(r)
			if err != nil {
				return err
			}
			return emitAll(sr.Next, emit)
		},
	},
	{
		name: "Kubernetes audit events (JSON)", source: k8saudit.Source,
		detect: func(head []byte) bool {
			head = bytes.TrimLeft(head, " \t\r\n")
			return len(head) > 0 && (head[0] == '{' || head[0] == '[')
		},
		read: func(r io.Reader, emit func(fields.Event) error) error {
			return k8saudit.Decode(r, func(e *k8saudit.Event) error { return emit(e) })
		},
	},
}

// emitAll passes every event next reads to emit, until io.EOF.
func emitAll(next func() (*sysevent.Event, error), emit func(fields.Event) error) error {
	for {
		ev, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "r", "rules file or directory (repeatable, loaded in order)")
	matching := fs.String("rule-matching", "first", "first (Falco's default) or all")
	minPrio := fs.String("priority", "", "minimum rule priority to run (e.g. warning)")
	hostname := fs.String("hostname", "", "hostname to put in alerts (default: this host's)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrier-sensor replay -r RULES [-r RULES ...] [flags] INPUT ...")
		fmt.Fprintln(stderr, "INPUT is a Kubernetes audit file (one Event per line, or an EventList), a Falco/sysdig .scap capture or a Harrier capture file; - reads stdin.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(files) == 0 || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	m, err := rules.ParseMatching(*matching)
	if err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 2
	}
	rs, _, err := loadRules(files, m)
	if err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
	}
	if *minPrio != "" {
		p, err := harrierv1.ParsePriority(*minPrio)
		if err != nil {
			fmt.Fprintf(stderr, "harrier-sensor: --priority: %v\n", err)
			return 2
		}
		if rs, err = rs.Select(rules.Selection{MinPriority: p}); err != nil {
			fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
			return 1
		}
	}
	if *hostname == "" {
		*hostname, _ = os.Hostname()
	}
	b := &alertfmt.Builder{Hostname: *hostname, RulesetVersion: rs.Version()}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	regs := sources.Registries()
	events, alerts := 0, 0
	for _, in := range fs.Args() {
		n, a, err := replayInput(ctx, in, rs, b, regs, out)
		events, alerts = events+n, alerts+a
		if err != nil {
			out.Flush()
			fmt.Fprintf(stderr, "harrier-sensor: %s: %v\n", in, err)
			return 1
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "replayed %d events, %d alerts\n", events, alerts)
	return 0
}

func replayInput(ctx context.Context, path string, rs *rules.Ruleset, b *alertfmt.Builder, regs map[string]*fields.Registry, out io.Writer) (events, alerts int, err error) {
	events, err = replayEvents(ctx, path, regs, func(ev fields.Event) error {
		var werr error
		rs.Evaluate(ev, func(rule *rules.Rule) {
			js, err := falcojson.Marshal(b.Alert(rule.AlertRule(), ev))
			if err != nil {
				werr = err
				return
			}
			alerts++
			js = append(js, '\n')
			if _, err := out.Write(js); err != nil {
				werr = err
			}
		})
		return werr
	})
	return events, alerts, err
}

// replayEvents reads the recorded events of path ("-": stdin), whatever
// its format, and hands each to emit; it returns how many it read.
func replayEvents(ctx context.Context, path string, regs map[string]*fields.Registry, emit func(fields.Event) error) (events int, err error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(512)
	var format *inputFormat
	for i := range inputFormats {
		if inputFormats[i].detect(head) {
			format = &inputFormats[i]
			break
		}
	}
	switch {
	case format == nil:
		return 0, errors.New("unknown input format (want a Kubernetes audit JSON file, a Falco/sysdig .scap capture or a Harrier capture file)")
	case regs[format.source] == nil:
		return 0, fmt.Errorf("%s: this build has no %s source", format.name, format.source)
	}
	err = format.read(br, func(ev fields.Event) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		events++
		return emit(ev)
	})
	return events, err
}
