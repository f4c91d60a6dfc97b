package falcolive

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/bpfcapture"
	"github.com/harrier-security/harrier/sensor/internal/testkit/livetest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// benchRules are the rules a production sensor would load: Falco's stable
// rules and Harrier's own (syscall and k8s_audit of each).
func benchRules(b *testing.B) []string {
	b.Helper()
	require.Root(b, "needs root: loads BPF programs into the kernel")
	var files []string
	for _, name := range []string{"falco_rules.yaml", "k8s_audit_rules.yaml"} {
		p, err := livetest.SharedFalcoRules(name)
		if err != nil {
			require.Missing(b, fmt.Sprintf("Falco's rules are not available: %v", err))
		}
		files = append(files, p)
	}
	for _, rel := range []string{"rules/syscall.yaml", "rules/k8s_audit.yaml"} {
		p, err := livetest.RepoFile(rel)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, p)
	}
	return files
}

// workload is something the host does while the sensor watches; it runs
// in child processes (the sensor ignores its own process, as in
// production).
type workload struct {
	name string
	run  func(b *testing.B)
}

func workloads(b *testing.B) []workload {
	dir := b.TempDir()
	src := filepath.Join(dir, "hello.c")
	if err := os.WriteFile(src, []byte("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(int c, char **v) { printf(\"%d %s\\n\", c, strdup(v[0])); return 0; }\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	must := func(cmd *exec.Cmd) {
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %v: %s", cmd.Args, err, out)
		}
	}
	ws := []workload{
		{"syscall-heavy-100k-openat-close", func(b *testing.B) {
			cmd := exec.Command(exe, "100000")
			cmd.Env = append(os.Environ(), helperEnv+"=openloop")
			must(cmd)
		}},
	}
	if _, err := exec.LookPath("clang"); err == nil {
		ws = append(ws, workload{"build-10-clang-compiles", func(b *testing.B) {
			for i := 0; i < 10; i++ {
				must(exec.Command("clang", "-O2", "-c", "-o", filepath.Join(dir, "hello.o"), src))
			}
		}})
	}
	if _, err := os.Stat("/usr/share/doc"); err == nil {
		ws = append(ws, workload{"tar-gzip-usr-share-doc", func(b *testing.B) {
			must(exec.Command("tar", "-czf", filepath.Join(dir, "doc.tgz"), "-C", "/usr/share", "doc"))
		}})
	}
	return ws
}

// BenchmarkOverheadWithRules times each workload without the sensor, with
// the bare tracepoints attached (bpfcapture.AttachFloor: the sensor's one
// syscall attach point, sys_exit, running a program that returns at once,
// the floor of a tracepoint-based capture; and AttachFloorEnterExit,
// sys_enter too, what a capture recording arguments at entry pays: the
// "bare-enter-exit" figures), with the whole syscall
// pipeline running (capture of the rules' event types and the process
// table's, kernel prefilter derived from the rules, dispatch to one worker
// per core, process table, evaluation of every loaded rule, alerts built),
// and with the pipeline but no prefilter, in rounds after an untimed
// warm-up run: HARRIER_BENCH_ROUNDS of them (default 5), each running the
// five configurations once, in an order rotated from round to round so
// that none always runs first or after a given other.
//
// Two measures per configuration: the wall time of the workload and its
// CPU time (user + system of the workload's processes, which includes the
// BPF programs that run in their context and excludes waiting for a core,
// so it holds on a busy machine; the sensor's own CPU is reported apart).
// overhead-% and cpu-overhead-% are the median over the rounds of (with /
// without - 1) * 100, each round against its own run without the sensor:
// a burst of other work on the host moves one round, not the figure.
// over-floor-x and cpu-over-floor-x are what the sensor costs over what
// the bare tracepoints cost (the two medians' ratio), reported where the
// floor is measurable (above 5%). ms-* are means. drops (ring buffer full)
// and lost (drops and decode errors) are totals over the runs with the
// prefilter; lost-no-prefilter over the others.
func BenchmarkOverheadWithRules(b *testing.B) {
	files := benchRules(b)
	rounds := benchRounds(b)
	for _, w := range workloads(b) {
		b.Run(w.name, func(b *testing.B) {
			var captured, evaluated, alerts, filtered, drops, lost, lostNoPF uint64
			var sensorCPU, sensorCPUNoPF time.Duration
			timed := func() cost {
				c0 := childrenCPU()
				start := time.Now()
				w.run(b)
				return cost{wall: time.Since(start), cpu: childrenCPU() - c0}
			}
			w.run(b) // warm the page cache (tar reads 120 MB of files) and the build's caches
			sensorRun := func(noPrefilter bool) (cost, livetest.Counters, time.Duration) {
				s, err := livetest.Start(livetest.Options{RuleFiles: files, NoPrefilter: noPrefilter})
				if err != nil {
					b.Fatal(err)
				}
				cpu0 := processCPU()
				c := timed()
				n := s.Counters()
				if err := s.Stop(); err != nil {
					b.Fatal(err)
				}
				return c, n, processCPU() - cpu0
			}
			floorRun := func(attach func() (*bpfcapture.Floor, error)) cost {
				f, err := attach()
				if err != nil {
					b.Fatal(err)
				}
				defer func() {
					if err := f.Close(); err != nil {
						b.Fatal(err)
					}
				}()
				return timed()
			}
			const (
				off = iota
				bare
				bare2
				on
				noPF
				nconf
			)
			runConf := map[int]func() cost{
				off:   timed,
				bare:  func() cost { return floorRun(bpfcapture.AttachFloor) },
				bare2: func() cost { return floorRun(bpfcapture.AttachFloorEnterExit) },
				on: func() cost {
					c, n, used := sensorRun(false)
					captured += n.Capture.Events
					evaluated += n.Evaluated
					alerts += n.Alerts
					filtered += n.Capture.Filtered
					drops += n.Capture.Drops
					lost += n.Lost()
					sensorCPU += used
					return c
				},
				noPF: func() cost {
					c, n, used := sensorRun(true)
					lostNoPF += n.Lost()
					sensorCPUNoPF += used
					return c
				},
			}
			var res [nconf][]cost
			for i := 0; i < b.N; i++ {
				for round := 0; round < rounds; round++ {
					for k := 0; k < nconf; k++ {
						conf := (k + round) % nconf
						res[conf] = append(res[conf], runConf[conf]())
					}
				}
			}
			runs := float64(len(res[off]))
			// the median over the rounds of each round's overhead
			pct := func(conf int, of func(cost) time.Duration) float64 {
				var p []float64
				for r := range res[conf] {
					p = append(p, 100*(float64(of(res[conf][r]))/float64(of(res[off][r]))-1))
				}
				slices.Sort(p)
				if len(p)%2 == 1 {
					return p[len(p)/2]
				}
				return (p[len(p)/2-1] + p[len(p)/2]) / 2
			}
			wall := func(c cost) time.Duration { return c.wall }
			cpu := func(c cost) time.Duration { return c.cpu }
			mean := func(conf int, of func(cost) time.Duration) float64 {
				var sum time.Duration
				for _, c := range res[conf] {
					sum += of(c)
				}
				return float64(sum.Microseconds()) / 1000 / runs
			}
			for _, m := range []struct {
				of     func(cost) time.Duration
				prefix string
			}{{wall, ""}, {cpu, "cpu-"}} {
				floor, with := pct(bare, m.of), pct(on, m.of)
				b.ReportMetric(floor, m.prefix+"overhead-bare-tracepoints-%")
				b.ReportMetric(pct(bare2, m.of), m.prefix+"overhead-bare-enter-exit-%")
				b.ReportMetric(with, m.prefix+"overhead-%")
				b.ReportMetric(pct(noPF, m.of), m.prefix+"overhead-no-prefilter-%")
				if floor > 5 {
					b.ReportMetric(with/floor, m.prefix+"over-floor-x")
				}
				b.ReportMetric(mean(off, m.of), m.prefix+"ms-without")
				b.ReportMetric(mean(bare, m.of), m.prefix+"ms-bare-tracepoints")
				b.ReportMetric(mean(on, m.of), m.prefix+"ms-with")
				b.ReportMetric(mean(noPF, m.of), m.prefix+"ms-with-no-prefilter")
			}
			b.ReportMetric(float64(captured)/runs, "events-captured/run")
			b.ReportMetric(float64(evaluated)/runs, "events-evaluated/run")
			b.ReportMetric(float64(filtered)/runs, "events-filtered/run")
			b.ReportMetric(float64(alerts)/runs, "alerts/run")
			b.ReportMetric(float64(sensorCPU.Microseconds())/1000/runs, "sensor-cpu-ms/run")
			b.ReportMetric(float64(sensorCPUNoPF.Microseconds())/1000/runs, "sensor-cpu-ms/run-no-prefilter")
			b.ReportMetric(float64(drops), "drops")
			b.ReportMetric(float64(lost), "lost")
			b.ReportMetric(float64(lostNoPF), "lost-no-prefilter")
		})
	}
}

// cost is what one timed run of a workload took.
type cost struct{ wall, cpu time.Duration }

// benchRounds is HARRIER_BENCH_ROUNDS, the rounds of BenchmarkOverheadWithRules
// (default 5).
func benchRounds(b *testing.B) int {
	v := os.Getenv("HARRIER_BENCH_ROUNDS")
	if v == "" {
		return 5
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("HARRIER_BENCH_ROUNDS=%q: want a positive number of rounds", v)
	}
	return n
}

// childrenCPU is the CPU time (user + system) of this process's children
// and their descendants that have been waited for: the workloads'.
func childrenCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the CPU time (user + system) this process has used: the
// sensor pipeline's (the workloads run in child processes).
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSensorMemory runs the pipeline with every rule loaded for 10 s
// while the host starts processes and makes syscalls, sampling the
// process's resident memory every 100 ms. rss-steady-MB is the mean of the
// samples of the last 5 s, rss-peak-MB the kernel's high-water mark
// (VmHWM). The figures are for the whole test process: the sensor
// pipeline, its 16 MiB ring buffer mapping, the binary's text, the Go
// runtime and this benchmark. Two loads: "busy" (a shell starting ~20
// processes a second and a child making ~50,000 open/close pairs a
// second) and "exec-storm" (as many processes as the machine can start,
// several hundred a second, each kept 30 s after its exit for late
// alerts, and open/close loops in a tight loop).
func BenchmarkSensorMemory(b *testing.B) {
	files := benchRules(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	const dur = 10 * time.Second
	for _, load := range []struct {
		name        string
		shell       string
		opens       string
		pause, rest time.Duration
	}{
		{"busy", "for i in $(seq 4); do /bin/true; cat /etc/hostname >/dev/null; done", "5000", 200 * time.Millisecond, 100 * time.Millisecond},
		{"exec-storm", "for i in $(seq 50); do /bin/true; cat /etc/hostname >/dev/null; done", "20000", 0, 0},
	} {
		b.Run(load.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s, err := livetest.Start(livetest.Options{RuleFiles: files})
				if err != nil {
					b.Fatal(err)
				}
				stop := time.Now().Add(dur)
				done := make(chan struct{})
				go func() { // processes: a shell starting short-lived programs
					defer close(done)
					for time.Now().Before(stop) {
						_ = exec.Command("/bin/sh", "-c", load.shell).Run()
						time.Sleep(load.pause)
					}
				}()
				loops := make(chan struct{})
				go func() { // syscalls: open/close in another process
					defer close(loops)
					for time.Now().Before(stop) {
						cmd := exec.Command(exe, load.opens)
						cmd.Env = append(os.Environ(), helperEnv+"=openloop")
						_ = cmd.Run()
						time.Sleep(load.rest)
					}
				}()
				var samples []uint64
				begin := time.Now()
				for time.Now().Before(stop) {
					time.Sleep(100 * time.Millisecond)
					m, err := livetest.ReadMemory()
					if err != nil {
						b.Fatal(err)
					}
					if time.Since(begin) > dur/2 {
						samples = append(samples, m.RSS)
					}
				}
				<-done
				<-loops
				m, _ := livetest.ReadMemory()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if p := os.Getenv("HARRIER_HEAP_PROFILE"); p != "" {
					if f, err := os.Create(p); err == nil {
						_ = pprof.WriteHeapProfile(f)
						f.Close()
					}
				}
				c := s.Counters()
				procs := s.Table.Len()
				if err := s.Stop(); err != nil {
					b.Fatal(err)
				}
				var sum uint64
				for _, v := range samples {
					sum += v
				}
				const mb = 1 << 20
				b.ReportMetric(float64(sum)/float64(len(samples))/mb, "rss-steady-MB")
				b.ReportMetric(float64(slices.Max(samples))/mb, "rss-max-MB")
				b.ReportMetric(float64(m.PeakRSS)/mb, "rss-peak-MB")
				b.ReportMetric(float64(m.Anon)/mb, "rss-anon-MB")
				b.ReportMetric(float64(m.File)/mb, "rss-file-MB")
				b.ReportMetric(float64(ms.HeapInuse)/mb, "go-heap-inuse-MB")
				b.ReportMetric(float64(c.Evaluated)/dur.Seconds(), "events/s")
				b.ReportMetric(float64(procs), "procs-in-table")
				b.ReportMetric(float64(c.Lost()), "lost")
			}
		})
	}
}

// openloop is the syscall-heavy workload's child: n openat+close pairs.
func openloop(args []string) int {
	n, _ := strconv.Atoi(args[0])
	for i := 0; i < n; i++ {
		if fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
		}
	}
	return 0
}
