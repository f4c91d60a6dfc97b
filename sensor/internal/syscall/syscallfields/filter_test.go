package syscallfields_test

import (
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
