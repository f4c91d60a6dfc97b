package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/syscall/capturefile"
	"github.com/harrier-security/harrier/sensor/internal/syscall/container"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func init() {
	register(command{name: "capture", summary: "record live syscall events with their process state to a capture file", run: runCapture})
}

// captureSyscalls are the syscalls recorded when no rules narrow the set:
// everything the sensor decodes.
var captureSyscalls = []string{
	"execve", "execveat", "clone", "clone3", "fork", "vfork", "exit", "exit_group",
	"open", "openat", "openat2", "creat", "close", "dup", "dup2", "dup3", "socket", "connect",
	"accept", "accept4", "bind", "listen", "sendto", "sendmsg", "symlink", "symlinkat", "link",
	"linkat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat",
	"rmdir", "chmod", "fchmod", "fchmodat", "chown", "lchown", "fchown", "fchownat", "setuid",
	"setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "capset",
	"ptrace", "memfd_create", "init_module", "finit_module", "mount", "umount2", "unshare",
	"setns", "chdir", "fchdir", "chroot", "prctl", "kill", "tkill", "tgkill", "bpf",
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
	resolver, closeCRI := containerResolver(*criSocket, stderr)
	defer closeCRI()
	if err := capture(ctx, *out, *duration, *ringMB<<20, types, resolver, stderr); err != nil {
		fmt.Fprintln(stderr, "harrier-sensor capture:", err)
		return 1
	}
	return 0
}

// captureTypes is the in-kernel filter: the rules' event types (all
// decoded syscalls without rules) plus the state-keeping ones.
func captureTypes(ruleFiles []string) ([]sysevent.Type, error) {
	set := map[sysevent.Type]bool{}
	for _, t := range proctable.StateTypes() {
		set[t] = true
	}
	addNames := func(names []string) {
		for _, n := range names {
			if t, ok := sysevent.TypeByName(n); ok {
				set[t] = true
			}
		}
	}
	if len(ruleFiles) == 0 {
		addNames(captureSyscalls)
	} else {
		rs, diags, err := rules.LoadFiles(ruleFiles, rules.Options{
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
		_ = diags
		for _, r := range rs.Rules() {
			if !r.Enabled || r.Source != syscallfields.Source {
				continue
			}
			if len(r.EventTypes) == 0 {
				addNames(captureSyscalls)
				continue
			}
			addNames(r.EventTypes)
		}
	}
	out := make([]sysevent.Type, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// containerResolver resolves containers with metadata from the CRI
// socket and from Docker's state files, when either exists; the caller
// runs it.
func containerResolver(socket string, stderr io.Writer) (*container.Resolver, func()) {
	d, err := container.Discover(socket)
	if err != nil {
		fmt.Fprintln(stderr, "harrier-sensor capture: no CRI metadata:", err)
	}
	return d.Resolver(), d.Close
}

func capture(ctx context.Context, path string, d time.Duration, ring int, types []sysevent.Type, resolver *container.Resolver, stderr io.Writer) error {
	var cancel context.CancelFunc
	if d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
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
	// Open the capture before reading /proc, so that no process born in
	// between is missed.
	c, err := bpfcapture.Open(bpfcapture.Options{RingBytes: ring})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetInterest(types); err != nil {
		return err
	}
	go resolver.Run(ctx)
	tb := proctable.New(proctable.Config{ProcRoot: "/proc", Containers: resolver.FromCgroup})
	if err := tb.Bootstrap(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	go tb.Run(ctx)
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
	err = c.Run(ctx, func(ev *sysevent.Event) {
		tb.Apply(ev)
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
	st, serr := c.Stats()
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
