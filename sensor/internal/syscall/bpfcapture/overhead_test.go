package bpfcapture

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/dispatch"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// BenchmarkOverhead times workloads without and with the capture attached
// (every covered syscall of interest, events read, decoded and handed to
// one worker per core through dispatch; no rules), alternating the two
// several times in one run. overhead-% is (with / without - 1) * 100: the
// cost of capture alone, before any rule evaluation.
func BenchmarkOverhead(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	src := filepath.Join(dir, "hello.c")
	os.WriteFile(src, []byte("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(int c, char **v) { printf(\"%d %s\\n\", c, strdup(v[0])); return 0; }\n"), 0o644)
	workloads := []struct {
		name string
		run  func()
	}{
		{"openat-close-100k", func() {
			for i := 0; i < 100000; i++ {
				if fd, err := unix.Openat(unix.AT_FDCWD, "/dev/null", unix.O_RDONLY, 0); err == nil {
					unix.Close(fd)
				}
			}
		}},
		{"build-10-clang-compiles", func() {
			for i := 0; i < 10; i++ {
				exec.Command("clang", "-O2", "-c", "-o", filepath.Join(dir, "hello.o"), src).Run()
			}
		}},
		{"shell-200-execs", func() {
			exec.Command("/bin/sh", "-c", "for i in $(seq 200); do /bin/true; done").Run()
		}},
	}
	if _, err := exec.LookPath("clang"); err != nil {
		workloads = append(workloads[:1], workloads[2:]...)
	}
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			var off, on time.Duration
			for i := 0; i < b.N; i++ {
				for round := 0; round < 3; round++ {
					off += timeIt(w.run)
					c, err := Open(Options{IgnorePID: -1})
					if err != nil {
						b.Fatal(err)
					}
					c.SetInterest(Covered)
					sh := dispatch.New(dispatch.Options{Workers: runtime.NumCPU()}, func(int, *sysevent.Event) {})
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan struct{})
					go func() { c.RunIdle(ctx, sh.Submit, sh.Flush); close(done) }()
					on += timeIt(w.run)
					cancel()
					<-done
					sh.Close()
					st, _ := c.Stats()
					c.Close()
					if st.Drops > 0 {
						b.Errorf("%d drops", st.Drops)
					}
				}
			}
			b.ReportMetric(100*(float64(on)/float64(off)-1), "overhead-%")
			b.ReportMetric(float64(off.Milliseconds())/float64(3*b.N), "ms-without")
			b.ReportMetric(float64(on.Milliseconds())/float64(3*b.N), "ms-with")
		})
	}
}

func timeIt(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}
