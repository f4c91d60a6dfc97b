package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/syscall/capturefile"
	"github.com/harrier-security/harrier/sensor/internal/syscall/source"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func init() {
	register(command{name: "capture", summary: "record live syscall events with their process state to a capture file", run: runCapture})
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runCapture(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("w", "", "write the capture to `FILE` (required)")
	duration := fs.Duration("duration", 0, "stop after this long (default: until interrupted)")
	ringMB := fs.Int("ring-mb", 16, "ring buffer size in MiB (a power of two)")
	criSocket := fs.String("cri-socket", "", "container runtime (CRI) socket for container metadata (default: probe the usual paths)")
	var ruleFiles stringList
	fs.Var(&ruleFiles, "r", "record only the event types these rules `FILE`s need (plus those that keep state); repeatable")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: harrier-sensor capture -w FILE [--duration D] [-r RULES ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	types, err := captureTypes(ruleFiles)
	if err != nil {
		fmt.Fprintln(stderr, "harrier-sensor capture:", err)
		return 1
	}
	if err := capture(ctx, *out, *duration, *ringMB<<20, types, *criSocket, stderr); err != nil {
		fmt.Fprintln(stderr, "harrier-sensor capture:", err)
		return 1
	}
	return 0
}

// captureTypes is the in-kernel filter: the rules' event types (the daemon's
// rule, sources.SyscallInterest), or every syscall the capture decodes
// (bpfcapture.Covered) without rules. The source adds the state-keeping
// ones.
func captureTypes(ruleFiles []string) ([]sysevent.Type, error) {
	if len(ruleFiles) == 0 {
		return bpfcapture.Covered, nil
	}
	rs, _, err := rules.LoadFiles(ruleFiles, rules.Options{
		Registries: map[string]*fields.Registry{syscallfields.Source: syscallfields.Registry()},
	})
	if err != nil {
		var le *rules.LoadError
		if errors.As(err, &le) {
			for _, d := range le.Diagnostics.Errors() {
				err = fmt.Errorf("%w\n%s", err, d)
			}
		}
		return nil, err
	}
	return sources.SyscallInterest(rs), nil
}

func capture(ctx context.Context, path string, d time.Duration, ring int, types []sysevent.Type, criSocket string, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	host, _ := os.Hostname()
	w, err := capturefile.NewWriter(f, capturefile.Meta{
		"hostname": host, "sensor": "harrier-sensor", "started": time.Now().UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return err
	}
	// The sensor's syscall source with one worker, so that the file keeps
	// the capture order of every process.
	src, err := source.Open(source.Options{
		RingBytes: ring, Workers: 1, Interest: types,
		RuntimeMetadata: true, CRISocket: criSocket,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer src.Close()
	if err := src.Bootstrap(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	// The duration counts from here: reading /proc on a busy host can take
	// seconds, and a capture that spent them bootstrapping would record
	// nothing.
	if d > 0 {
		stop := time.AfterFunc(d, cancel)
		defer stop.Stop()
	}
	// Flush every second, so that an interrupted capture loses at most
	// that much (the reader reports the cut record by its offset).
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = w.Flush()
			}
		}
	}()
	var werr error
	err = src.Run(ctx, func(_ int, ev *sysevent.Event) {
		if werr == nil {
			if werr = w.Write(ev); werr != nil {
				cancel() // e.g. the disk is full: stop rather than drop silently
			}
		}
	})
	if err == nil {
		err = werr
	}
	if ferr := w.Close(); err == nil {
		err = ferr
	}
	st, serr := src.Capture.Stats()
	fmt.Fprintf(stderr, "captured %d events to %s (%d dropped in the kernel, %d undecodable)\n",
		w.Count(), path, st.Drops, st.DecodeErrors)
	if err == nil {
		err = serr
	}
	if err == nil {
		err = f.Sync()
	}
	return err
}
