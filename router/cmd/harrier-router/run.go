package main

import (
	"context"
	"flag"
	"fmt"
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
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "harrier-router:", err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	slog.SetDefault(log)
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
			err := config.Watch(wctx, *path, func(c *config.Config) { _ = r.Reload(c) }, r.Rejected)
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

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
