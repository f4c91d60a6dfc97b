package falcolive

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/testkit/livetest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// mptcpPair listens and dials on loopback with MPTCP (Go's default for
// listeners; forced here for both ends), then exchanges a byte.
func mptcpPair() int {
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close()
	accepted := make(chan bool, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- false
			return
		}
		_, _ = c.Write([]byte("x"))
		c.Close()
		accepted <- true
	}()
	var d net.Dialer
	d.SetMultipathTCP(true)
	c, err := d.Dial("tcp4", l.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	buf := make([]byte, 1)
	_, _ = c.Read(buf)
	mp, _ := c.(*net.TCPConn).MultipathTCP()
	c.Close()
	if !<-accepted {
		return 1
	}
	fmt.Println("mptcp:", mp)
	return 0
}

// MPTCP sockets (protocol 262) are tcp to the rules: fd.l4proto, and the
// stable rules' fd.l4proto=tcp conditions, hold for them. A rule file of
// this test's own checks connect and accept on MPTCP sockets.
func TestMPTCPSocketsAreTCPLive(t *testing.T) {
	require.Root(t, "needs root: loads BPF programs into the kernel")
	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil || strings.TrimSpace(string(b)) != "1" {
		require.Missing(t, "MPTCP is not enabled in this kernel (net.mptcp.enabled)")
	}
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "mptcp.yaml")
	write(t, rulesFile, `
- rule: Test tcp connection by mptcp-pair
  desc: connect and accept of a tcp socket by the test helper
  condition: evt.type in (connect, accept, accept4) and (evt.rawres >= 0 or evt.res = EINPROGRESS) and fd.l4proto = tcp and fd.typechar = 4 and proc.name = mptcp-pair
  output: tcp %evt.type proto=%fd.l4proto connection=%fd.name
  priority: NOTICE
`, 0o644)
	s, err := livetest.Start(livetest.Options{RuleFiles: []string{rulesFile}, KeepAlerts: true, TrackExits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	exe, _ := os.Executable()
	e := &env{s: s, tmp: dir, exe: exe}
	pid := e.helper(t, "mptcp-pair", "mptcp-pair")
	for _, ty := range []string{"connect", "accept"} {
		a, ok := s.Wait("Test tcp connection by mptcp-pair", func(a livetest.Alert) bool {
			return a.PID == int64(pid) && strings.Contains(a.Output(), ": Notice tcp "+ty)
		}, waitFor)
		if !ok {
			if lost := s.Counters().Lost(); lost > 0 {
				t.Skipf("the capture lost %d events under load", lost)
			}
			t.Fatalf("no tcp %s on an MPTCP socket; alerts: %v", ty, s.Find("", livetest.ByPID(pid)))
		}
		t.Log(a.Output())
		// Both ends have the whole tuple: client port -> server port.
		if !regexp.MustCompile(`connection=127\.0\.0\.1:\d+->127\.0\.0\.1:\d+`).MatchString(a.Output()) {
			t.Errorf("%s on an MPTCP socket: incomplete tuple in %q", ty, a.Output())
		}
	}
}
