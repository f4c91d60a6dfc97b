package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/harrier-security/harrier/proto/redact"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/server"
)

func init() {
	register(command{name: "run", summary: "run the router (--config FILE; embedded defaults without)", run: runRouter})
}

func runRouter(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", os.Getenv(config.EnvPrefix+"_CONFIG"), "configuration file (YAML); env "+config.EnvPrefix+"_CONFIG")
	fs.StringVar(path, "c", *path, "same as --config (falcosidekick's flag)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrier-router [run] [-c|--config FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "harrier-router run: unexpected argument %q (the configuration file goes after -c)\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "harrier-router:", err)
		return 1
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.Log.Level))
	log := newLogger(cfg.Log, level, stderr, cfg.Secrets())
	slog.SetDefault(log)
	applyGC(cfg.GC, log)
	if cfg.DefaultOutputs {
		log.Info("no outputs configured: using the embedded defaults (stdout and a JSON-lines file)")
	}
	r, err := server.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := r.Start(); err != nil {
		log.Error("cannot start", "err", err)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		r.Shutdown(sctx)
		cancel()
		return 1
	}
	watchDone := make(chan struct{})
	wctx, stopWatch := context.WithCancel(ctx)
	if *path != "" {
		go func() {
			defer close(watchDone)
			apply := func(c *config.Config) {
				level.Set(parseLevel(c.Log.Level)) // log.format changes need a restart
				applyGC(c.GC, log)
				_ = r.Reload(c)
			}
			err := config.Watch(wctx, *path, apply, r.Rejected)
			if err != nil {
				log.Error("config file not watched; edits need a restart", "err", err)
			}
		}()
	} else {
		close(watchDone)
	}
	<-ctx.Done()
	stopWatch()
	<-watchDone
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := r.Shutdown(sctx); err != nil {
		return 1
	}
	return 0
}

func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// newLogger builds the router's logger; every line passes redact's rule
// (URL credentials, secret query parameters, bearer tokens, the
// configured tokens), so no log call can print a secret.
func newLogger(c config.Log, level *slog.LevelVar, w io.Writer, secrets []string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(redact.Handler(slog.NewTextHandler(w, opts), secrets...))
	}
	return slog.New(redact.Handler(slog.NewJSONHandler(w, opts), secrets...))
}
