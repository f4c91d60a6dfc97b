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
			// decided by the result, which the kernel knows at sys_exit
			{Prefix: []string{dir + "/maybe-"}, Preds: kfilter.PredFailure},
		}},
		sysevent.SysClose: {All: true, DropMarkedFD: true},
	}}
	if err := os.WriteFile(filepath.Join(dir, "maybe-here"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pf := h.setPrefilter(spec)
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
	// A watched failure leaves the kernel; the same open succeeding stays,
	// and so does the close of its fd.
	missing, here := filepath.Join(dir, "maybe-missing"), filepath.Join(dir, "maybe-here")
	for _, c := range []struct {
		path string
		ret  int64
		pass bool
	}{{missing, -2, true}, {here, 3, false}} {
		if got := pf.Pass(kfilter.Facts{Type: sysevent.SysOpenat, RawPath: c.path, Ret: c.ret}); got != c.pass {
			t.Fatalf("Go model: %s (ret %d) passes=%v, want %v", c.path, c.ret, got, c.pass)
		}
	}
	if _, err := unix.Openat(unix.AT_FDCWD, missing, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		t.Fatalf("%s opened", missing)
	}
	hereFD := open(here, unix.O_RDONLY)
	fds = append(fds, hereFD)
	for _, fd := range fds {
		unix.Close(fd)
	}
	pid := os.Getpid()
	h.find("failed open of "+missing, func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysOpenat && int(ev.PID) == pid && ev.Target == missing && ev.Ret < 0
	})
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
	if st.FilteredByType[sysevent.SysOpenat] < 3 || st.FilteredByType[sysevent.SysClose] < 3 {
		t.Fatalf("filtered counters %v: want ≥3 openat and ≥3 close", st.FilteredByType)
	}
	h.mu.Lock()
	after := false // the records of this process come in order: closes after the failed open are ours
	for _, ev := range h.evs {
		if int(ev.PID) == pid && ev.Type == sysevent.SysOpenat && ev.Target == missing {
			after = true
		}
		if after && int(ev.PID) == pid && ev.Type == sysevent.SysClose && ev.FD == int64(hereFD) {
			h.mu.Unlock()
			t.Fatalf("the close of %s's fd left the kernel", here)
		}
		// (the files were created, with O_CREAT, before the filter was set)
		if int(ev.PID) == pid && ev.Type == sysevent.SysOpenat && ev.Flags&unix.O_CREAT == 0 &&
			(ev.Target == filepath.Join(dir, "subway") || ev.Target == filepath.Join(dir, "other") || ev.Target == here) {
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
	h.setPrefilter(spec)
	run := func(name ...string) int {
		cmd := exec.Command(name[0], append(name[1:], f)...)
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
	// nice execs cat in the same process: the kernel's name for it is the
	// new one, whole (not "cat" over "nice")
	nicePID := run("nice", "cat")
	h.find("cat's open after nice", func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysOpenat && int(ev.PID) == nicePID && ev.Path == f
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.evs {
		if int(ev.PID) == headPID && ev.Type == sysevent.SysOpenat {
			t.Fatalf("head's open of %s left the kernel", ev.Path)
		}
	}
}

// TestPrefilterFDMarks keeps in the kernel the opens of a file no term
// watches and the closes of their fds, low ones (marked in the per-process
// array) and high ones (marked in task storage) alike, and lets out the
// close of an fd whose open left the kernel.
func TestPrefilterFDMarks(t *testing.T) {
	h := startCapture(t, Options{}, "openat", "close", "dup2", "close_range")
	dir := t.TempDir()
	kept, watched := filepath.Join(dir, "kept"), filepath.Join(dir, "watched")
	for _, f := range []string{kept, watched} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := &kfilter.Spec{Types: map[sysevent.Type]kfilter.TypeFilter{
		sysevent.SysOpenat: {Terms: []kfilter.Term{{Exact: []string{watched}}}},
		sysevent.SysClose:  {All: true, DropMarkedFD: true},
	}}
	h.setPrefilter(spec)
	before, err := h.c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for len(fds) < 40 { // well past the 16 low fds
		fd, err := unix.Openat(unix.AT_FDCWD, kept, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	if fds[len(fds)-1] < 16 {
		t.Fatalf("fds %v: none above the low ones", fds)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	wfd, err := unix.Openat(unix.AT_FDCWD, watched, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(wfd)
	pid := os.Getpid()
	h.find("close of the watched file's fd", func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysClose && int(ev.PID) == pid && ev.FD == int64(wfd)
	})
	// The kernel reads an fd argument as a 32-bit number: a dup2 onto a
	// kept fd's number with high bits set replaces that fd, and the mark
	// must go with it, or the close of the new file would stay in the
	// kernel too.
	kfd, err := unix.Openat(unix.AT_FDCWD, kept, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	wfd, err = unix.Openat(unix.AT_FDCWD, watched, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_DUP2, uintptr(wfd), uintptr(kfd)|1<<32, 0); e != 0 {
		t.Fatalf("dup2 onto %d with high bits: %v", kfd, e)
	}
	unix.Close(kfd)
	unix.Close(wfd)
	h.find("close of the fd a dup2 with high bits replaced", func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysClose && int(ev.PID) == pid && ev.FD == int64(kfd)
	})
	// close_range closes kept fds without a close: their marks go, so a
	// pipe (not an fd the kernel marks) that takes the number has its
	// close leave the kernel
	kfd, err = unix.Openat(unix.AT_FDCWD, kept, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.CloseRange(uint(kfd), uint(kfd), 0); err != nil {
		t.Fatalf("close_range(%d): %v", kfd, err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if p[0] != kfd && p[1] != kfd {
		t.Fatalf("pipe fds %v: none took the closed number %d", p, kfd)
	}
	unix.Close(p[0])
	unix.Close(p[1])
	cr := h.find("close_range", func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysCloseRange && int(ev.PID) == pid && ev.FD == int64(kfd)
	})
	h.find("close of a pipe fd on a number close_range freed", func(ev *sysevent.Event) bool {
		return ev.Type == sysevent.SysClose && int(ev.PID) == pid && ev.FD == int64(kfd) && ev.Time > cr.Time
	})
	after, err := h.c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	opens := after.FilteredByType[sysevent.SysOpenat] - before.FilteredByType[sysevent.SysOpenat]
	closes := after.FilteredByType[sysevent.SysClose] - before.FilteredByType[sysevent.SysClose]
	if opens < uint64(len(fds)) || closes < uint64(len(fds)) {
		t.Fatalf("kept %d opens and %d closes, want ≥%d each", opens, closes, len(fds))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.evs {
		// (os.WriteFile created it, with O_CREAT, before the filter was set)
		if int(ev.PID) == pid && ev.Type == sysevent.SysOpenat && ev.Target == kept && ev.Flags&unix.O_CREAT == 0 {
			t.Fatalf("an open of %s left the kernel", kept)
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
	pf := h.setPrefilter(spec)
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
