package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func init() {
	register(command{name: "subscribe", summary: "print the live alert stream, filtered", run: subscribe})
}

type multi []string

func (m *multi) String() string { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}

func subscribe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("subscribe", stderr)
	var rules, sources, tags, hosts multi
	minP := fs.String("min-priority", "", "only alerts at least this severe (emergency ... debug)")
	fs.Var(&rules, "rule", "only this rule (repeatable)")
	fs.Var(&sources, "source", "only this source, e.g. syscall, k8s_audit (repeatable)")
	fs.Var(&tags, "tag", "only alerts carrying this tag (repeatable; any matches)")
	fs.Var(&hosts, "host", "only this hostname (repeatable)")
	cond := fs.String("condition", "", `only alerts matching this condition in the rules' language, e.g. 'k8s.ns.name startswith prod- and tags in (shell)'`)
	replay := fs.Uint("replay", 0, "first replay up to N recent stored alerts")
	since := fs.Duration("since", 0, "first replay stored alerts newer than this (e.g. 10m)")
	outFmt := fs.String("o", "text", "output format: text or json (Falco JSON lines)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *outFmt != "text" && *outFmt != "json" {
		fmt.Fprintln(stderr, "harrierctl: -o must be text or json")
		return 2
	}
	req := &harrierv1.SubscribeRequest{
		Filter:     &harrierv1.AlertFilter{Rules: rules, Sources: sources, Tags: tags, Hostnames: hosts, Condition: *cond},
		ReplayLast: uint32(*replay),
	}
	if *minP != "" {
		p, err := harrierv1.ParsePriority(*minP)
		if err != nil {
			fmt.Fprintln(stderr, "harrierctl: --min-priority:", err)
			return 2
		}
		req.Filter.MinPriority = p
	}
	if *since > 0 {
		req.ReplaySince = timestamppb.New(time.Now().Add(-*since))
	}
	conn, err := cf.dial()
	if err != nil {
		fmt.Fprintln(stderr, "harrierctl:", err)
		return 1
	}
	defer conn.Close()
	stream, err := harrierv1.NewSubscriptionClient(conn).Subscribe(ctx, req)
	if err != nil {
		fmt.Fprintln(stderr, "harrierctl:", err)
		return 1
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil || status.Code(err) == codes.Canceled {
				return 0
			}
			fmt.Fprintln(stderr, "harrierctl:", err)
			return 1
		}
		switch ev := resp.GetEvent().(type) {
		case *harrierv1.SubscribeResponse_Missed:
			fmt.Fprintf(stderr, "harrierctl: missed %d alerts (this client fell behind)\n", ev.Missed.GetCount())
		case *harrierv1.SubscribeResponse_Alert:
			printAlert(stdout, ev.Alert, *outFmt)
		}
	}
}

func printAlert(w io.Writer, a *harrierv1.Alert, format string) {
	if format == "json" {
		b, err := falcojson.Marshal(a)
		if err == nil {
			fmt.Fprintf(w, "%s\n", b)
		}
		return
	}
	// The sensor's and Falco's outputs carry "<time>: <Priority> " already.
	fmt.Fprintf(w, "%s (rule=%q host=%s source=%s)\n", falcojson.TextLine(a), a.GetRule(), a.GetHostname(), a.GetSource())
}
