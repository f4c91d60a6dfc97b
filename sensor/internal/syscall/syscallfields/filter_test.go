package syscallfields_test

import (
	"net/netip"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/engine/filter"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// TestConditionsOverFields runs conditions through the real condition
// engine, for the fields whose shape matters to it (lists, ancestors,
// networks, flags).
func TestConditionsOverFields(t *testing.T) {
	mk := func(pid int64, parent *sysevent.Thread, comm string, args ...string) *sysevent.Thread {
		th := &sysevent.Thread{Pid: pid}
		th.SetImage(sysevent.NewImage(comm, comm, "/usr/bin/"+comm, args))
		if parent != nil {
			th.SetParent(parent, parent.Pid)
		}
		return th
	}
	init := mk(1, nil, "systemd")
	sshd := mk(10, init, "sshd")
	bash := mk(20, sshd, "bash")
	cat := mk(30, bash, "cat", "/etc/shadow")
	fd := &sysevent.FD{Num: 3, Type: sysevent.FDFile, Name: "/etc/shadow", Dir: "/etc", Base: "shadow"}
	ev := &sysevent.Event{Type: sysevent.SysOpenat, PID: 30, TID: 30, Ret: 3, Flags: 0o1001, Path: "/etc/shadow", Thread: cat, FDInfo: fd}
	env := filter.Env{Registry: syscallfields.Registry()}
	for _, tt := range []struct {
		cond string
		want bool
	}{
		{"proc.aname in (sshd, containerd)", true},
		{"proc.aname = systemd", true},
		{"proc.aname in (cron)", false},
		{"proc.aname[1] = bash", true},
		{"proc.aname[2] in (sshd)", true},
		{"proc.apid = 10", true},
		{"proc.apid[3] = 1", true},
		{"proc.pname = bash and proc.name = cat", true},
		{"evt.arg.flags contains O_TRUNC", true},
		{"evt.arg[flags] contains O_CREAT", false},
		{"evt.is_open_write = true and fd.typechar = 'f' and fd.num >= 0", true},
		{"fd.directory in (/etc) and fd.filename = shadow", true},
		{"evt.type in (open, openat, openat2) and evt.rawres >= 0", true},
		{"evt.res = SUCCESS", true},
		{"user.loginuid = -1", false},
	} {
		e, err := filter.Parse(tt.cond)
		if err != nil {
			t.Fatalf("%s: %v", tt.cond, err)
		}
		f, err := filter.Compile(e, env)
		if err != nil {
			t.Fatalf("%s: %v", tt.cond, err)
		}
		if got := f.Match(ev); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.cond, got, tt.want)
		}
	}
}

// TestEitherEndFields: libsinsp compares fd.ip, fd.net and fd.port with
// either end of the connection (sinsp_filter_check_fd compare_ip/port: =
// and in hold for the client or the server, != for neither).
func TestEitherEndFields(t *testing.T) {
	th := &sysevent.Thread{Pid: 30}
	th.SetImage(sysevent.NewImage("curl", "curl", "/usr/bin/curl", nil))
	conn := &sysevent.FD{Num: 4, Type: sysevent.FDIPv4, L4Proto: sysevent.L4TCP, Connected: true,
		ClientIP: netip.MustParseAddr("10.0.0.5"), ClientPort: 40000, ServerIP: netip.MustParseAddr("192.168.1.9"), ServerPort: 443}
	conn.FinishSocket()
	ev := &sysevent.Event{Type: sysevent.SysConnect, FD: 4, Thread: th, FDInfo: conn}
	listener := &sysevent.FD{Num: 7, Type: sysevent.FDIPv4, L4Proto: sysevent.L4TCP, IsServer: true, Listening: true,
		ServerIP: netip.MustParseAddr("0.0.0.0"), ServerPort: 8080}
	listener.FinishSocket()
	lev := &sysevent.Event{Type: sysevent.SysListen, Thread: th, FDInfo: listener}
	env := filter.Env{Registry: syscallfields.Registry()}
	for _, tt := range []struct {
		ev   *sysevent.Event
		cond string
		want bool
	}{
		{ev, "fd.ip = 10.0.0.5", true},    // the client end
		{ev, "fd.ip = 192.168.1.9", true}, // the server end
		{ev, "fd.ip = 1.2.3.4", false},
		{ev, "fd.ip != 10.0.0.5", false}, // != holds for neither end
		{ev, "fd.ip != 1.2.3.4", true},
		{ev, "fd.ip in (1.2.3.4, 192.168.1.9)", true},
		{ev, "fd.net = 10.0.0.0/8", true},
		{ev, "fd.net = 192.168.0.0/16", true},
		{ev, "fd.net != 192.168.0.0/16", false},
		{ev, "fd.net in (172.16.0.0/12)", false},
		{ev, "fd.port = 443", true},
		{ev, "fd.port = 40000", true},
		{ev, "fd.port in (22, 443)", true},
		{ev, "fd.port != 443", false},
		{ev, "fd.port > 1024", true},
		{lev, "fd.ip = 0.0.0.0 and fd.port = 8080", true},
		{lev, "fd.port = 0", false},
	} {
		e, err := filter.Parse(tt.cond)
		if err != nil {
			t.Fatalf("%s: %v", tt.cond, err)
		}
		f, err := filter.Compile(e, env)
		if err != nil {
			t.Fatalf("%s: %v", tt.cond, err)
		}
		if got := f.Match(tt.ev); got != tt.want {
			t.Errorf("%s on %s = %v, want %v", tt.cond, tt.ev.FDInfo.Name, got, tt.want)
		}
	}
}
