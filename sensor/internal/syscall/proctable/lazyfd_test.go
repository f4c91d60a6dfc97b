package proctable

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// TestResolveFD resolves, from this process's real /proc entry, fds the
// table never saw opened (as when the kernel prefilter kept their opens):
// the path and flags are read once, reused while the fd's inode is the
// same, read again when the number names another file, and a missing fd
// is remembered for negativeTTL.
func TestResolveFD(t *testing.T) {
	clk := &clock{now: time.Unix(0, t0)}
	tb := New(Config{ProcRoot: "/proc", Now: clk.Now})
	pid := int64(os.Getpid())
	ev := func(typ sysevent.Type, fd int64) *sysevent.Event {
		e := &sysevent.Event{Type: typ, PID: uint32(pid), TID: uint32(pid), FD: fd, Time: 1}
		tb.Apply(e)
		return e
	}
	ev(sysevent.SysGetpid, -1) // the process enters the table from /proc, with the fds it has now

	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(a, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	w := ev(sysevent.SysWrite, int64(fd))
	if w.FDInfo != nil {
		t.Fatalf("the table knows fd %d: %+v", fd, w.FDInfo)
	}
	if !tb.ResolveFD(w) || w.FDInfo == nil || w.FDInfo.Name != a || w.FDInfo.Type != sysevent.FDFile {
		t.Fatalf("ResolveFD: %+v, want file %s", w.FDInfo, a)
	}
	if f := w.FDInfo; f.Num != int64(fd) || f.Dir != dir || f.Base != "a" ||
		f.OpenFlags != unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC || f.Ino == 0 {
		t.Fatalf("resolved fd %+v: want num %d, dir %s, base a, flags %#o, an inode", f, fd, dir, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC)
	}
	// Reused while it is the same file.
	w2 := ev(sysevent.SysWrite, int64(fd))
	if !tb.ResolveFD(w2) || w2.FDInfo.Name != a {
		t.Fatalf("second lookup: %+v", w2.FDInfo)
	}
	// The number now names b (its close and open stayed in the kernel).
	fb, err := unix.Open(b, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup2(fb, fd); err != nil {
		t.Fatal(err)
	}
	unix.Close(fb)
	w3 := ev(sysevent.SysRead, int64(fd))
	if !tb.ResolveFD(w3) || w3.FDInfo.Name != b {
		t.Fatalf("after the number was reused: %+v, want %s", w3.FDInfo, b)
	}
	st := tb.Stats()
	if st.FDResolved != 2 || st.FDCached != 1 || st.FDUnresolved != 0 {
		t.Fatalf("stats %+v: want 2 resolved, 1 cached", st)
	}

	// A missing fd: remembered, then looked up again after negativeTTL.
	const missing = 777
	m := ev(sysevent.SysWrite, missing)
	if tb.ResolveFD(m) || m.FDInfo != nil {
		t.Fatalf("fd %d resolved: %+v", missing, m.FDInfo)
	}
	if err := unix.Dup2(fd, missing); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(missing)
	if m := ev(sysevent.SysWrite, missing); tb.ResolveFD(m) {
		t.Fatal("a remembered failure was looked up again")
	}
	clk.Add(negativeTTL)
	if m := ev(sysevent.SysWrite, missing); !tb.ResolveFD(m) || m.FDInfo.Name != b {
		t.Fatalf("after the negative TTL: %+v, want %s", m.FDInfo, b)
	}
	if st := tb.Stats(); st.FDUnresolved != 2 {
		t.Fatalf("stats %+v: want 2 unresolved", st)
	}

	// Known fds, closes and events without an fd are left alone.
	known := ev(sysevent.SysWrite, 1)
	for _, e := range []*sysevent.Event{known, ev(sysevent.SysClose, int64(fd)), ev(sysevent.SysGetpid, -1)} {
		before := e.FDInfo
		if tb.ResolveFD(e) || e.FDInfo != before {
			t.Fatalf("%s fd %d: resolved %+v", e.Type, e.FD, e.FDInfo)
		}
	}
}
