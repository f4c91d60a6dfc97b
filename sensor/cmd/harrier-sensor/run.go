package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"

	"github.com/harrier-security/harrier/sensor/internal/config"
	"github.com/harrier-security/harrier/sensor/internal/daemon"
)

func init() {
	register(command{name: "run", summary: "run the sensor: capture, audit webhook, rules, alert delivery", run: runSensor})
}

type overrideList []string

func (o *overrideList) String() string     { return strings.Join(*o, " ") }
func (o *overrideList) Set(v string) error { *o = append(*o, v); return nil }

func runSensor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration file (default "+config.DefaultFile+" when it exists)")
	var overrides overrideList
	fs.Var(&overrides, "o", "set a configuration key, e.g. -o outputs.grpc.address=router:2802 (repeatable; wins over the file and HARRIER_* variables)")
	check := fs.Bool("check", false, "check the configuration and load the rules, then exit (opens no port, spool or BPF program)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrier-sensor run [-c FILE] [-o key=value ...] [--check]")
		fmt.Fprintln(stderr, "Every key can also be set from the environment: HARRIER_<KEY> with _ for dots (HARRIER_LOG_LEVEL=debug).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "harrier-sensor run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(config.Source{File: *file, Overrides: overrides})
	if err != nil {
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 2
	}
	log := newLogger(stderr, cfg.Log)
	slog.SetDefault(log)
	if *check {
		rs, err := daemon.Check(cfg, log)
		if err != nil {
			fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "configuration and rules OK (%d rules, ruleset %s)\n", len(rs.Rules()), rs.Version())
		return 0
	}
	d, err := daemon.New(cfg, daemon.Options{Stdout: stdout, Logger: log, Version: buildVersion(),
		// Under systemd (Type=notify) `systemctl start` returns once the
		// sensor captures; elsewhere NOTIFY_SOCKET is unset and these do nothing.
		Ready:    func() { notify(log, sdnotify.SdNotifyReady) },
		Stopping: func() { notify(log, sdnotify.SdNotifyStopping) },
	})
	if err != nil {
		log.Error("cannot start", "err", err)
		fmt.Fprintf(stderr, "harrier-sensor: %v\n", err)
		return 1
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

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// notify sends a state to systemd's notification socket, when there is one.
func notify(log *slog.Logger, state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		log.Warn("systemd notify", "state", state, "err", err)
	}
}
