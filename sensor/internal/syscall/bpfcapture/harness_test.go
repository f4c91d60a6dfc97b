package bpfcapture

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/kfilter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// The test binary doubles as a helper process: with HARRIER_HELPER set it
// performs the named actions (syscalls that would disturb the test
// process, such as setuid or unshare) and exits.
func TestMain(m *testing.M) {
	if action := os.Getenv("HARRIER_HELPER"); action != "" {
		os.Exit(helper(action, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func requireRoot(t testing.TB) {
	t.Helper()
	require.Root(t, "needs root: loads BPF programs into the kernel")
}

// harness runs a capture of the named syscalls and keeps copies of the
// events of this process and its descendants' pids passed to want.
type harness struct {
	t      testing.TB
	c      *Capture
	cancel context.CancelFunc
	done   chan error

	mu  sync.Mutex
	evs []sysevent.Event
}

func startCapture(t testing.TB, opts Options, names ...string) *harness {
	t.Helper()
	requireRoot(t)
	if opts.IgnorePID == 0 {
		opts.IgnorePID = -1 // the test process is the one doing the syscalls
	}
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	var types []sysevent.Type
	for _, n := range names {
		ty, ok := sysevent.TypeByName(n)
		if !ok {
			t.Fatalf("unknown syscall %q", n)
		}
		types = append(types, ty)
	}
	if err := c.SetInterest(types); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, c: c, cancel: cancel, done: make(chan error, 1)}
	go func() {
		h.done <- c.Run(ctx, func(ev *sysevent.Event) {
			h.mu.Lock()
			h.evs = append(h.evs, *ev)
			h.mu.Unlock()
		})
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.cancel = nil
	if err := h.c.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
}

// find waits up to 5 s for an event matching all conditions.
func (h *harness) find(desc string, match func(*sysevent.Event) bool) sysevent.Event {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		for i := range h.evs {
			if match(&h.evs[i]) {
				ev := h.evs[i]
				h.mu.Unlock()
				return ev
			}
		}
		n := len(h.evs)
		h.mu.Unlock()
		if time.Now().After(deadline) {
			h.t.Fatalf("no %s among %d events:\n%s", desc, n, h.dump())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setPrefilter compiles spec and loads it into the capture; the compiled
// filter is the Go model of the kernel's decisions.
func (h *harness) setPrefilter(spec *kfilter.Spec) *kfilter.Compiled {
	h.t.Helper()
	pf, err := spec.Compile()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.c.SetPrefilter(pf); err != nil {
		h.t.Fatal(err)
	}
	return pf
}

// findType waits for an event of type name from pid whose Path is path
// (any path when path is "").
func (h *harness) findType(name string, pid int, path string) sysevent.Event {
	h.t.Helper()
	ty, _ := sysevent.TypeByName(name)
	return h.find(fmt.Sprintf("%s by %d on %q", name, pid, path), func(e *sysevent.Event) bool {
		return e.Type == ty && int(e.PID) == pid && (path == "" || e.Path == path)
	})
}

func (h *harness) dump() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	self := uint32(os.Getpid())
	n := 0
	for i := range h.evs {
		e := &h.evs[i]
		if e.PID != self && n > 40 {
			continue
		}
		n++
		fmt.Fprintf(&b, "  %s pid=%d tid=%d ret=%d path=%q path2=%q target=%q fd=%d argv=%q\n",
			e.Type, e.PID, e.TID, e.Ret, e.Path, e.Path2, e.Target, e.FD, e.Argv)
		if n > 80 {
			break
		}
	}
	return b.String()
}

// helper performs one action in a child process; see TestMain.
func helper(action string, args []string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", action, err)
		return 1
	}
	switch action {
	case "setuid":
		// raw syscalls: only this thread, and the process exits right away
		if _, _, e := unix.RawSyscall(unix.SYS_SETGID, 65534, 0, 0); e != 0 {
			return fail(e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 65534, 65534, 65534); e != 0 {
			return fail(e)
		}
	case "capset":
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return fail(err)
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafePointer(&hdr)), uintptr(unsafePointer(&data[0])), 0); e != 0 {
			return fail(e)
		}
	case "unshare":
		// results are not checked: a sandbox may refuse both (EPERM)
		unix.RawSyscall(unix.SYS_UNSHARE, unix.CLONE_NEWUTS, 0, 0)
		fd, err := unix.Open("/proc/self/ns/uts", unix.O_RDONLY, 0)
		if err != nil {
			return fail(err)
		}
		unix.RawSyscall(unix.SYS_SETNS, uintptr(fd), unix.CLONE_NEWUTS, 0)
	case "traceme":
		if _, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0); e != 0 {
			return fail(e)
		}
	case "execveat":
		dir, err := unix.Open("/usr/bin", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return fail(err)
		}
		argv := []*byte{bptr("true"), bptr("from-execveat"), nil}
		envv := []*byte{bptr("HARRIER=1"), nil}
		_, _, e := unix.RawSyscall6(unix.SYS_EXECVEAT, uintptr(dir), uintptr(unsafePointer(bptr("true"))),
			uintptr(unsafePointer(&argv[0])), uintptr(unsafePointer(&envv[0])), 0, 0)
		return fail(e)
	case "execveat-abs":
		// an absolute path at AT_FDCWD with a flag: to the kernel's exec it
		// is an execve, only the registers at entry tell them apart
		argv := []*byte{bptr("true"), bptr("from-execveat-abs"), nil}
		envv := []*byte{bptr("HARRIER=1"), nil}
		atFDCWD := unix.AT_FDCWD
		_, _, e := unix.RawSyscall6(unix.SYS_EXECVEAT, uintptr(atFDCWD), uintptr(unsafePointer(bptr("/usr/bin/true"))),
			uintptr(unsafePointer(&argv[0])), uintptr(unsafePointer(&envv[0])), unix.AT_SYMLINK_NOFOLLOW, 0)
		return fail(e)
	case "execveat-check":
		// AT_EXECVE_CHECK (Linux 6.14+): may /usr/bin/true run? 0, and no
		// exec: the helper goes on and exits 0
		argv := []*byte{bptr("true"), bptr("from-execveat-check"), nil}
		envv := []*byte{bptr("HARRIER=1"), nil}
		atFDCWD := unix.AT_FDCWD
		if _, _, e := unix.RawSyscall6(unix.SYS_EXECVEAT, uintptr(atFDCWD), uintptr(unsafePointer(bptr("/usr/bin/true"))),
			uintptr(unsafePointer(&argv[0])), uintptr(unsafePointer(&envv[0])), sysevent.AtExecveCheck, 0); e != 0 {
			return fail(e)
		}
	case "forks":
		// fork, vfork and clone3 by hand; each child exits at once
		// struct clone_args: 11 u64s, exit_signal is the fifth
		var ca [11]uint64
		ca[4] = uint64(unix.SIGCHLD)
		for _, nr := range []uintptr{unix.SYS_FORK, unix.SYS_VFORK, unix.SYS_CLONE3} {
			var r uintptr
			var e syscall.Errno
			if nr == unix.SYS_CLONE3 {
				r, _, e = syscall.RawSyscall(nr, uintptr(unsafePointer(&ca)), unsafe.Sizeof(ca), 0)
			} else {
				r, _, e = syscall.RawSyscall(nr, 0, 0, 0)
			}
			if e != 0 {
				return fail(e)
			}
			if r == 0 {
				syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
			}
			var ws unix.WaitStatus
			unix.Wait4(int(r), &ws, 0, nil)
			fmt.Println(r)
		}
	case "threadexit":
		// the main thread ends alone; the runtime's other threads live on
		// until the test kills the process
		syscall.RawSyscall(unix.SYS_EXIT, 3, 0, 0)
	case "open-unprivileged":
		// drop root on this thread only (raw syscall), then try to load
		runtime.LockOSThread()
		if _, _, e := syscall.RawSyscall(unix.SYS_SETRESUID, 65534, 65534, 65534); e != 0 {
			return fail(e)
		}
		_, err := Open(Options{RingBytes: 1 << 20})
		fmt.Println(err)
	case "threadexec":
		// exec from a thread that is not the group leader: the kernel
		// gives the new image the leader's pid
		runtime.LockOSThread() // keep the main goroutine on the main thread
		errc := make(chan error)
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				errc <- fmt.Errorf("on the main thread")
				return
			}
			fmt.Println(unix.Gettid())
			os.Stdout.Sync()
			errc <- syscall.Exec("/bin/true", []string{"true", "from-a-thread"}, nil)
		}()
		return fail(<-errc)
	case "closeloop":
		n, _ := strconv.Atoi(os.Getenv("HARRIER_N"))
		for i := 0; i < n; i++ {
			unix.RawSyscall(unix.SYS_CLOSE, ^uintptr(0), 0, 0)
		}
	case "exit":
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 7, 0, 0)
	default:
		return fail(fmt.Errorf("unknown action"))
	}
	return 0
}

func bptr(s string) *byte {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return p
}

func lockAndRun(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f()
}
