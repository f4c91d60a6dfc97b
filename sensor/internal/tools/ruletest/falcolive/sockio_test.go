package falcolive

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/testkit/livetest"
)

// sockIO makes a TCP connection on loopback and moves bytes over it with
// write, read, sendto, recvfrom, sendmsg and recvmsg (helper action
// "sockio"), printing the accepted socket's local port.
func sockIO() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "sockio:", err); return 1 }
	ls, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return fail(err)
	}
	if err := unix.Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail(err)
	}
	if err := unix.Listen(ls, 1); err != nil {
		return fail(err)
	}
	sa, err := unix.Getsockname(ls)
	if err != nil {
		return fail(err)
	}
	cs, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return fail(err)
	}
	if err := unix.Connect(cs, sa); err != nil {
		return fail(err)
	}
	ss, _, err := unix.Accept(ls)
	if err != nil {
		return fail(err)
	}
	buf := make([]byte, 16)
	steps := []func() error{
		func() error { _, err := unix.Write(cs, []byte("ping")); return err },
		func() error { _, err := unix.Read(ss, buf); return err },
		func() error { return unix.Sendto(cs, []byte("pong"), 0, nil) },
		func() error { _, _, err := unix.Recvfrom(ss, buf, 0); return err },
		func() error { _, err := unix.SendmsgN(cs, []byte("msg!"), nil, nil, 0); return err },
		func() error { _, _, _, _, err := unix.Recvmsg(ss, buf, nil, 0); return err },
		func() error { _, err := unix.IoctlGetInt(ss, unix.SIOCINQ); return err },
		func() error { var st unix.Stat_t; return unix.Fstat(ss, &st) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fail(err)
		}
	}
	fmt.Println(sa.(*unix.SockaddrInet4).Port)
	return 0
}

// TestSocketIOFDLive: recvfrom, recvmsg, ioctl and fstat (like read,
// write and the rest of the family, decoded the same way) name the fd they
// work on, and fd.* describes that socket (its tuple, fd.sip, fd.l4proto),
// as libsinsp decodes the fd argument, not fd 0. The rule avoids read and
// write: every process's reads would flood the capture on a busy machine.
func TestSocketIOFDLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads BPF programs into the kernel")
	}
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "sockio.yaml")
	write(t, rulesFile, `
- rule: Socket IO by sockio
  desc: I/O on an IPv4 socket by the test helper
  condition: evt.type in (recvfrom, recvmsg, ioctl, fstat) and proc.name = sockio and fd.typechar = 4 and fd.sip = 127.0.0.1 and fd.l4proto = tcp
  output: io %evt.type fd=%evt.arg.fd name=%fd.name sip=%fd.sip
  priority: NOTICE
`, 0o644)
	s, err := livetest.Start(livetest.Options{RuleFiles: []string{rulesFile}, KeepAlerts: true, TrackExits: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the pipeline: %v", err)
		}
	})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, tmp: t.TempDir(), exe: exe}
	pid := e.helper(t, "sockio", "sockio")
	for _, typ := range []string{"recvfrom", "recvmsg", "ioctl", "fstat"} {
		a, ok := s.Wait("Socket IO by sockio", func(a livetest.Alert) bool {
			return a.PID == int64(pid) && strings.Contains(a.Output(), " io "+typ+" ")
		}, waitFor)
		if !ok {
			if lost := s.Counters().Lost(); lost > 0 {
				t.Skipf("the capture lost %d events under load", lost)
			}
			t.Fatalf("no alert for %s on the socket; alerts:\n%s", typ, dump(s))
		}
		if out := a.Output(); !strings.Contains(out, "name=127.0.0.1:") || strings.Contains(out, "fd=0 ") {
			t.Errorf("%s: fd.* does not describe the socket: %s", typ, out)
		}
	}
}
