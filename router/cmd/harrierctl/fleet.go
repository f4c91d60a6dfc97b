package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func init() {
	register(command{name: "rules push", summary: "validate rules files (DIR|FILE...) and roll them out to every opted-in sensor (admin token)", run: rulesPush})
	register(command{name: "rules rollback", summary: "restore an earlier central ruleset on the fleet (admin token)", run: rulesRollback})
	register(command{name: "rules status", summary: "the central ruleset and what each sensor runs", run: rulesStatus})
	register(command{name: "sensors", summary: "connected and recently seen sensors with their state", run: sensorsList})
}

// ruleFiles expands DIR|FILE arguments: a directory's *.yaml and *.yml by
// name, files as given. Files keep their base names, which must differ.
func ruleFiles(args []string) ([]*harrierv1.RuleFile, error) {
	var paths []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			paths = append(paths, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, e := range ents {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			paths = append(paths, filepath.Join(a, n))
		}
	}
	if len(paths) == 0 {
		return nil, errors.New("no rules files (*.yaml, *.yml) in " + strings.Join(args, ", "))
	}
	seen := map[string]string{}
	out := make([]*harrierv1.RuleFile, 0, len(paths))
	for _, p := range paths {
		base := filepath.Base(p)
		if prev, dup := seen[base]; dup {
			return nil, fmt.Errorf("%s and %s have the same name; sensors load files by name", prev, p)
		}
		seen[base] = p
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, &harrierv1.RuleFile{Name: base, Content: data})
	}
	return out, nil
}

// currentUser names who pushes, for the router's audit log: $USER as the
// shell has it (a shared admin account names the person who logged in),
// else the account. The token's fingerprint is logged beside it.
func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// rpcError prints a gRPC error's message (the router's diagnostics) as is.
func rpcError(stderr io.Writer, err error) int {
	if s, ok := status.FromError(err); ok {
		fmt.Fprintf(stderr, "harrierctl: %s: %s\n", s.Code(), s.Message())
	} else {
		fmt.Fprintln(stderr, "harrierctl:", err)
	}
	return 1
}

func rulesPush(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("rules push", stderr)
	comment := fs.String("m", "", "comment recorded with the revision (why)")
	format := fs.String("o", "text", "text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrierctl rules push [flags] DIR|FILE...")
		fmt.Fprintln(stderr, "The router validates the files with the sensor's rules engine (errors as FILE:LINE:COL),")
		fmt.Fprintln(stderr, "stores them as the next revision and sends them to every sensor with rules.central: true.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	files, err := ruleFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "harrierctl:", err)
		return 1
	}
	var resp *harrierv1.PushRulesResponse
	if err := cf.call(ctx, time.Minute, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = harrierv1.NewFleetAdminClient(conn).PushRules(ctx, &harrierv1.PushRulesRequest{Files: files, Comment: *comment, User: currentUser()})
		return err
	}); err != nil {
		return rpcError(stderr, err)
	}
	return printPush(stdout, stderr, resp, *format)
}

func printPush(stdout, stderr io.Writer, resp *harrierv1.PushRulesResponse, format string) int {
	for _, w := range resp.GetWarnings() {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if format == "json" {
		return printJSON(stdout, resp)
	}
	rs := resp.GetRuleset()
	fmt.Fprintf(stdout, "revision %d (ruleset %s, %d rules, %d files) sent to %d sensors\n",
		rs.GetRevision(), rs.GetDigest(), rs.GetRules(), len(rs.GetFiles()), resp.GetSensors())
	return 0
}

func printJSON(w io.Writer, m proto.Message) int {
	b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		fmt.Fprintln(w, err)
		return 1
	}
	fmt.Fprintln(w, string(b))
	return 0
}

func rulesRollback(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("rules rollback", stderr)
	to := fs.Uint64("to", 0, "revision to restore (default: the one before the current)")
	comment := fs.String("m", "", "comment recorded with the revision")
	format := fs.String("o", "text", "text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrierctl rules rollback [--to REVISION] [flags]")
		fmt.Fprintln(stderr, "Stores a new revision with an earlier revision's files and sends it to the fleet.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var resp *harrierv1.PushRulesResponse
	if err := cf.call(ctx, time.Minute, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = harrierv1.NewFleetAdminClient(conn).RollbackRules(ctx, &harrierv1.RollbackRulesRequest{ToRevision: *to, Comment: *comment, User: currentUser()})
		return err
	}); err != nil {
		return rpcError(stderr, err)
	}
	return printPush(stdout, stderr, resp, *format)
}

func rulesStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("rules status", stderr)
	format := fs.String("o", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var resp *harrierv1.RulesStatusResponse
	if err := cf.call(ctx, 30*time.Second, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = harrierv1.NewFleetAdminClient(conn).RulesStatus(ctx, &harrierv1.RulesStatusRequest{})
		return err
	}); err != nil {
		return rpcError(stderr, err)
	}
	if *format == "json" {
		return printJSON(stdout, resp)
	}
	if cur := resp.GetCurrent(); cur != nil {
		fmt.Fprintf(stdout, "central ruleset: revision %d, ruleset %s, %d rules, pushed %s by %s",
			cur.GetRevision(), cur.GetDigest(), cur.GetRules(), cur.GetCreated().AsTime().UTC().Format(time.RFC3339), cur.GetAuthor())
		if cur.GetComment() != "" {
			fmt.Fprintf(stdout, " (%s)", cur.GetComment())
		}
		fmt.Fprintln(stdout)
	} else {
		fmt.Fprintln(stdout, "central ruleset: none pushed")
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SENSOR\tHOSTNAME\tVERSION\tCENTRAL\tREVISION\tRULESET\tSINCE\tCONNECTED\tLAST ERROR")
	for _, s := range resp.GetSensors() {
		r := s.GetReport()
		rev := "local"
		if r.GetRulesetRevision() > 0 {
			rev = fmt.Sprint(r.GetRulesetRevision())
		}
		since := "-"
		if r.GetRulesetSince() != nil {
			since = r.GetRulesetSince().AsTime().UTC().Format(time.RFC3339)
		}
		lastErr := r.GetLastError()
		if lastErr != "" {
			lastErr = fmt.Sprintf("revision %d refused: %s", r.GetRefusedRevision(), strings.ReplaceAll(lastErr, "\n", " "))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\t%v\t%s\n", r.GetSensorId(), r.GetHostname(), r.GetSensorVersion(),
			r.GetCentralRules(), rev, r.GetRulesetVersion(), since, s.GetConnected(), lastErr)
	}
	_ = tw.Flush()
	return 0
}

func sensorsList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("sensors", stderr)
	format := fs.String("o", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var resp *harrierv1.ListSensorsResponse
	if err := cf.call(ctx, 30*time.Second, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = harrierv1.NewFleetAdminClient(conn).ListSensors(ctx, &harrierv1.ListSensorsRequest{})
		return err
	}); err != nil {
		return rpcError(stderr, err)
	}
	if *format == "json" {
		return printJSON(stdout, resp)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SENSOR\tHOSTNAME\tVERSION\tREVISION\tRULESET\tEVENTS/S\tDROPS\tSPOOL\tSTATE\tLAST SEEN")
	now := time.Now()
	for _, s := range resp.GetSensors() {
		r := s.GetReport()
		rev := "local"
		if r.GetRulesetRevision() > 0 {
			rev = fmt.Sprint(r.GetRulesetRevision())
		}
		state := "connected"
		if !s.GetConnected() {
			state = "gone"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f\t%d\t%d\t%s\t%s ago\n", r.GetSensorId(), r.GetHostname(), r.GetSensorVersion(),
			rev, r.GetRulesetVersion(), r.GetEventsPerSecond(), r.GetDrops(), r.GetSpoolDepth(), state,
			now.Sub(s.GetLastSeen().AsTime()).Round(time.Second))
	}
	_ = tw.Flush()
	return 0
}
