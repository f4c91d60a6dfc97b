package proctable

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// The kernel prefilter keeps in the kernel the opens that no rule
// condition needs (see engine/prefilter), so an event that does reach
// user space (a write a rule matches by process name, say) can name an fd
// the table never heard of. Its alert should still show the file:
// ResolveFD reads it from /proc the way libsinsp does for fds it never
// saw, once per unknown fd.
//
// The resolution lives beside the fd table, not in it: the kernel also
// drops the closes of the fds whose opens it dropped, so the table would
// never learn that such an fd was closed and its number reused. A cached
// resolution is therefore checked against the fd's inode (one stat of
// /proc/PID/fd/N) before each reuse, and a failed one is retried only
// after negativeTTL.
const (
	// maxLazyFDs bounds the resolutions cached per process; a full cache
	// starts over.
	maxLazyFDs = 64
	// negativeTTL is how long "no such fd" is believed.
	negativeTTL = time.Second
	// oLargefile is set by the kernel on every 64-bit open; /proc's
	// fdinfo reports it, open events do not.
	oLargefile = 0o100000
)

// lazyFD is one cached resolution; fd nil: the fd could not be read.
type lazyFD struct {
	fd       *sysevent.FD
	dev, ino uint64
	at       int64 // wall clock of a failed lookup, ns
}

// ResolveFD sets ev.FDInfo from /proc when the event acts on an fd (its
// fd argument) that the table does not know, and reports whether it did.
// Call it only when the fd matters (an alert is being built for ev) and
// from the worker that applied ev (the process's owner): the cache is the
// owner's. It costs a readlink, a stat and a read of fdinfo the first
// time, a stat when cached, nothing while a failure is remembered.
//
// A close is not resolved (the fd no longer exists, or already names
// another file), nor a socket (whose tuple /proc cannot give cheaply). The
// fd may have been closed, or its number reused, between the event and
// the lookup: as in libsinsp, the name is what the fd is at the lookup.
func (tb *Table) ResolveFD(ev *sysevent.Event) bool {
	if ev.FDInfo != nil || ev.Thread == nil || tb.cfg.ProcRoot == "" || ev.FD < 0 ||
		int(ev.Type) >= len(fdRoles) || fdRoles[ev.Type] != fdArg || ev.Type == sysevent.SysClose {
		return false
	}
	e := tb.get(int64(ev.PID))
	if e == nil || e.t != ev.Thread || e.exitAt.Load() != 0 {
		return false
	}
	link := procPath(tb.cfg.ProcRoot, e.t.Pid, "fd/"+strconv.FormatInt(ev.FD, 10))
	now := tb.cfg.Now().UnixNano()
	c, hit := e.lazy[ev.FD]
	if hit && c.fd == nil && now-c.at < int64(negativeTTL) {
		tb.fdUnresolved.Add(1)
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(link, &st); err != nil {
		tb.remember(e, ev.FD, lazyFD{at: now})
		tb.fdUnresolved.Add(1)
		return false
	}
	if hit && c.fd != nil && c.dev == st.Dev && c.ino == st.Ino {
		ev.FDInfo = c.fd
		tb.fdCached.Add(1)
		return true
	}
	f := readLazyFD(tb.cfg.ProcRoot, e.t.Pid, ev.FD, link, &st)
	if f == nil {
		tb.remember(e, ev.FD, lazyFD{at: now})
		tb.fdUnresolved.Add(1)
		return false
	}
	tb.remember(e, ev.FD, lazyFD{fd: f, dev: st.Dev, ino: st.Ino})
	tb.fdResolved.Add(1)
	ev.FDInfo = f
	return true
}

func (tb *Table) remember(e *entry, fd int64, c lazyFD) {
	if e.lazy == nil || len(e.lazy) >= maxLazyFDs {
		e.lazy = make(map[int64]lazyFD)
	}
	e.lazy[fd] = c
}

// readLazyFD builds the fd from its /proc link and fdinfo; nil when the
// fd is gone or is a socket.
func readLazyFD(root string, pid, num int64, link string, st *syscall.Stat_t) *sysevent.FD {
	target, err := os.Readlink(link)
	if err != nil || strings.HasPrefix(target, "socket:[") {
		return nil
	}
	f := fdFromLink(num, target, func() (*sysevent.FD, bool) { return nil, false })
	if f.Type == sysevent.FDFile {
		f.Ino, f.Dev = st.Ino, uint32(st.Dev)
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			f.Type = sysevent.FDDirectory
		}
	}
	if b, err := os.ReadFile(procPath(root, pid, "fdinfo/"+strconv.FormatInt(num, 10))); err == nil {
		if fl, ok := fdinfoFlags(b); ok {
			f.OpenFlags = fl &^ oLargefile
		}
	}
	return f
}

// fdinfoFlags reads the octal "flags:" line of /proc/PID/fdinfo/N.
func fdinfoFlags(b []byte) (uint32, bool) {
	for line := range bytes.Lines(b) {
		v, ok := bytes.CutPrefix(line, []byte("flags:"))
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 32)
		return uint32(n), err == nil
	}
	return 0, false
}
