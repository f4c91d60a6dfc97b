package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func init() {
	register(command{name: "deadletters list", summary: "list alerts outputs refused permanently", run: deadLettersList})
	register(command{name: "deadletters replay", summary: "deliver dead letters again (--output NAME or all)", run: deadLettersReplay})
}

func deadLettersList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("deadletters list", stderr)
	out := fs.String("output", "", "only this output (e.g. webhook.soc)")
	limit := fs.Uint("limit", 100, "at most this many")
	format := fs.String("o", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var resp *harrierv1.ListDeadLettersResponse
	if err := cf.call(ctx, 30*time.Second, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = harrierv1.NewDeadLettersClient(conn).List(ctx, &harrierv1.ListDeadLettersRequest{Output: *out, Limit: uint32(*limit)})
		return err
	}); err != nil {
		fmt.Fprintln(stderr, "harrierctl:", err)
		return 1
	}
	for _, l := range resp.GetDeadLetters() {
		if *format == "json" {
			b, _ := falcojson.Marshal(l.GetAlert())
			fmt.Fprintf(stdout, "{\"output\":%q,\"reason\":%q,\"time\":%q,\"alert\":%s}\n", l.GetOutput(), l.GetReason(),
				l.GetTime().AsTime().UTC().Format(time.RFC3339Nano), b)
			continue
		}
		fmt.Fprintf(stdout, "%s  %-20s %s  rule=%q  reason: %s\n", l.GetTime().AsTime().UTC().Format(time.RFC3339),
			l.GetOutput(), l.GetAlert().GetId(), l.GetAlert().GetRule(), l.GetReason())
	}
	fmt.Fprintf(stderr, "%d of %d dead letters shown\n", len(resp.GetDeadLetters()), resp.GetTotal())
	return 0
}

func deadLettersReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("deadletters replay", stderr)
	out := fs.String("output", "", "only this output (default: every output)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var resp *harrierv1.ReplayDeadLettersResponse
	if err := cf.call(ctx, 0, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = harrierv1.NewDeadLettersClient(conn).Replay(ctx, &harrierv1.ReplayDeadLettersRequest{Output: *out})
		return err
	}); err != nil {
		fmt.Fprintln(stderr, "harrierctl:", err)
		return 1
	}
	fmt.Fprintf(stdout, "replayed %d, failed again %d\n", resp.GetReplayed(), resp.GetFailed())
	for _, s := range resp.GetSkippedOutputs() {
		fmt.Fprintf(stdout, "skipped %s: output not configured\n", s)
	}
	if resp.GetFailed() > 0 {
		return 1
	}
	return 0
}
