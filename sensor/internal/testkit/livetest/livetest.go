// Package livetest runs the sensor's syscall pipeline inside a test or
// benchmark process with the daemon's own assembly (syscall/source):
// bpfcapture → dispatch (one worker per core, sharded by process) →
// proctable.Apply → rules.Ruleset → alertfmt. End-to-end tests act on the real kernel and wait for the
// alerts of their own processes; benchmarks measure what the whole
// pipeline costs. It is for tests: it keeps alerts in memory.
package livetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/engine/alertfmt"
	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/engine/prefilter"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/syscall/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/source"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Options configure Start.
type Options struct {
	RuleFiles []string // loaded with every source's registry, as the daemon does
	Workers   int      // evaluation workers; 0: one per core
	RingBytes int      // 0: bpfcapture's default
	// NoPrefilter sends every event of interest to user space, as before
	// the kernel prefilter (engine/prefilter); by default it is loaded as
	// the daemon loads it.
	NoPrefilter bool
	// KeepAlerts keeps every alert for Find and Wait; otherwise alerts are
	// only counted (benchmarks).
	KeepAlerts bool
	// TrackExits records the pids whose exit has been evaluated, for
	// WaitExited (tests that check a benign process fired nothing).
	TrackExits bool
}

// Alert is one alert with the process facts tests filter on.
type Alert struct {
	Rule      string
	PID, PPID int64
	Ancestors []int64 // pids of the parent chain, nearest first
	Alert     *harrierv1.Alert
}

// Output is the alert's rendered output text.
func (a Alert) Output() string { return a.Alert.GetOutput() }

// Sensor is a running pipeline.
type Sensor struct {
	Capture *bpfcapture.Capture
	Table   *proctable.Table
	Ruleset *rules.Ruleset

	src    *source.Source
	cancel context.CancelFunc
	done   chan error
	opts   Options

	evaluated atomic.Uint64
	nalerts   atomic.Uint64

	mu     sync.Mutex
	alerts []Alert
	exited map[int64]bool
}

// SharedFalcoRules returns the path of Falco's stable rules file in the
// shared test data (../shared/testdata/falco/rules/falco_rules.yaml
// relative to the worktree), found by walking up from the working
// directory, or an error saying where it was looked for.
func SharedFalcoRules(name string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "testdata", "falco", "rules", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s not found in shared/testdata/falco/rules above %s (the shared Falco test data is absent)", name, dir)
		}
	}
}

// RepoFile returns the path of a file of this repository (e.g.
// "rules/syscall.yaml"), found by walking up from the working directory.
func RepoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return filepath.Join(d, rel), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s", dir)
		}
	}
}

// Interest is the syscalls the kernel must pass for rs: the enabled
// syscall rules' event types plus the process table's (the daemon's rule).
func Interest(rs *rules.Ruleset) []sysevent.Type { return sources.SyscallInterest(rs) }

// Start loads the rules, opens the capture (ignoring this process's own
// syscalls, as the sensor ignores itself), bootstraps the process table
// from /proc and starts evaluating. Stop ends it.
func Start(opts Options) (*Sensor, error) {
	rs, _, err := rules.LoadFiles(opts.RuleFiles, rules.Options{Registries: sources.Registries(), Matching: rules.MatchAll})
	if err != nil {
		return nil, fmt.Errorf("livetest: loading rules: %w", err)
	}
	// Container ids from cgroup paths as in the daemon; no runtime
	// metadata (tests have no CRI socket).
	src, err := source.Open(source.Options{RingBytes: opts.RingBytes, Workers: opts.Workers, Interest: Interest(rs)})
	if err != nil {
		return nil, err
	}
	if !opts.NoPrefilter {
		if err := src.SetPrefilter(prefilter.Derive(rs)); err != nil {
			src.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sensor{
		Capture: src.Capture,
		Table:   src.Table,
		Ruleset: rs,
		src:     src,
		cancel:  cancel,
		done:    make(chan error, 1),
		opts:    opts,
		exited:  map[int64]bool{},
	}
	if err := src.Bootstrap(ctx); err != nil {
		cancel()
		src.Close()
		return nil, fmt.Errorf("livetest: bootstrapping the process table: %w", err)
	}
	host, _ := os.Hostname()
	builder := &alertfmt.Builder{Hostname: host, SensorID: "livetest", RulesetVersion: rs.Version()}
	go func() {
		scratch := make([]filter.Scratch, src.Workers())
		s.done <- src.Run(ctx, func(w int, ev *sysevent.Event) {
			rs.EvaluateScratch(ev, &scratch[w], func(r *rules.Rule) {
				s.nalerts.Add(1)
				if !opts.KeepAlerts {
					return
				}
				a := Alert{Rule: r.Name, PID: int64(ev.PID), Alert: builder.Alert(r.AlertRule(), ev)}
				if ev.Thread != nil {
					a.PPID = ev.Thread.PPid()
					for p := ev.Thread.Parent(); p != nil && len(a.Ancestors) < sysevent.MaxAncestors; p = p.Parent() {
						a.Ancestors = append(a.Ancestors, p.Pid)
					}
				}
				s.mu.Lock()
				s.alerts = append(s.alerts, a)
				s.mu.Unlock()
			})
			s.evaluated.Add(1)
			if opts.TrackExits && ev.Type == sysevent.TypeProcExit && ev.Proc.GroupDead {
				s.mu.Lock()
				s.exited[int64(ev.PID)] = true
				s.mu.Unlock()
			}
		})
	}()
	return s, nil
}

// Stop ends the pipeline: the capture stops, queued events are evaluated,
// the programs are detached.
func (s *Sensor) Stop() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	err := <-s.done
	return errors.Join(err, s.src.Close())
}

// Counters are what the pipeline did so far.
type Counters struct {
	Evaluated, Alerts uint64
	Capture           bpfcapture.Stats
}

// Lost is the number of events the capture lost (ring full, undecodable).
func (c Counters) Lost() uint64 { return c.Capture.Drops + c.Capture.DecodeErrors }

// Counters reads the counters.
func (s *Sensor) Counters() Counters {
	st, _ := s.Capture.Stats()
	return Counters{Evaluated: s.evaluated.Load(), Alerts: s.nalerts.Load(), Capture: st}
}

// Find returns the alerts of rule (every rule when "") that match.
func (s *Sensor) Find(rule string, match func(Alert) bool) []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Alert
	for _, a := range s.alerts {
		if (rule == "" || a.Rule == rule) && (match == nil || match(a)) {
			out = append(out, a)
		}
	}
	return out
}

// Wait waits until an alert of rule matches or the timeout passes.
func (s *Sensor) Wait(rule string, match func(Alert) bool, timeout time.Duration) (Alert, bool) {
	deadline := time.Now().Add(timeout)
	for {
		if as := s.Find(rule, match); len(as) > 0 {
			return as[0], true
		}
		if time.Now().After(deadline) {
			return Alert{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitExited waits until the exit of process pid has been evaluated:
// events of one process are evaluated in order, so every alert that pid
// could raise has been raised by then. It needs Options.TrackExits.
func (s *Sensor) WaitExited(pid int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		ok := s.exited[pid]
		s.mu.Unlock()
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ByPID matches alerts raised by process pid.
func ByPID(pid int) func(Alert) bool {
	return func(a Alert) bool { return a.PID == int64(pid) }
}

// ByParent matches alerts raised by a child of pid.
func ByParent(pid int) func(Alert) bool {
	return func(a Alert) bool { return a.PPID == int64(pid) }
}

// ByAncestor matches alerts raised by pid or any of its descendants.
func ByAncestor(pid int) func(Alert) bool {
	return func(a Alert) bool { return a.PID == int64(pid) || slices.Contains(a.Ancestors, int64(pid)) }
}

// Memory is the process's resident memory, from /proc/self/status.
type Memory struct {
	RSS, PeakRSS uint64 // VmRSS, VmHWM in bytes
	// RSS by kind: anonymous (the Go heap and stacks), file-backed (the
	// binary's text), shared (the BPF ring buffer's mapping).
	Anon, File, Shmem uint64
}

// ReadMemory reads /proc/self/status.
func ReadMemory() (Memory, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.RSS = n << 10
		case "VmHWM":
			m.PeakRSS = n << 10
		case "RssAnon":
			m.Anon = n << 10
		case "RssFile":
			m.File = n << 10
		case "RssShmem":
			m.Shmem = n << 10
		}
	}
	if m.RSS == 0 {
		return m, errors.New("livetest: no VmRSS in /proc/self/status")
	}
	return m, nil
}
