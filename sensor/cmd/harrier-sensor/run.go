package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/harrier-security/harrier/proto/redact"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"

	"github.com/harrier-security/harrier/sensor/internal/config"
	"github.com/harrier-security/harrier/sensor/internal/daemon"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/fields"
)

func init() {
	register(command{name: "run", summary: "run the sensor (takes Falco's flags too: -c falco.yaml -r RULES -o key=value ...)", run: runSensor})
}

type overrideList []string

func (o *overrideList) String() string     { return strings.Join(*o, " ") }
func (o *overrideList) Set(v string) error { *o = append(*o, v); return nil }

// runFlags are `run`'s flags, which are Falco's command line (falco -c ...
// works as harrier-sensor -c ...) plus Harrier's --check.
type runFlags struct {
	fs         *flag.FlagSet
	file       string
	rules      fileList
	overrides  overrideList
	check      bool
	validate   fileList
	listRules  bool
	describe   string
	list       *string // nil: not given; "": every source
	listEvents bool
	version    bool
	seconds    int
	capture    string
	disable    stringList
	enable     stringList
	unbuffered bool
	format     string
	pidfile    string
}

func newRunFlags(stderr io.Writer) *runFlags {
	f := &runFlags{fs: flag.NewFlagSet("run", flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(stderr)
	fs.StringVar(&f.file, "c", "", "configuration file: Harrier's, or Falco's falco.yaml (default "+config.DefaultFile+", else "+config.FalcoDefaultFile+", when one exists)")
	fs.Var(&f.rules, "r", "rules file or directory, replacing the configured ones (repeatable, loaded in order)")
	fs.Var(&f.overrides, "o", "set a configuration key, Harrier's or Falco's: -o json_output=true, -o outputs.grpc.address=router:2802 (repeatable)")
	fs.Var(&f.overrides, "option", "same as -o")
	fs.BoolVar(&f.check, "check", false, "check the configuration and load the rules, then exit (opens no port, spool or BPF program)")
	fs.BoolVar(&f.check, "dry-run", false, "same as --check (Falco's --dry-run)")
	fs.Var(&f.validate, "V", "validate a rules file and exit (repeatable; JSON with -o json_output=true or --output-format json)")
	fs.Var(&f.validate, "validate", "same as -V")
	fs.BoolVar(&f.listRules, "L", false, "list the rules' names and descriptions and exit")
	fs.StringVar(&f.describe, "l", "", "show the rule named RULE and exit")
	fs.BoolVar(&f.listEvents, "list-events", false, "list the event types the syscall source knows and exit")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.IntVar(&f.seconds, "M", 0, "stop after this many seconds")
	fs.StringVar(&f.capture, "e", "", "read events from this capture file (Falco/sysdig .scap or Harrier's) instead of the live sources, then exit")
	fs.Var(&f.disable, "disable-source", "disable an event source (syscall, k8s_audit; repeatable)")
	fs.Var(&f.enable, "enable-source", "enable only these event sources (repeatable)")
	fs.BoolVar(&f.unbuffered, "U", false, "write each alert at once (buffered_outputs=false)")
	fs.BoolVar(&f.unbuffered, "unbuffered", false, "same as -U")
	fs.StringVar(&f.format, "output-format", "", "text or json, for -V, -L, -l, --list and --version (default: json when json_output is set)")
	fs.StringVar(&f.pidfile, "pidfile", "", "write the process id to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrier-sensor [run] [-c FILE] [-r RULES ...] [-o key=value ...] [flags]")
		fmt.Fprintln(stderr, "Falco's command line works as it is; every key can also be set from the environment:")
		fmt.Fprintln(stderr, "HARRIER_<KEY> with _ for dots (HARRIER_LOG_LEVEL=debug, HARRIER_JSON_OUTPUT=true).")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "  --list[=SOURCE]\n    \tlist the fields rules can use (of SOURCE only) and exit")
	}
	return f
}

// parse parses args; --list takes an optional =SOURCE, which the flag
// package cannot express, so it is taken out first.
func (f *runFlags) parse(args []string) error {
	var rest []string
	for _, a := range args {
		switch {
		case a == "--list" || a == "-list":
			f.list = new(string)
		case strings.HasPrefix(a, "--list=") || strings.HasPrefix(a, "-list="):
			_, v, _ := strings.Cut(a, "=")
			f.list = &v
		default:
			rest = append(rest, a)
		}
	}
	if err := f.fs.Parse(rest); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", f.fs.Arg(0))
	}
	if f.format != "" && f.format != "text" && f.format != "json" {
		return fmt.Errorf("--output-format %q: want text or json", f.format)
	}
	return nil
}

// sourceOverrides turns --enable-source/--disable-source into keys.
func (f *runFlags) sourceOverrides() ([]string, error) {
	keys := map[string]string{"syscall": "sources.syscall.enabled", "k8s_audit": "sources.k8s_audit.enabled"}
	known := slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	})
	for _, s := range append(slices.Clone(f.enable), f.disable...) {
		if keys[s] == "" {
			return nil, fmt.Errorf("unknown event source %q (have %s)", s, strings.Join(known, ", "))
		}
	}
	var out []string
	if len(f.enable) > 0 {
		for name, key := range keys {
			out = append(out, fmt.Sprintf("%s=%v", key, slices.Contains(f.enable, name)))
		}
	}
	for _, s := range f.disable {
		if slices.Contains(f.enable, s) {
			return nil, fmt.Errorf("source %q both enabled and disabled", s)
		}
		out = append(out, keys[s]+"=false")
	}
	return out, nil
}

func runSensor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newRunFlags(stderr)
	if err := f.parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		}
		return 2
	}
	if f.version && len(f.overrides) == 0 && f.file == "" {
		return printVersion(stdout, f.format == "json")
	}
	srcKeys, err := f.sourceOverrides()
	if err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 2
	}
	overrides := append(slices.Clone([]string(f.overrides)), srcKeys...)
	if f.unbuffered {
		overrides = append(overrides, "outputs.buffered=false")
	}
	if f.capture != "" {
		// The capture replaces the live syscall source; the rules stay.
		overrides = append(overrides, "sources.k8s_audit.enabled=false", "sources.syscall.enabled=true")
	}
	rulesFiles := f.rules
	if len(f.validate) > 0 && len(rulesFiles) == 0 {
		rulesFiles = f.validate // -V needs no configured rules
	}
	cfg, err := config.Load(config.Source{File: f.file, Overrides: overrides, RulesFiles: rulesFiles})
	if err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 2
	}
	asJSON := f.format == "json" || (f.format == "" && cfg.Outputs.Stdout.Format == "json")
	switch {
	case f.version:
		return printVersion(stdout, asJSON)
	case len(f.validate) > 0:
		return falcoValidate(f.validate, cfg, asJSON, stdout, stderr)
	case f.listRules || f.describe != "":
		return falcoListRules(cfg, f.describe, asJSON, stdout, stderr)
	case f.list != nil:
		a := []string{}
		if *f.list != "" {
			a = append(a, "--source", *f.list)
		}
		if asJSON {
			a = append(a, "--json")
		}
		return runFields(ctx, a, stdout, stderr)
	case f.listEvents:
		return listEvents(stdout, asJSON)
	}

	log := newLogger(stderr, cfg.Log, cfg.Sources.K8sAudit.Token, cfg.Outputs.GRPC.Token)
	slog.SetDefault(log)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if f.check {
		rs, err := daemon.Check(cfg, log)
		if err != nil {
			fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "configuration and rules OK (%d rules, ruleset %s)\n", len(rs.Rules()), rs.Version())
		return 0
	}
	if f.pidfile != "" {
		if err := os.WriteFile(f.pidfile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
			fmt.Fprintf(stderr, "harrier-sensor: --pidfile: %v\n", err)
			return 1
		}
		defer os.Remove(f.pidfile)
	}
	opts := daemon.Options{Stdout: stdout, Logger: log, Version: buildVersion(),
		// Under systemd (Type=notify) `systemctl start` returns once the
		// sensor captures; elsewhere NOTIFY_SOCKET is unset and these do nothing.
		Ready:    func() { notify(log, sdnotify.SdNotifyReady) },
		Stopping: func() { notify(log, sdnotify.SdNotifyStopping) },
	}
	if f.capture != "" {
		path := f.capture
		opts.Replay = func(ctx context.Context, emit func(fields.Event) error) error {
			_, err := replayEvents(ctx, path, sources.Registries(), emit)
			return err
		}
	}
	d, err := daemon.New(cfg, opts)
	if err != nil {
		log.Error("cannot start", "err", err)
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
	}
	if f.seconds > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(f.seconds)*time.Second)
		defer cancel()
	}
	// SIGHUP reloads the rules (and reopens the alert file).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading rules")
				notify(log, sdnotify.SdNotifyReloading)
				_ = d.Reload()
				notify(log, sdnotify.SdNotifyReady)
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
	}
	return 0
}

// newLogger logs to stderr and/or the local syslog (Falco's log_stderr,
// log_syslog). Without a syslog daemon, logs stay on stderr. Every line
// passes redact's rule (URL credentials, secret query parameters, bearer
// tokens, the configured secrets), so no log call can print a secret.
func newLogger(w io.Writer, c config.Log, secrets ...string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	var outs []io.Writer
	if c.Stderr {
		outs = append(outs, w)
	}
	if c.Syslog {
		if sw, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "harrier-sensor"); err == nil {
			outs = append(outs, sw)
		} else if !c.Stderr {
			outs = append(outs, w) // nowhere else to say anything
		}
	}
	out := io.Discard
	if len(outs) > 0 {
		out = io.MultiWriter(outs...)
	}
	if c.Format == "json" {
		return slog.New(redact.Handler(slog.NewJSONHandler(out, opts), secrets...))
	}
	return slog.New(redact.Handler(slog.NewTextHandler(out, opts), secrets...))
}

// notify sends a state to systemd's notification socket, when there is one.
func notify(log *slog.Logger, state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		log.Warn("systemd notify", "state", state, "err", err)
	}
}
