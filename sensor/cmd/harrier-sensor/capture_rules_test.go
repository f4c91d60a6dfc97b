package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/capturefile"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// memfdExecEnv makes the test binary, started by the test below, run a
// program from a memfd (fileless execution) instead of the tests.
const memfdExecEnv = "HARRIER_TEST_MEMFD_EXEC"

func init() {
	if os.Getenv(memfdExecEnv) != "1" {
		return
	}
	img, err := os.ReadFile("/bin/true")
	if err != nil {
		os.Exit(3)
	}
	fd, err := unix.MemfdCreate("payload", 0)
	if err != nil {
		os.Exit(4)
	}
	if _, err := unix.Write(fd, img); err != nil {
		os.Exit(5)
	}
	_ = syscall.Exec("/proc/self/fd/"+strconv.Itoa(fd), []string{"payload"}, nil)
	os.Exit(6)
}

// TestCaptureThenStableRules records real actions with `capture`, then
// evaluates Falco's stable rules, unchanged, over the file: the attacks
// fire their rules, the benign look-alike fires nothing.
func TestCaptureThenStableRules(t *testing.T) {
	require.Root(t, "capture needs root (eBPF)")
	const falcoRules = "../../../../shared/testdata/falco/rules/falco_rules.yaml"
	if _, err := os.Stat(falcoRules); err != nil {
		require.Missing(t, fmt.Sprintf("Falco rules not available at %s", falcoRules))
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "attacks.hcap")
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- dispatch(context.Background(), []string{"capture", "-w", file, "--duration", "5s", "-r", falcoRules}, io.Discard, &stderr)
	}()
	self, _ := os.Executable()
	var code int
	for i := 0; ; i++ {
		select {
		case code = <-done:
		case <-time.After(300 * time.Millisecond):
			_ = exec.Command("cat", "/etc/shadow").Run()                                               // sensitive read
			_ = exec.Command("ln", "-s", "/etc/shadow", filepath.Join(dir, "l"+strconv.Itoa(i))).Run() // symlink over it
			mem := exec.Command(self)                                                                  // fileless execution
			mem.Env = append(os.Environ(), memfdExecEnv+"=1")
			_ = mem.Run()
			_ = exec.Command("cat", "/etc/hostname").Run() // benign
			continue
		}
		break
	}
	if code != 0 {
		t.Fatalf("capture exited %d: %s", code, stderr.String())
	}

	rs, _, err := rules.LoadFiles([]string{falcoRules}, rules.Options{
		Registries: map[string]*fields.Registry{syscallfields.Source: syscallfields.Registry()},
		Matching:   rules.MatchAll,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := capturefile.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fired := map[string][]string{} // rule → argv[0] and arguments (proc.exeline)
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Thread == nil || ev.Thread.PPid() != int64(os.Getpid()) && !isChildOf(ev.Thread, os.Getpid()) {
			continue // only what this test started
		}
		rs.Evaluate(ev, func(rule *rules.Rule) {
			im := ev.Thread.Image()
			fired[rule.Name] = append(fired[rule.Name], im.Exe+" "+im.ArgsLine)
		})
	}
	for rule, want := range map[string]string{
		"Read sensitive file untrusted":       "cat /etc/shadow",
		"Create Symlink Over Sensitive Files": "ln -s /etc/shadow",
		"Fileless execution via memfd_create": "payload",
	} {
		ok := false
		for _, c := range fired[rule] {
			ok = ok || strings.HasPrefix(c, want)
		}
		if !ok {
			t.Errorf("rule %q did not fire for %q (fired: %v)", rule, want, fired)
		}
	}
	for rule, cmds := range fired {
		for _, c := range cmds {
			if strings.Contains(c, "/etc/hostname") {
				t.Errorf("benign %q fired %q", c, rule)
			}
		}
	}
}

func isChildOf(t *sysevent.Thread, pid int) bool {
	for a := t.Parent(); a != nil; a = a.Parent() {
		if a.Pid == int64(pid) {
			return true
		}
	}
	return false
}
