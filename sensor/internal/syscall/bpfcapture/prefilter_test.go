package bpfcapture

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// TestPrefilterKernel loads a prefilter into the real kernel and checks,
// event by event, that the kernel decides as kfilter.Compiled.Pass does:
// watched paths (exact and prefix) and unclean spellings of them pass,
// other opens and the closes of their fds stay in the kernel and are
// counted; a hot replacement of the filter takes effect.
func TestPrefilterKernel(t *testing.T) {
	h := startCapture(t, Options{}, "openat", "close")
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched")
	under := filepath.Join(dir, "sub")
	for _, d := range []string{under} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{watched, filepath.Join(under, "a"), filepath.Join(dir, "other"), filepath.Join(dir, "subway")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := &kfilter.Spec{Types: map[sysevent.Type]kfilter.TypeFilter{
		sysevent.SysOpenat: {Terms: []kfilter.Term{
			{Exact: []string{watched}},
			{Prefix: []string{under + "/"}},
			{Preds: kfilter.PredOpenCreate | kfilter.PredSuccess},
		}},
		sysevent.SysClose: {All: true, DropMarkedFD: true},
	}}
	pf, err := spec.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.c.SetPrefilter(pf); err != nil {
		t.Fatal(err)
	}
	open := func(p string, flags int) int {
		fd, err := unix.Openat(unix.AT_FDCWD, p, flags|unix.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		return fd
	}
	cases := []struct {
		path  string
		flags int
		pass  bool
	}{
		{watched, unix.O_RDONLY, true},
		{filepath.Join(under, "a"), unix.O_RDONLY, true},
		{filepath.Join(dir, "other"), unix.O_RDONLY, false},
		{filepath.Join(dir, "subway"), unix.O_RDONLY, false}, // "sub" without the slash
		{dir + "/sub/../watched", unix.O_RDONLY, true},       // unclean: the kernel cannot tell
		{dir + "//other", unix.O_RDONLY, true},
		{filepath.Join(dir, "other"), unix.O_RDWR | unix.O_CREAT, true},
	}
	var fds []int
	for _, c := range cases {
		if got := pf.Pass(kfilter.Facts{Type: sysevent.SysOpenat, RawPath: c.path, Flags: uint64(c.flags)}); got != c.pass {
			t.Fatalf("Go model: %s passes=%v, want %v", c.path, got, c.pass)
		}
		fd := open(c.path, c.flags)
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	pid := os.Getpid()
	for i, c := range cases {
		if !c.pass {
			continue
		}
		fd := fds[i]
		h.find(c.path, func(ev *sysevent.Event) bool {
			return ev.Type == sysevent.SysOpenat && int(ev.PID) == pid && ev.Target == c.path && ev.Ret == int64(fd)
		})
		h.find("close of a shipped fd", func(ev *sysevent.Event) bool {
			return ev.Type == sysevent.SysClose && int(ev.PID) == pid && ev.FD == int64(fd)
		})
	}
	st, err := h.c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.FilteredByType[sysevent.SysOpenat] < 2 || st.FilteredByType[sysevent.SysClose] < 2 {
		t.Fatalf("filtered counters %v: want ≥2 openat and ≥2 close", st.FilteredByType)
	}
	h.mu.Lock()
	for _, ev := range h.evs {
		// (the files were created, with O_CREAT, before the filter was set)
		if int(ev.PID) == pid && ev.Type == sysevent.SysOpenat && ev.Flags&unix.O_CREAT == 0 &&
			(ev.Target == filepath.Join(dir, "subway") || ev.Target == filepath.Join(dir, "other")) {
			h.mu.Unlock()
			t.Fatalf("%s left the kernel", ev.Target)
		}
	}
	h.mu.Unlock()

	// Hot replacement: nothing filtered any more.
	if err := h.c.SetPrefilter(nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "subway")
	fd := open(p, unix.O_RDONLY)
	unix.Close(fd)
	h.find("open after the filter was removed", func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysOpenat && int(ev.PID) == pid && ev.Target == p
	})
}

// TestPrefilterProcessName checks the per-process name the kernel keeps
// from exec: a term on proc.name lets the opens of "cat" out and keeps
// those of "head" (both started after the capture), the same file.
func TestPrefilterProcessName(t *testing.T) {
	h := startCapture(t, Options{}, "openat", "close")
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &kfilter.Spec{Types: map[sysevent.Type]kfilter.TypeFilter{
		sysevent.SysOpenat: {Terms: []kfilter.Term{{Comms: []string{"cat"}}}},
		sysevent.SysClose:  {All: true, DropMarkedFD: true},
	}}
	pf, err := spec.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.c.SetPrefilter(pf); err != nil {
		t.Fatal(err)
	}
	run := func(name string) int {
		cmd := exec.Command(name, f)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", name, err, out)
		}
		return cmd.Process.Pid
	}
	headPID := run("head")
	catPID := run("cat")
	h.find("cat's open", func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysOpenat && int(ev.PID) == catPID && ev.Path == f
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.evs {
		if int(ev.PID) == headPID && ev.Type == sysevent.SysOpenat {
			t.Fatalf("head's open of %s left the kernel", ev.Path)
		}
	}
}

// TestPrefilterUID checks the effective-uid predicate the kernel reads from
// the task's credentials: a term for non-root users lets the open of the
// same file out when cat runs as nobody and keeps it when cat runs as root.
func TestPrefilterUID(t *testing.T) {
	h := startCapture(t, Options{}, "openat", "close")
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // nobody must reach the file
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &kfilter.Spec{Types: map[sysevent.Type]kfilter.TypeFilter{
		sysevent.SysOpenat: {Terms: []kfilter.Term{{Exact: []string{f}, Preds: kfilter.PredUIDOther}}},
		sysevent.SysClose:  {All: true, DropMarkedFD: true},
	}}
	pf, err := spec.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.c.SetPrefilter(pf); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	for _, c := range []struct {
		euid uint32
		pass bool
	}{{0, false}, {nobody, true}} {
		if got := pf.Pass(kfilter.Facts{Type: sysevent.SysOpenat, RawPath: f, EUID: c.euid}); got != c.pass {
			t.Fatalf("Go model: euid %d passes=%v, want %v", c.euid, got, c.pass)
		}
	}
	run := func(uid uint32) int {
		cmd := exec.Command("cat", f)
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cat as %d: %v: %s", uid, err, out)
		}
		return cmd.Process.Pid
	}
	rootPID := run(0)
	userPID := run(nobody)
	// The child switched uid while it still shared this process's memory
	// (Go forks with CLONE_VM|CLONE_VFORK), which made this process
	// non-dumpable; later tests read that flag.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	h.find("nobody's open", func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysOpenat && int(ev.PID) == userPID && ev.Path == f
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.evs {
		if int(ev.PID) == rootPID && ev.Type == sysevent.SysOpenat && ev.Path == f {
			t.Fatalf("root's open of %s left the kernel", ev.Path)
		}
	}
}
