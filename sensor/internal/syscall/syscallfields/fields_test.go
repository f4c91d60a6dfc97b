package syscallfields

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

const t0 = int64(1_700_000_000_123_456_789) // 2023-11-14T22:13:20.123456789Z

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "users")
	if err != nil {
		panic(err)
	}
	os.WriteFile(filepath.Join(dir, "passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n# c\nalice:x:1000:1000::/home/alice:/bin/zsh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "group"), []byte("root:x:0:\nstaff:x:50:\nalice:x:1000:\n"), 0o644)
	Users = &proctable.UserDB{PasswdPath: filepath.Join(dir, "passwd"), GroupPath: filepath.Join(dir, "group"), ReloadEvery: 1 << 62}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc builds a process for the tests.
func proc(pid int64, parent *sysevent.Thread, comm, exe, exePath string, args ...string) *sysevent.Thread {
	t := &sysevent.Thread{Pid: pid, VPid: pid, StartTime: t0 - 10e9}
	im := sysevent.NewImage(comm, exe, exePath, args)
	t.SetImage(im)
	ppid := int64(0)
	if parent != nil {
		ppid = parent.Pid
	}
	t.SetParent(parent, ppid)
	t.SetSession(pid, pid)
	t.Creds.LoginUID = sysevent.NoLoginUID
	t.Threads.Store(1)
	return t
}

type tree struct {
	init, sshd, bash, cat, web *sysevent.Thread
}

func newTree() *tree {
	var tr tree
	tr.init = proc(1, nil, "systemd", "/sbin/init", "/usr/lib/systemd/systemd")
	tr.sshd = proc(500, tr.init, "sshd", "sshd", "/usr/sbin/sshd", "-D")
	tr.sshd.StartTime = t0 - 100e9
	tr.bash = proc(600, tr.sshd, "bash", "-bash", "/usr/bin/bash")
	tr.bash.TTY = 34816
	tr.cat = proc(700, tr.bash, "cat", "cat", "/usr/bin/cat", "/etc/shadow", "-n")
	tr.cat.SetSession(600, 700)
	tr.cat.Cwd = "/root/"
	tr.cat.TTY = 34816
	tr.cat.Creds = sysevent.Creds{UID: 1000, EUID: 0, GID: 1000, EGID: 50, LoginUID: 1000,
		CapEffective: 1<<21 | 1<<0, CapPermitted: 1 << 21}
	im := *tr.cat.Image()
	im.Env = []string{"HOME=/root", "PATH=/bin"}
	im.ExeIno, im.ExeCtime, im.ExeMtime = 1234, t0-20e9, t0-30e9
	im.ExeUpperLayer = true
	tr.cat.SetImage(&im)
	tr.bash.Children.Store(1)

	tr.web = proc(800, tr.init, "nginx", "nginx", "/usr/sbin/nginx")
	priv := true
	tr.web.SetContainer(&sysevent.Container{ID: "3f1c2d4e5a6b", FullID: "3f1c2d4e5a6b77", Type: "containerd",
		Name: "web", Image: "docker.io/library/nginx:1.25", ImageRepo: "docker.io/library/nginx", ImageTag: "1.25",
		Privileged: &priv, StartTS: t0 - 60e9, PodName: "web-0", PodNamespace: "prod", PodUID: "uid-1",
		PodLabels: map[string]string{"app": "web", "tier": "front"}})
	return &tr
}

// val extracts name (with arg) from ev and renders it: "<NA>" when absent,
// lists as [a b], numbers in decimal.
func val(t *testing.T, name string, ev *sysevent.Event) string {
	t.Helper()
	def, dotArg, ok := Registry().Lookup(name)
	arg := dotArg
	if !ok {
		if i := strings.IndexByte(name, '['); i > 0 {
			def, _, ok = Registry().Lookup(name[:i])
			arg = strings.TrimSuffix(name[i+1:], "]")
		}
	}
	if !ok {
		t.Fatalf("no field %s", name)
	}
	ex, err := def.Bind(arg)
	if err != nil {
		t.Fatalf("bind %s: %v", name, err)
	}
	var v fields.Value
	if !ex(ev, &v) {
		return "<NA>"
	}
	if v.Kind != def.Kind {
		t.Errorf("%s: value kind %v, registered %v", name, v.Kind, def.Kind)
	}
	if v.IsList {
		if len(v.Ints) > 0 {
			return fmt.Sprint(v.Ints)
		}
		return "[" + strings.Join(v.Strs, " ") + "]"
	}
	switch v.Kind {
	case fields.KindString:
		return v.Str
	case fields.KindInt, fields.KindAbsTime, fields.KindRelTime:
		return fmt.Sprint(v.Int)
	case fields.KindUint, fields.KindPort:
		return fmt.Sprint(v.Uint)
	case fields.KindBool:
		return fmt.Sprint(v.Bool)
	case fields.KindIP:
		return v.IP.String()
	case fields.KindIPNet:
		return v.Net.String()
	}
	return "?"
}

type fieldCase struct{ field, want string }

func check(t *testing.T, ev *sysevent.Event, cases []fieldCase) {
	t.Helper()
	for _, c := range cases {
		if got := val(t, c.field, ev); got != c.want {
			t.Errorf("%s %s = %q, want %q", ev.Type, c.field, got, c.want)
		}
	}
}

func fileFD(num int64, path string) *sysevent.FD {
	f := &sysevent.FD{Num: num, Type: sysevent.FDFile, Name: path}
	i := strings.LastIndexByte(path, '/')
	f.Dir, f.Base = path[:max(i, 1)], path[i+1:]
	return f
}

func TestProcFields(t *testing.T) {
	tr := newTree()
	ev := &sysevent.Event{Type: sysevent.SysOpenat, Time: t0, Num: 42, CPU: 1, TID: 701, PID: 700, Ret: 3,
		Path: "/etc/shadow", Target: "/etc/shadow", Flags: 0o2000000, Thread: tr.cat, FDInfo: fileFD(3, "/etc/shadow")}
	tr.cat.FDs.Set(&sysevent.FD{Num: 0, Type: sysevent.FDPipe, Name: "pipe:[77]"})
	tr.cat.FDs.Set(&sysevent.FD{Num: 1, Type: sysevent.FDIPv4, Name: "10.0.0.1:4444->10.0.0.2:80"})
	check(t, ev, []fieldCase{
		{"proc.stdin.type", "pipe"}, {"proc.stdin.name", "pipe:[77]"}, {"proc.stdout.type", "ipv4"},
		{"proc.stdout.name", "10.0.0.1:4444->10.0.0.2:80"}, {"proc.stderr.type", "<NA>"},
		{"proc.name", "cat"}, {"proc.exe", "cat"}, {"proc.exepath", "/usr/bin/cat"},
		{"proc.args", "/etc/shadow -n"}, {"proc.cmdline", "cat /etc/shadow -n"},
		{"proc.exeline", "cat /etc/shadow -n"}, {"proc.cmdnargs", "2"}, {"proc.cmdlenargs", "13"},
		{"proc.cwd", "/root/"}, {"proc.env", "HOME=/root PATH=/bin"}, {"proc.env[PATH]", "/bin"},
		{"proc.env[NOPE]", "<NA>"}, {"proc.pid", "700"}, {"proc.ppid", "600"}, {"proc.vpid", "700"},
		{"proc.pvpid", "600"}, {"proc.sid", "600"}, {"proc.vpgid", "700"},
		{"proc.sname", "bash"}, {"proc.sid.exe", "-bash"}, {"proc.sid.exepath", "/usr/bin/bash"},
		{"proc.vpgid.name", "cat"}, {"proc.vpgid.exe", "cat"}, {"proc.is_sid_leader", "false"},
		{"proc.is_vpgid_leader", "true"}, {"proc.tty", "34816"}, {"proc.loginshellid", "600"},
		{"proc.duration", "10000000000"}, {"proc.ppid.duration", "10000000000"},
		{"proc.pid.ts", fmt.Sprint(t0 - 10e9)}, {"proc.is_exe_upper_layer", "true"},
		{"proc.is_exe_from_memfd", "false"}, {"proc.is_exe_writable", "false"}, {"proc.exe_ino", "1234"},
		{"proc.exe_ino.ctime", fmt.Sprint(t0 - 20e9)}, {"proc.exe_ino.mtime", fmt.Sprint(t0 - 30e9)},
		{"proc.exe_ino.ctime_duration_proc_start", "10000000000"}, {"proc.nthreads", "1"},
		{"proc.pname", "bash"}, {"proc.pexe", "-bash"}, {"proc.pexepath", "/usr/bin/bash"},
		{"proc.pcmdline", "bash"}, {"proc.aname", "[bash sshd systemd]"}, {"proc.aname[0]", "cat"},
		{"proc.aname[1]", "bash"}, {"proc.aname[2]", "sshd"}, {"proc.aname[3]", "systemd"},
		{"proc.aname[4]", "<NA>"}, {"proc.aexepath[2]", "/usr/sbin/sshd"}, {"proc.aexe[1]", "-bash"},
		{"proc.acmdline[2]", "sshd -D"}, {"proc.apid", "[600 500 1]"}, {"proc.apid[2]", "500"},
		{"proc.apid[0]", "700"},
		{"thread.tid", "701"}, {"thread.ismain", "false"},
		{"thread.cap_effective", "CAP_CHOWN CAP_SYS_ADMIN"}, {"thread.cap_permitted", "CAP_SYS_ADMIN"},
		{"thread.cap_inheritable", ""},
		{"user.uid", "0"}, {"user.name", "root"}, {"user.homedir", "/root"}, {"user.shell", "/bin/bash"},
		{"user.loginuid", "1000"}, {"user.loginname", "alice"}, {"group.gid", "50"}, {"group.name", "staff"},
		{"container.id", "host"}, {"container.name", "host"}, {"container.type", "host"},
		{"container.image.repository", "<NA>"}, {"container.privileged", "<NA>"}, {"k8s.ns.name", "<NA>"},
	})
	// names resolved by the process table win over the host database
	tr.cat.Creds.Names = sysevent.UserNames{User: "www-data", Home: "/var/www", Shell: "/usr/sbin/nologin", Group: "www", Login: "bob"}
	check(t, ev, []fieldCase{{"user.name", "www-data"}, {"user.homedir", "/var/www"}, {"user.shell", "/usr/sbin/nologin"},
		{"group.name", "www"}, {"user.loginname", "bob"}, {"user.uid", "0"}})
	// a process outside a login session, unknown user
	tr.bash.Creds = sysevent.Creds{EUID: 4242, EGID: 4242, LoginUID: sysevent.NoLoginUID}
	ev2 := &sysevent.Event{Type: sysevent.SysRead, Time: t0, TID: 600, PID: 600, Thread: tr.bash}
	check(t, ev2, []fieldCase{
		{"user.loginuid", "-1"}, {"user.loginname", "<NA>"}, {"user.name", "<NA>"}, {"group.name", "<NA>"},
		{"thread.ismain", "true"}, {"proc.is_sid_leader", "true"}, {"proc.sname", "bash"},
		{"proc.aname[1]", "sshd"}, {"proc.nchilds", "1"}, {"proc.args", ""}, {"proc.exeline", "-bash"},
		{"proc.env", "<NA>"},
	})
	// no thread at all: process fields have no value, evt fields do
	ev3 := &sysevent.Event{Type: sysevent.SysRead, Time: t0, TID: 9, PID: 9}
	check(t, ev3, []fieldCase{{"proc.name", "<NA>"}, {"proc.pid", "9"}, {"proc.aname", "<NA>"},
		{"user.uid", "<NA>"}, {"user.name", "<NA>"}, {"user.loginname", "<NA>"}, {"group.name", "<NA>"}, {"container.id", "<NA>"}, {"evt.type", "read"}})
}

func TestContainerFields(t *testing.T) {
	tr := newTree()
	ev := &sysevent.Event{Type: sysevent.SysExecve, Time: t0, TID: 800, PID: 800, Thread: tr.web}
	check(t, ev, []fieldCase{
		{"container.id", "3f1c2d4e5a6b"}, {"container.full_id", "3f1c2d4e5a6b77"}, {"container.name", "web"},
		{"container.type", "containerd"}, {"container.image", "docker.io/library/nginx:1.25"},
		{"container.image.repository", "docker.io/library/nginx"}, {"container.image.tag", "1.25"},
		{"container.privileged", "true"}, {"container.start_ts", fmt.Sprint(t0 - 60e9)},
		{"container.duration", "60000000000"}, {"k8s.pod.name", "web-0"}, {"k8s.ns.name", "prod"},
		{"k8s.pod.uid", "uid-1"}, {"k8s.pod.label[app]", "web"}, {"k8s.pod.label.tier", "front"},
		{"k8s.pod.labels", "app:web, tier:front"}, {"k8s.pod.label[none]", "<NA>"},
		{"container.image.digest", "<NA>"}, {"container.mounts", "<NA>"}, {"container.mount.dest[/proc*]", "<NA>"},
		{"container.host_pid", "<NA>"}, {"container.info", ""},
	})

	yes, no := true, false
	full := &sysevent.Container{ID: "0123456789ab", FullID: "0123456789abcdef", Type: "containerd",
		ImageDigest: "sha256:aa", HostNetwork: &yes, HostPID: &no, IP: "10.1.2.3", CNIJSON: `{"ips":[]}`,
		PodSandboxID: "fedcba9876543210", Labels: map[string]string{"io.kubernetes.container.name": "app"},
		Mounts: []sysevent.Mount{
			{Source: "/proc", Dest: "/host/proc", Mode: "ro", Propagation: "rprivate"},
			{Source: "/var/run/docker.sock", Dest: "/var/run/docker.sock", RW: true, Propagation: "rprivate"},
		}}
	th := &sysevent.Thread{}
	th.SetContainer(full)
	ev2 := &sysevent.Event{Type: sysevent.TypeContainer, Time: t0, Thread: th}
	check(t, ev2, []fieldCase{
		{"evt.type", "container"},
		{"container.image.digest", "sha256:aa"}, {"container.host_network", "true"}, {"container.host_pid", "false"},
		{"container.host_ipc", "<NA>"}, {"container.ip", "10.1.2.3"}, {"k8s.pod.ip", "10.1.2.3"},
		{"k8s.pod.cni.json", `{"ips":[]}`}, {"k8s.pod.sandbox_id", "fedcba987654"},
		{"k8s.pod.full_sandbox_id", "fedcba9876543210"}, {"container.labels", "io.kubernetes.container.name:app"},
		{"container.mounts", "/proc:/host/proc:ro:false:rprivate,/var/run/docker.sock:/var/run/docker.sock::true:rprivate"},
		{"container.mount[0]", "/proc:/host/proc:ro:false:rprivate"}, {"container.mount[7]", "none"},
		{"container.mount[/etc]", "none"}, {"container.mount.dest[/proc*]", "/host/proc"},
		{"container.mount.dest[/var/run/docker.sock]", "/var/run/docker.sock"}, {"container.mount.dest[/etc]", "<NA>"},
		{"container.mount.source[/host/*]", "/proc"}, {"container.mount.source[1]", "/var/run/docker.sock"},
		{"container.mount.mode[/proc]", "ro"}, {"container.mount.rdwr[1]", "true"}, {"container.mount.rdwr[/proc]", "false"},
		{"container.mount.propagation[0]", "rprivate"}, {"container.healthcheck", "<NA>"},
	})
}

// TestContainerFieldArgs: bad mount arguments are load errors.
func TestContainerFieldArgs(t *testing.T) {
	for _, name := range []string{"container.mount[-1]", "container.mount.dest[[a]", "container.mount.dest"} {
		def, arg, ok := Registry().Lookup(name)
		if !ok {
			if i := strings.IndexByte(name, '['); i > 0 {
				def, _, ok = Registry().Lookup(name[:i])
				arg = strings.TrimSuffix(name[i+1:], "]")
			}
		}
		if !ok {
			t.Fatalf("%s: not registered", name)
		}
		if def.Arg != fields.ArgRequired {
			t.Errorf("%s: argument not required", name)
		}
		if arg == "" {
			continue
		}
		if _, err := def.Bind(arg); err == nil {
			t.Errorf("%s: bound without error", name)
		}
	}
}

func TestEvtFields(t *testing.T) {
	tr := newTree()
	open := &sysevent.Event{Type: sysevent.SysOpenat, Time: t0, Num: 42, CPU: 1, TID: 700, PID: 700, Ret: 3,
		FD: sysevent.AtFDCWD, Path: "/etc/shadow", Target: "shadow", Flags: 0o2000000, Thread: tr.cat,
		FDInfo: fileFD(3, "/etc/shadow")}
	check(t, open, []fieldCase{
		{"evt.num", "42"}, {"evt.type", "openat"}, {"evt.dir", "<"}, {"evt.cpu", "1"},
		{"evt.rawtime", fmt.Sprint(t0)}, {"evt.rawtime.s", "1700000000"}, {"evt.rawtime.ns", "123456789"},
		{"evt.time", "22:13:20.123456789"}, {"evt.time.s", "22:13:20"},
		{"evt.time.iso8601", "2023-11-14T22:13:20.123456789Z"},
		{"evt.datetime", "2023-11-14 22:13:20.123456789"}, {"evt.source", "syscall"},
		{"evt.res", "SUCCESS"}, {"evt.rawres", "3"}, {"evt.failed", "false"},
		{"evt.is_open_read", "true"}, {"evt.is_open_write", "false"}, {"evt.is_open_exec", "false"},
		{"evt.is_open_create", "false"},
		{"evt.arg.flags", "O_RDONLY|O_CLOEXEC"}, {"evt.arg[flags]", "O_RDONLY|O_CLOEXEC"},
		{"evt.arg.name", "/etc/shadow"}, {"evt.arg.dirfd", "AT_FDCWD"}, {"evt.arg.fd", "3"},
		{"evt.arg.mode", "0"}, {"evt.arg[0]", "3"}, {"evt.arg[2]", "/etc/shadow"},
		{"evt.rawarg.flags", "524288"}, {"evt.rawarg.res", "<NA>"}, {"evt.arg.target", "<NA>"},
		{"evt.args", "fd=3 dirfd=AT_FDCWD name=/etc/shadow flags=O_RDONLY|O_CLOEXEC mode=0"},
		{"evt.abspath", "/etc/shadow"},
		{"evt.hostname", hostname},
	})
	write := &sysevent.Event{Type: sysevent.SysOpen, Ret: -13, Path: "/var/log/x", Target: "/var/log/x",
		Flags: 0o1101, Mode: 0o755, Thread: tr.cat}
	check(t, write, []fieldCase{
		{"evt.res", "EACCES"}, {"evt.rawres", "-13"}, {"evt.failed", "true"},
		{"evt.is_open_read", "false"}, {"evt.is_open_write", "true"}, {"evt.is_open_exec", "true"},
		{"evt.is_open_create", "true"}, {"evt.arg.flags", "O_WRONLY|O_CREAT|O_TRUNC"},
		{"evt.arg.mode", "0755"}, {"evt.arg.fd", "EACCES"},
	})
	rdwr := &sysevent.Event{Type: sysevent.SysCreat, Ret: 4, Path: "/tmp/a", Flags: 0o1102, Thread: tr.cat}
	check(t, rdwr, []fieldCase{{"evt.is_open_read", "true"}, {"evt.is_open_write", "true"},
		{"evt.arg.flags", "O_RDWR|O_CREAT|O_TRUNC"}})
	ptrace := &sysevent.Event{Type: sysevent.SysPtrace, Request: 16, TargetPID: 500, Thread: tr.cat}
	check(t, ptrace, []fieldCase{{"evt.arg.request", "PTRACE_ATTACH"}, {"evt.arg.pid", "500"},
		{"evt.rawarg.request", "16"}, {"evt.arg.flags", "<NA>"}})
	traceme := &sysevent.Event{Type: sysevent.SysPtrace, Request: 0, Thread: tr.cat}
	check(t, traceme, []fieldCase{{"evt.arg.request", "PTRACE_TRACEME"}})
	sock := &sysevent.Event{Type: sysevent.SysSocket, Ret: 5, Thread: tr.cat,
		Sock: sysevent.SockAddr{Family: 17, Type: sysevent.SockRaw, Proto: 768}}
	check(t, sock, []fieldCase{{"evt.arg.domain", "AF_PACKET"}, {"evt.arg.type", "SOCK_RAW"},
		{"evt.arg.proto", "768"}, {"evt.args", "fd=5 domain=AF_PACKET type=SOCK_RAW proto=768"}})
	symlink := &sysevent.Event{Type: sysevent.SysSymlinkat, Target: "/etc/shadow", Path: "/tmp/s", FD: sysevent.AtFDCWD, Thread: tr.cat}
	check(t, symlink, []fieldCase{{"evt.arg.target", "/etc/shadow"}, {"evt.arg.linkpath", "/tmp/s"},
		{"evt.arg.linkdirfd", "AT_FDCWD"}, {"fs.path.source", "/etc/shadow"}, {"fs.path.target", "/tmp/s"}})
	link := &sysevent.Event{Type: sysevent.SysLinkat, Path: "/etc/shadow", Path2: "/tmp/h", FD: sysevent.AtFDCWD, Thread: tr.cat}
	check(t, link, []fieldCase{{"evt.arg.oldpath", "/etc/shadow"}, {"evt.arg.newpath", "/tmp/h"},
		{"evt.abspath.src", "/etc/shadow"}, {"evt.abspath.dst", "/tmp/h"}, {"evt.arg.flags", "0"}})
	memfd := &sysevent.Event{Type: sysevent.SysMemfdCreate, Ret: 3, Name: "x", Flags: 3, Thread: tr.cat}
	check(t, memfd, []fieldCase{{"evt.arg.name", "x"}, {"evt.arg.flags", "MFD_CLOEXEC|MFD_ALLOW_SEALING"}})
	exec := &sysevent.Event{Type: sysevent.SysExecve, Ret: 0, Argv: []string{"cat", "/etc/shadow"}, Target: "/bin/cat", Thread: tr.cat}
	check(t, exec, []fieldCase{{"evt.arg.flags", "EXE_UPPER_LAYER"}, {"evt.arg.exe", "cat"},
		{"evt.arg.args", "/etc/shadow"}, {"evt.arg.filename", "/bin/cat"}, {"evt.arg.res", "0"}})
	clone := &sysevent.Event{Type: sysevent.SysClone, Ret: 900, Flags: 0x01200011, Thread: tr.cat}
	check(t, clone, []fieldCase{{"evt.arg.flags", "SIGCHLD|CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID"}, {"evt.arg.res", "900"}})
	mount := &sysevent.Event{Type: sysevent.SysMount, Path: "/mnt", DevName: "/dev/sda1", FSType: "ext4", Flags: 1 | 4096, Thread: tr.cat}
	check(t, mount, []fieldCase{{"evt.arg.dev", "/dev/sda1"}, {"evt.arg.dir", "/mnt"}, {"evt.arg.type", "ext4"},
		{"evt.arg.flags", "RDONLY|BIND"}})
	unlink := &sysevent.Event{Type: sysevent.SysUnlinkat, Path: "/var/log/syslog", Flags: 0x200, FD: 3, Thread: tr.cat}
	check(t, unlink, []fieldCase{{"evt.arg.name", "/var/log/syslog"}, {"evt.arg.flags", "AT_REMOVEDIR"},
		{"evt.arg.dirfd", "3"}, {"fs.path.name", "/var/log/syslog"}})
	kill := &sysevent.Event{Type: sysevent.SysKill, TargetPID: 1, Signal: 9, Thread: tr.cat}
	check(t, kill, []fieldCase{{"evt.arg.sig", "SIGKILL"}, {"evt.arg.pid", "1"}})
	exit := &sysevent.Event{Type: sysevent.TypeProcExit, Ret: 9, Thread: tr.cat}
	check(t, exit, []fieldCase{{"evt.dir", ">"}, {"evt.res", "<NA>"}, {"evt.rawres", "<NA>"},
		{"evt.failed", "false"}, {"evt.arg.sig", "SIGKILL"}, {"evt.type", "procexit"}})
	capset := &sysevent.Event{Type: sysevent.SysCapset, Has: sysevent.HasCreds, Proc: sysevent.ProcInfo{CapEffective: 1 << 16}, Thread: tr.cat}
	check(t, capset, []fieldCase{{"evt.arg.cap_effective", "CAP_SYS_MODULE"}})
	unshare := &sysevent.Event{Type: sysevent.SysUnshare, Flags: 0x10000000 | 0x20000, Thread: tr.cat}
	check(t, unshare, []fieldCase{{"evt.arg.flags", "CLONE_NEWNS|CLONE_NEWUSER"}})
	bpf := &sysevent.Event{Type: sysevent.SysBpf, Ret: 7, Request: 5, Thread: tr.cat}
	check(t, bpf, []fieldCase{{"evt.arg.cmd", "BPF_PROG_LOAD"}})
	// a bad index or an unknown name is a load error
	for _, bad := range []string{"nosuchargname", "-1", "99"} {
		if _, err := Registry().Fields()[0].Bind("x"); err == nil {
			t.Errorf("%s takes no argument but bound one", Registry().Fields()[0].Name)
		}
		def, _, _ := Registry().Lookup("evt.arg")
		if _, err := def.Bind(bad); err == nil {
			t.Errorf("evt.arg[%s] bound", bad)
		}
	}
	def, _, _ := Registry().Lookup("proc.aname")
	if _, err := def.Bind("x"); err == nil {
		t.Error("proc.aname[x] bound")
	}
}

func TestFDFields(t *testing.T) {
	tr := newTree()
	open := &sysevent.Event{Type: sysevent.SysOpenat, Ret: 3, Thread: tr.cat, FDInfo: &sysevent.FD{Num: 3,
		Type: sysevent.FDFile, Name: "/etc/pam.d/sshd", NameRaw: "/etc/../etc/pam.d/sshd", Dir: "/etc/pam.d", Base: "sshd", Ino: 99}}
	check(t, open, []fieldCase{
		{"fd.num", "3"}, {"fd.type", "file"}, {"fd.typechar", "f"}, {"fd.name", "/etc/pam.d/sshd"},
		{"fd.nameraw", "/etc/../etc/pam.d/sshd"}, {"fd.directory", "/etc/pam.d"}, {"fd.filename", "sshd"},
		{"fd.ino", "99"}, {"fd.containername", "host:/etc/pam.d/sshd"}, {"fd.l4proto", "<NA>"},
		{"fd.sip", "<NA>"}, {"fd.sport", "<NA>"}, {"fd.ip", "<NA>"}, {"fd.connected", "<NA>"},
		{"fd.types", "[file]"}, {"fd.types[0]", "file"}, {"fd.name_changed", "false"},
	})
	failed := &sysevent.Event{Type: sysevent.SysOpen, Ret: -2, Thread: tr.cat, FDInfo: &sysevent.FD{Num: -1, Type: sysevent.FDFile, Name: "/x"}}
	check(t, failed, []fieldCase{{"fd.num", "-1"}, {"fd.typechar", "f"}, {"fd.name", "/x"}, {"fd.nameraw", "/x"}})

	conn := &sysevent.FD{Num: 4, Type: sysevent.FDIPv4, L4Proto: sysevent.L4TCP, Connected: true,
		ClientIP: netip.MustParseAddr("10.0.0.5"), ClientPort: 40000, ServerIP: netip.MustParseAddr("192.168.1.9"), ServerPort: 2222, ChangedBy: 77}
	conn.FinishSocket()
	ev := &sysevent.Event{Type: sysevent.SysConnect, Num: 77, FD: 4, Thread: tr.cat, FDInfo: conn}
	check(t, ev, []fieldCase{
		{"fd.name", "10.0.0.5:40000->192.168.1.9:2222"}, {"fd.type", "ipv4"}, {"fd.typechar", "4"},
		{"fd.l4proto", "tcp"}, {"fd.sockfamily", "ip"}, {"fd.connected", "true"}, {"fd.is_server", "false"},
		{"fd.cip", "10.0.0.5"}, {"fd.sip", "192.168.1.9"}, {"fd.lip", "10.0.0.5"}, {"fd.rip", "192.168.1.9"},
		{"fd.cport", "40000"}, {"fd.sport", "2222"}, {"fd.lport", "40000"}, {"fd.rport", "2222"},
		{"fd.ip", "192.168.1.9"}, {"fd.port", "2222"}, {"fd.net", "192.168.1.9/32"},
		{"fd.snet", "192.168.1.9/32"}, {"fd.cnet", "10.0.0.5/32"}, {"fd.name_changed", "true"},
		{"fd.sip.name", "<NA>"}, {"fd.directory", "<NA>"}, {"evt.arg.tuple", "10.0.0.5:40000->192.168.1.9:2222"},
	})
	srv := &sysevent.FD{Num: 5, Type: sysevent.FDIPv6, L4Proto: sysevent.L4TCP, Connected: true, IsServer: true,
		ClientIP: netip.MustParseAddr("::1"), ClientPort: 50000, ServerIP: netip.MustParseAddr("::1"), ServerPort: 22}
	srv.FinishSocket()
	acc := &sysevent.Event{Type: sysevent.SysAccept4, Ret: 5, Thread: tr.cat, FDInfo: srv}
	check(t, acc, []fieldCase{{"fd.name", "::1:50000->::1:22"}, {"fd.typechar", "6"}, {"fd.is_server", "true"},
		{"fd.lport", "22"}, {"fd.rport", "50000"}, {"fd.lip", "::1"}, {"fd.port", "50000"}})
	listener := &sysevent.FD{Num: 7, Type: sysevent.FDIPv4, L4Proto: sysevent.L4TCP, IsServer: true, Listening: true,
		ServerIP: netip.MustParseAddr("0.0.0.0"), ServerPort: 8080}
	listener.FinishSocket()
	check(t, &sysevent.Event{Type: sysevent.SysListen, Thread: tr.cat, FDInfo: listener}, []fieldCase{
		{"fd.name", "0.0.0.0:8080"}, {"fd.ip", "0.0.0.0"}, {"fd.port", "8080"}, {"fd.cip", "<NA>"}})
	unix := &sysevent.FD{Num: 6, Type: sysevent.FDUnix, UnixPath: "/run/docker.sock"}
	unix.FinishSocket()
	check(t, &sysevent.Event{Type: sysevent.SysConnect, Thread: tr.cat, FDInfo: unix}, []fieldCase{
		{"fd.name", "/run/docker.sock"}, {"fd.typechar", "u"}, {"fd.type", "unix"}, {"fd.sockfamily", "unix"},
		{"fd.l4proto", "<NA>"}, {"fd.cip", "<NA>"}})
	memfd := &sysevent.Event{Type: sysevent.SysMemfdCreate, Thread: tr.cat, FDInfo: &sysevent.FD{Num: 3, Type: sysevent.FDMemfd, Name: "memfd:x", Base: "memfd:x"}}
	check(t, memfd, []fieldCase{{"fd.type", "memfd"}, {"fd.typechar", "m"}, {"fd.filename", "memfd:x"}})
	for _, ty := range []struct {
		typ       sysevent.FDType
		name, chr string
	}{
		{sysevent.FDDirectory, "directory", "d"}, {sysevent.FDPipe, "pipe", "p"}, {sysevent.FDEvent, "event", "e"},
		{sysevent.FDSignal, "signalfd", "s"}, {sysevent.FDEventPoll, "eventpoll", "l"}, {sysevent.FDInotify, "inotify", "i"},
		{sysevent.FDTimer, "timerfd", "t"}, {sysevent.FDNetlink, "netlink", "n"}, {sysevent.FDBPF, "bpf", "b"},
	} {
		ev := &sysevent.Event{Type: sysevent.SysRead, Thread: tr.cat, FDInfo: &sysevent.FD{Num: 9, Type: ty.typ}}
		check(t, ev, []fieldCase{{"fd.type", ty.name}, {"fd.typechar", ty.chr}})
	}
}

// TestExtractDoesNotAllocate covers the fields the stable rules evaluate
// on every event.
func TestExtractDoesNotAllocate(t *testing.T) {
	tr := newTree()
	conn := &sysevent.FD{Num: 4, Type: sysevent.FDIPv4, L4Proto: sysevent.L4TCP, ClientIP: netip.MustParseAddr("10.0.0.5"),
		ServerIP: netip.MustParseAddr("10.0.0.6"), ServerPort: 22}
	conn.FinishSocket()
	ev := &sysevent.Event{Type: sysevent.SysOpenat, Time: t0, Ret: 3, Flags: 0o2000000, Path: "/etc/shadow", Thread: tr.cat, FDInfo: conn}
	names := []string{"evt.type", "evt.num", "evt.rawres", "evt.res", "evt.is_open_read", "evt.arg.flags",
		"proc.name", "proc.exepath", "proc.cmdline", "proc.pname", "proc.aname[2]", "proc.aname", "proc.apid",
		"proc.sname", "proc.vpgid.name", "proc.tty", "proc.duration", "proc.is_exe_upper_layer", "user.name",
		"user.uid", "user.loginuid", "group.name", "thread.cap_effective", "fd.name", "fd.typechar", "fd.num",
		"fd.directory", "fd.sport", "fd.sip", "fd.snet", "fd.ip", "fd.net", "fd.l4proto", "fd.connected",
		"container.id", "container.image.repository", "k8s.ns.name", "evt.hostname"}
	var exs []fields.Extract
	for _, n := range names {
		def, arg, ok := Registry().Lookup(n)
		if !ok {
			def, _, _ = Registry().Lookup(n[:strings.IndexByte(n, '[')])
			arg = n[strings.IndexByte(n, '[')+1 : len(n)-1]
		}
		ex, err := def.Bind(arg)
		if err != nil {
			t.Fatal(err)
		}
		exs = append(exs, ex)
	}
	var v fields.Value
	for _, ex := range exs { // warm caches (flag renderings, user db, list capacity)
		v.Reset()
		ex(ev, &v)
	}
	allocs := testing.AllocsPerRun(200, func() {
		for _, ex := range exs {
			v.Reset()
			ex(ev, &v)
		}
	})
	if allocs != 0 {
		for i, ex := range exs {
			a := testing.AllocsPerRun(50, func() { v.Reset(); ex(ev, &v) })
			if a != 0 {
				t.Errorf("%s allocates %.1f per extraction", names[i], a)
			}
		}
	}
}

func BenchmarkExtractCommon(b *testing.B) {
	tr := newTree()
	ev := &sysevent.Event{Type: sysevent.SysOpenat, Time: t0, Ret: 3, Thread: tr.cat, FDInfo: fileFD(3, "/etc/shadow")}
	var exs []fields.Extract
	for _, n := range []string{"evt.type", "proc.name", "proc.aname", "fd.name", "fd.directory", "user.name", "evt.is_open_read"} {
		def, _, _ := Registry().Lookup(n)
		ex, _ := def.Bind("")
		exs = append(exs, ex)
	}
	var v fields.Value
	b.ReportAllocs()
	for b.Loop() {
		for _, ex := range exs {
			v.Reset()
			ex(ev, &v)
		}
	}
}

// TestEveryFieldOnSparseEvents: no field panics on events without state
// (no process, no fd, an empty process, an unknown type).
func TestEveryFieldOnSparseEvents(t *testing.T) {
	args := map[string]string{"evt.arg": "flags", "evt.rawarg": "res", "proc.env": "HOME",
		"k8s.pod.label": "app", "container.label": "x"}
	empty := &sysevent.Thread{}
	evs := []*sysevent.Event{
		{},
		{Type: sysevent.SysOpenat, Thread: empty},
		{Type: sysevent.SysConnect, Thread: empty, FDInfo: &sysevent.FD{}},
		{Type: sysevent.Type(sysevent.NumTypes + 5), Thread: empty},
		{Type: sysevent.TypeProcExit, Thread: empty, FDInfo: &sysevent.FD{Type: sysevent.FDIPv6}},
	}
	for _, d := range Registry().Fields() {
		for _, arg := range []string{"", args[d.Name], "3"} {
			ex, err := d.Bind(arg)
			if err != nil {
				continue
			}
			for i, ev := range evs {
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%s[%s] panics on sparse event %d: %v", d.Name, arg, i, r)
						}
					}()
					var v fields.Value
					ex(ev, &v)
				}()
			}
		}
	}
}
