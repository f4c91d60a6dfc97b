package bpfcapture

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestSocketSyscalls(t *testing.T) {
	h := startCapture(t, Options{}, "socket", "connect", "accept", "accept4", "bind", "listen", "sendto", "sendmsg")
	self := os.Getpid()
	lo := netip.MustParseAddr("127.0.0.1")

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	conn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	defer srv.Close()
	cport := uint16(conn.LocalAddr().(*net.TCPAddr).Port)

	sock := h.find("socket(AF_INET, SOCK_STREAM)", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysSocket && int(e.PID) == self && e.Sock.Family == sysevent.AFInet && e.Sock.Type == sysevent.SockStream
	})
	if sock.Ret < 0 {
		t.Errorf("socket: %+v", sock)
	}
	bind := h.find("bind", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysBind && int(e.PID) == self && e.Sock.Family == sysevent.AFInet && e.Ret == 0
	})
	if bind.Sock.IP != lo || bind.Local.Port != port {
		t.Errorf("bind: sock %v local %v, want port %d", bind.Sock, bind.Local, port)
	}
	listen := h.findType("listen", self, "")
	// Go listens with MPTCP by default since 1.24, where the kernel has it
	if listen.Local.Port != port || listen.Local.IP != lo || (listen.Local.Proto != unix.IPPROTO_TCP && listen.Local.Proto != unix.IPPROTO_MPTCP) {
		t.Errorf("listen: local %#v", listen.Local)
	}
	co := h.find("connect", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysConnect && int(e.PID) == self && e.Sock.Port == port
	})
	if co.Sock.IP != lo || co.Local.IP != lo || co.Local.Port != cport || (co.Ret != 0 && co.Ret != -int64(unix.EINPROGRESS)) ||
		co.Sock.Proto != unix.IPPROTO_TCP || co.Sock.Type != sysevent.SockStream {
		t.Errorf("connect: ret %d sock %+v local %+v, want local port %d", co.Ret, co.Sock, co.Local, cport)
	}
	ac := h.find("accept", func(e *sysevent.Event) bool {
		return (e.Type == sysevent.SysAccept4 || e.Type == sysevent.SysAccept) && int(e.PID) == self && e.Ret >= 0
	})
	if ac.Sock.IP != lo || ac.Sock.Port != cport || ac.Local.Port != port || ac.FD < 0 {
		t.Errorf("accept: sock %+v local %+v fd %d", ac.Sock, ac.Local, ac.FD)
	}

	// UDP: sendto with an address, sendmsg with an address, sendto connected
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	dst := u.LocalAddr().(*net.UDPAddr)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrInet4{Port: dst.Port, Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Sendto(fd, []byte("x"), 0, sa); err != nil {
		t.Fatal(err)
	}
	st := h.find("sendto", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysSendto && int(e.PID) == self && e.FD == int64(fd)
	})
	if st.Sock.IP != lo || int(st.Sock.Port) != dst.Port || st.Ret != 1 {
		t.Errorf("sendto: %+v ret %d", st.Sock, st.Ret)
	}
	if err := unix.Sendmsg(fd, []byte("yz"), nil, sa, 0); err != nil {
		t.Fatal(err)
	}
	sm := h.find("sendmsg", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysSendmsg && int(e.PID) == self && e.FD == int64(fd)
	})
	if sm.Sock.IP != lo || int(sm.Sock.Port) != dst.Port || sm.Ret != 2 {
		t.Errorf("sendmsg: %+v ret %d", sm.Sock, sm.Ret)
	}
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Sendto(fd, []byte("abc"), 0, nil); err != nil {
		t.Fatal(err)
	}
	sc := h.find("sendto on a connected socket", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysSendto && int(e.PID) == self && e.FD == int64(fd) && e.Ret == 3
	})
	if sc.Sock.IP != lo || int(sc.Sock.Port) != dst.Port || sc.Local.IP != lo || sc.Local.Port == 0 || sc.Sock.Proto != unix.IPPROTO_UDP {
		t.Errorf("connected sendto: sock %+v local %+v", sc.Sock, sc.Local)
	}

	// IPv6 loopback
	if c6, err := net.Dial("tcp6", net.JoinHostPort("::1", "1")); err == nil {
		c6.Close()
	}
	c6 := h.find("connect to [::1]:1", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysConnect && int(e.PID) == self && e.Sock.Family == sysevent.AFInet6 && e.Sock.Port == 1
	})
	if c6.Sock.IP != netip.IPv6Loopback() {
		t.Errorf("connect6: %+v", c6.Sock)
	}

	// unix sockets: the path
	path := filepath.Join(t.TempDir(), "harrier.sock")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	if uc, err := net.Dial("unix", path); err == nil {
		uc.Close()
	}
	ucon := h.find("unix connect", func(e *sysevent.Event) bool {
		return e.Type == sysevent.SysConnect && int(e.PID) == self && e.Sock.Family == sysevent.AFUnix
	})
	if ucon.Sock.Path != path || ucon.Ret != 0 {
		t.Errorf("unix connect: %+v", ucon.Sock)
	}
}
