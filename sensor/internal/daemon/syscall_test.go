package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/harrier-security/harrier/sensor/internal/config"
	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// TestSyscallReloadAddsEventTypes needs root and BPF: the running sensor
// gets a rule on a syscall that no loaded rule asked for; after the reload
// the kernel passes that syscall and the rule fires, while the rule that ran
// before keeps firing.
func TestSyscallReloadAddsEventTypes(t *testing.T) {
	require.Root(t, "the syscall source needs root")
	dir := t.TempDir()
	marker := filepath.Join(dir, "harrier-marker")
	openRule := fmt.Sprintf(`
- rule: Marker opened
  desc: test
  condition: evt.type in (open, openat, openat2) and fd.name startswith %s
  output: "opened %%fd.name by %%proc.name"
  priority: WARNING
`, marker)
	mkdirRule := fmt.Sprintf(`
- rule: Marker directory made
  desc: test
  condition: evt.type in (mkdir, mkdirat) and fs.path.name startswith %s
  output: "mkdir %%fs.path.name by %%proc.name"
  priority: WARNING
`, marker)
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(openRule), 0o600); err != nil {
		t.Fatal(err)
	}
	rcv, store := transporttest.Run(t, transporttest.Options{})
	cfg := syscallConfig(t, rcv.Addr, rulesFile)
	r := start(t, cfg)
	defer r.stop(t)

	fired := func(rule, needle string) bool {
		for _, a := range store.Alerts() {
			if a.GetRule() == rule && strings.Contains(a.GetOutput(), needle) {
				return true
			}
		}
		return false
	}
	// act performs the action again until an alert for any of its
	// attempts (they share a prefix) arrives.
	until := func(what string, act func(i int) string, rule string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			p := act(i)
			if fired(rule, strings.TrimRight(p, "0123456789")) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		for i, a := range store.Alerts() {
			if i < 5 {
				t.Logf("alert: %s: %s", a.GetRule(), a.GetOutput())
			}
		}
		st, _ := r.d.sys.src.Capture.Stats()
		t.Fatalf("%s: %q never fired (captured %d, drops %d, evaluated %v, alerts at router %d)", what, rule,
			st.Events, st.Drops, testutil.ToFloat64(r.d.m.evaluatedSyscall), store.Unique())
	}
	touch := func(i int) string {
		p := fmt.Sprintf("%s-f%d", marker, i)
		_ = exec.Command("touch", p).Run()
		return p
	}
	mkdir := func(i int) string {
		p := fmt.Sprintf("%s-d%d", marker, i)
		_ = exec.Command("mkdir", p).Run()
		return p
	}
	until("before reload", touch, "Marker opened")
	// mkdir is not of interest yet: nothing fires.
	p := mkdir(1000)
	// Judge once a later action has been evaluated: a touch made after
	// the mkdir has raised its alert (instead of a fixed sleep).
	after := func(i int) string {
		q := fmt.Sprintf("%s-after-mkdir%d", marker, i)
		_ = exec.Command("touch", q).Run()
		return q
	}
	until("after the mkdir", after, "Marker opened")
	if fired("Marker directory made", p) {
		t.Fatal("a rule that is not loaded fired")
	}
	if err := os.WriteFile(rulesFile, []byte(openRule+mkdirRule), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(r.d.m.reloads.WithLabelValues("ok")); v != 1 {
		t.Fatalf("ok reloads %v", v)
	}
	until("after reload", mkdir, "Marker directory made")
	until("after reload, the old rule", touch, "Marker opened")
}

// TestSyscallFDNameOfFilteredOpen needs root and BPF: the kernel prefilter
// keeps the open of a file no rule condition watches, then a rule matches
// a write to that fd by process name and prints fd.name. The alert shows
// the real path, read from /proc (the table never saw the open).
func TestSyscallFDNameOfFilteredOpen(t *testing.T) {
	require.Root(t, "the syscall source needs root")
	dir := t.TempDir()
	// The writer is this test binary under its own name (the kernel names
	// a process after the path it was executed by): the rule matches its
	// writes only.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	writer := filepath.Join(dir, "hfdtest-writer")
	if err := os.Symlink(self, writer); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "written")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(fmt.Sprintf(`
- rule: Watched open
  desc: keeps the opens of every other path in the kernel
  condition: evt.type in (open, openat, openat2) and fd.name startswith %s/nothing-here/
  output: "opened %%fd.name"
  priority: WARNING
- rule: Test writer writes
  desc: matches by process name only, prints the file
  condition: evt.type=write and proc.name=hfdtest-writer
  output: "wrote file=%%fd.name by %%proc.name"
  priority: WARNING
`, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	store := transporttest.NewStore()
	rcv, err := transporttest.Start("127.0.0.1:0", store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Kill()
	cfg := syscallConfig(t, rcv.Addr, rulesFile)
	r := start(t, cfg)
	defer r.stop(t)

	cmd := exec.Command(writer, "-test.run=^TestHelperFDWriter$")
	cmd.Env = append(os.Environ(), "HARRIER_FDWRITER_FILE="+file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	want := "wrote file=" + file + " by hfdtest-writer"
	for {
		found, na := false, 0
		for _, a := range store.Alerts() {
			if a.GetRule() != "Test writer writes" {
				continue
			}
			if strings.Contains(a.GetOutput(), want) {
				found = true
			} else if strings.Contains(a.GetOutput(), "<NA>") {
				na++
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert %q (%d of the rule's with <NA>; process table %+v)", want, na, r.d.sys.src.Table.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := r.d.sys.src.Capture.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.FilteredByType[sysevent.SysOpenat] == 0 {
		t.Fatalf("no openat stayed in the kernel: %v", st.FilteredByType)
	}
	if ts := r.d.sys.src.Table.Stats(); ts.FDResolved == 0 {
		t.Fatalf("process table stats %+v: no fd resolved from /proc", ts)
	}
}

// TestHelperFDWriter is the writer process of
// TestSyscallFDNameOfFilteredOpen: it opens the file it is given and
// writes to it until killed (at most 30s).
func TestHelperFDWriter(t *testing.T) {
	p := os.Getenv("HARRIER_FDWRITER_FILE")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 600 {
		if _, err := f.WriteString("x\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syscallConfig is a daemon config with only the syscall source, every
// rule firing, for the router at addr; the test is skipped (Missing) where
// the syscall source cannot start.
func syscallConfig(t *testing.T, addr, rulesFile string) *config.Config {
	t.Helper()
	cfg := testConfig(t, addr, rulesFile)
	cfg.Sources.Syscall.Enabled = true
	cfg.Sources.K8sAudit.Enabled = false
	cfg.Rules.Watch = false
	cfg.Rules.RuleMatching = "all"
	d, err := New(cfg, Options{Logger: quiet})
	if err != nil {
		require.Missing(t, fmt.Sprintf("syscall source unavailable here: %v", err))
	}
	d.Close()
	return cfg
}
