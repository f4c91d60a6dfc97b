package capturefile

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

const t0 = int64(1_700_000_000_000_000_000)

func privileged() *bool { b := true; return &b }

// scenario is a small host history: init → sshd → bash → cat/nc, with
// files, sockets, a failed open, a credential change and an exit.
func scenario() []*sysevent.Event {
	proc := func(pid, ppid uint32, comm, cwd string) sysevent.ProcInfo {
		return sysevent.ProcInfo{PPID: ppid, VPID: pid, Sid: ppid, Pgid: pid, StartTime: t0 + int64(pid), Comm: comm,
			Cwd: cwd, UID: 1000, EUID: 1000, GID: 1000, EGID: 1000, LoginUID: 1000, TTY: 34816,
			Cgroup: "0::/system.slice/docker-3f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d.scope"}
	}
	fork := func(pid, ppid uint32, comm string) *sysevent.Event {
		return &sysevent.Event{Type: sysevent.SysClone, TID: pid, PID: pid, Has: sysevent.HasProc | sysevent.HasCreds,
			Proc: proc(pid, ppid, comm, "/home/u")}
	}
	exec := func(pid uint32, path string, argv ...string) *sysevent.Event {
		p := proc(pid, 0, path[strings.LastIndexByte(path, '/')+1:], "/home/u")
		p.ExePath, p.ExeIno, p.ExeCtime, p.ExeMtime, p.Env = path, 77, t0-5, t0-6, []string{"HOME=/home/u", "TERM=xterm"}
		return &sysevent.Event{Type: sysevent.SysExecve, TID: pid, PID: pid, Path: path, Target: path, Argv: argv,
			Has: sysevent.HasProc | sysevent.HasCreds | sysevent.HasExe, Proc: p}
	}
	lo := netip.MustParseAddr("127.0.0.1")
	evs := []*sysevent.Event{
		fork(1, 0, "init"), exec(1, "/sbin/init", "/sbin/init"),
		fork(10, 1, "init"), exec(10, "/usr/sbin/sshd", "sshd", "-D"),
		fork(20, 10, "sshd"), exec(20, "/bin/bash", "-bash"),
		{Type: sysevent.SysChdir, TID: 20, PID: 20, Path: "/etc"},
		fork(30, 20, "bash"), exec(30, "/usr/bin/cat", "cat", "shadow"),
		{Type: sysevent.SysOpenat, TID: 30, PID: 30, Ret: 3, FD: sysevent.AtFDCWD, Path: "/etc/shadow", Target: "shadow"},
		{Type: sysevent.SysRead, TID: 30, PID: 30, Ret: 100, FD: 3},
		{Type: sysevent.SysOpenat, TID: 30, PID: 30, Ret: -2, FD: sysevent.AtFDCWD, Path: "/etc/nope", Target: "nope"},
		{Type: sysevent.SysOpenat, TID: 30, PID: 30, Ret: -13, FD: sysevent.AtFDCWD, Path: "/root/x", Target: "/root/x", Flags: 0o101},
		{Type: sysevent.SysClose, TID: 30, PID: 30, FD: 3},
		{Type: sysevent.TypeProcExit, TID: 30, PID: 30, Proc: sysevent.ProcInfo{GroupDead: true}},
		fork(40, 20, "bash"), exec(40, "/usr/bin/nc", "nc", "127.0.0.1", "22"),
		{Type: sysevent.SysSocket, TID: 40, PID: 40, Ret: 3, Sock: sysevent.SockAddr{Family: sysevent.AFInet, Type: sysevent.SockStream}},
		{Type: sysevent.SysConnect, TID: 40, PID: 40, FD: 3, Ret: -115,
			Sock:  sysevent.SockAddr{Family: sysevent.AFInet, IP: lo, Port: 22},
			Local: sysevent.SockAddr{Family: sysevent.AFInet, IP: lo, Port: 41000}},
		{Type: sysevent.SysDup2, TID: 40, PID: 40, FD: 3, Ret: 0, Args: [6]uint64{3, 0}},
		{Type: sysevent.SysSetuid, TID: 40, PID: 40, UID: 0, Has: sysevent.HasCreds,
			Proc: sysevent.ProcInfo{UID: 0, EUID: 0, LoginUID: 1000, CapEffective: 1<<21 | 1<<19}},
		{Type: sysevent.SysPtrace, TID: 40, PID: 40, Request: 16, TargetPID: 10},
		{Type: sysevent.SysSymlinkat, TID: 40, PID: 40, Target: "/etc/shadow", Path: "/tmp/s", FD: sysevent.AtFDCWD},
		{Type: sysevent.SysMemfdCreate, TID: 40, PID: 40, Ret: 4, Name: "x", Flags: 1},
	}
	for i, ev := range evs {
		ev.Num = uint64(i + 1)
		ev.Time = t0 + int64(i)*1000
		ev.CPU = uint16(i % 2)
	}
	return evs
}

// fixedNames resolves every uid to a name derived from it.
type fixedNames struct{}

func (fixedNames) Names(pid int64, _ *sysevent.Container, c *sysevent.Creds) sysevent.UserNames {
	return sysevent.UserNames{User: "u" + itoaU(uint64(c.EUID)), Home: "/home/x", Shell: "/bin/sh", Group: "g" + itoaU(uint64(c.EGID)), Login: "l"}
}

func containers(cgroup string) *sysevent.Container {
	return &sysevent.Container{ID: "3f1c2d4e5a6b", FullID: "3f1c2d4e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
		Type: "docker", Name: "web", Image: "nginx:1.25", ImageRepo: "nginx", ImageTag: "1.25", Privileged: privileged(),
		StartTS: t0 - 1e9, PodName: "web-0", PodNamespace: "prod", PodLabels: map[string]string{"app": "web"}}
}

// record runs the scenario through a process table, keeps the live
// field values of every event, and writes the capture.
func record(t *testing.T) (data []byte, live [][]string) {
	t.Helper()
	tb := proctable.New(proctable.Config{Containers: containers, Users: fixedNames{}})
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Meta{"hostname": "h1", "sensor": "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range scenario() {
		tb.Apply(ev)
		live = append(live, extractAll(ev))
		if err := w.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), live
}

// boundFields binds every field of the registry (fields with a required
// argument get a representative one).
func boundFields(t *testing.T) (names []string, exs []fields.Extract) {
	t.Helper()
	args := map[string]string{"evt.arg": "flags", "evt.rawarg": "res", "proc.env": "HOME",
		"k8s.pod.label": "app", "container.label": "x"}
	for _, d := range syscallfields.Registry().Fields() {
		for _, arg := range []string{"", args[d.Name], "2"} {
			if (arg == "" && d.Arg == fields.ArgRequired) || (arg != "" && d.Arg == fields.ArgNone) ||
				(arg == "2" && d.ArgKind != fields.ArgIndex) {
				continue
			}
			ex, err := d.Bind(arg)
			if err != nil {
				t.Fatalf("bind %s[%s]: %v", d.Name, arg, err)
			}
			names = append(names, d.Name+"["+arg+"]")
			exs = append(exs, ex)
		}
	}
	return names, exs
}

var allNames []string
var allEx []fields.Extract

func extractAll(ev *sysevent.Event) []string {
	out := make([]string, len(allEx))
	var v fields.Value
	for i, ex := range allEx {
		v.Reset()
		if !ex(ev, &v) {
			out[i] = "<NA>"
			continue
		}
		out[i] = render(&v)
	}
	return out
}

func render(v *fields.Value) string {
	if v.IsList {
		return strings.Join(v.Strs, ",") + "|" + strings.Trim(strings.Join(strings.Fields(fmtInts(v.Ints)), ","), "[]")
	}
	switch v.Kind {
	case fields.KindString:
		return v.Str
	case fields.KindInt, fields.KindAbsTime, fields.KindRelTime:
		return "i" + itoaU(uint64(v.Int))
	case fields.KindUint, fields.KindPort:
		return "u" + itoaU(v.Uint)
	case fields.KindBool:
		if v.Bool {
			return "true"
		}
		return "false"
	case fields.KindIP:
		return v.IP.String()
	case fields.KindIPNet:
		return v.Net.String()
	}
	return "?"
}

func fmtInts(xs []int64) string {
	var b strings.Builder
	for _, x := range xs {
		b.WriteString(itoaU(uint64(x)) + " ")
	}
	return b.String()
}

// TestReplayMatchesLive is the format's purpose: every field of every
// event extracts the same value from the replayed event as it did live.
func TestReplayMatchesLive(t *testing.T) {
	allNames, allEx = boundFields(t)
	data, live := record(t)
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if r.Meta()["hostname"] != "h1" || r.Version() != Version {
		t.Errorf("meta = %v, version %d", r.Meta(), r.Version())
	}
	want := scenario()
	for i := 0; ; i++ {
		ev, err := r.Next()
		if err == io.EOF {
			if i != len(live) {
				t.Fatalf("read %d events, wrote %d", i, len(live))
			}
			break
		}
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		got := extractAll(ev)
		for j := range got {
			if got[j] != live[i][j] {
				t.Errorf("event %d (%s) field %s: replay %q, live %q", i, ev.Type, allNames[j], got[j], live[i][j])
			}
		}
		// the decoded event equals the original, state pointers aside
		a, b := *ev, *want[i]
		a.Thread, a.FDInfo, b.Thread, b.FDInfo = nil, nil, nil, nil
		if len(a.Argv) == 0 && len(b.Argv) == 0 {
			a.Argv, b.Argv = nil, nil
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("event %d decoded as\n%+v\nwant\n%+v", i, a, b)
		}
	}
	// sanity: the scenario exercised the interesting fields
	idx := map[string]int{}
	for j, n := range allNames {
		idx[n] = j
	}
	checks := []struct {
		ev    int
		field string
		want  string
	}{
		{9, "fd.name[]", "/etc/shadow"},
		{9, "proc.pname[]", "bash"},
		{9, "proc.aname[2]", "sshd"},
		{9, "proc.cwd[]", "/etc/"},
		{11, "fd.num[]", "i" + itoaU(uint64(^uint64(0)))},
		{11, "evt.res[]", "ENOENT"},
		{19, "fd.name[]", "127.0.0.1:41000->127.0.0.1:22"},
		{21, "user.uid[]", "u0"},
		{21, "user.name[]", "u0"},
		{9, "user.name[]", "u1000"},
		{9, "group.name[]", "g1000"},
		{21, "thread.cap_effective[]", "CAP_SYS_PTRACE CAP_SYS_ADMIN"},
		{22, "evt.arg[flags]", "<NA>"},
		{9, "container.id[]", "3f1c2d4e5a6b"},
		{9, "k8s.ns.name[]", "prod"},
		{9, "container.privileged[]", "true"},
	}
	for _, c := range checks {
		j, ok := idx[c.field]
		if !ok {
			t.Fatalf("no field %s", c.field)
		}
		if got := live[c.ev][j]; got != c.want {
			t.Errorf("live event %d %s = %q, want %q", c.ev, c.field, got, c.want)
		}
	}
}

// TestSnapshotsAreShared: unchanged processes and fds are written once.
func TestSnapshotsAreShared(t *testing.T) {
	tb := proctable.New(proctable.Config{})
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, nil)
	for _, ev := range scenario()[:10] {
		tb.Apply(ev)
		_ = w.Write(ev)
	}
	_ = w.Flush()
	before := buf.Len()
	read := &sysevent.Event{Type: sysevent.SysRead, TID: 30, PID: 30, FD: 3, Ret: 1}
	for i := 0; i < 100; i++ {
		read.Num = uint64(100 + i)
		tb.Apply(read)
		_ = w.Write(read)
	}
	_ = w.Flush()
	per := (buf.Len() - before) / 100
	if per > 80 {
		t.Fatalf("a repeated read costs %d bytes: state is not shared", per)
	}
}

func TestTruncatedAndCorruptFiles(t *testing.T) {
	allNames, allEx = boundFields(t)
	data, _ := record(t)
	// Every truncation either ends cleanly at a record boundary or gives a
	// located error; none panics.
	for n := 0; n < len(data); n++ {
		err := readAll(data[:n])
		if err == nil {
			continue // cut exactly between records
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("cut at %d: error %v is not a located *Error", n, err)
		}
		if ce.Offset < 0 || ce.Offset > int64(n) {
			t.Fatalf("cut at %d: offset %d out of range", n, ce.Offset)
		}
	}
	// A flipped byte in the body is a checksum error at its record.
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0x40
	err := readAll(bad)
	if err == nil || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("corrupt file: %v", err)
	}
	// Wrong magic, future version.
	if _, err := NewReader(strings.NewReader("hello, world, this is not it")); !errors.Is(err, ErrNotCapture) {
		t.Fatalf("bad magic: %v", err)
	}
	future := append([]byte(nil), data...)
	future[len(Magic)] = 99
	if _, err := NewReader(bytes.NewReader(future)); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("future version: %v", err)
	}
	if !IsCapture(data) || IsCapture([]byte("{\"kind\":")) {
		t.Fatal("IsCapture wrong")
	}
}

func readAll(b []byte) error {
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	for {
		_, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func FuzzRead(f *testing.F) {
	tb := proctable.New(proctable.Config{Containers: containers})
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Meta{"k": "v"})
	for _, ev := range scenario() {
		tb.Apply(ev)
		_ = w.Write(ev)
	}
	_ = w.Close()
	data := buf.Bytes()
	f.Add(data)
	f.Add(data[:len(data)/3])
	f.Add([]byte(Magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			if _, err := r.Next(); err != nil {
				return
			}
		}
	})
}

// TestConcurrentWriters: workers of the sharded pipeline record their own
// processes' events into one Writer while a shared parent execs (run
// with -race). The file must read back completely.
func TestConcurrentWriters(t *testing.T) {
	tb := proctable.New(proctable.Config{})
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, nil)
	evs := scenario()
	for _, ev := range evs[:6] { // init, sshd, bash
		tb.Apply(ev)
		_ = w.Write(ev)
	}
	var wg sync.WaitGroup
	const workers, per = 3, 200
	for k := 0; k < workers; k++ {
		pid := uint32(100 + k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fork := &sysevent.Event{Type: sysevent.SysClone, TID: pid, PID: pid, Has: sysevent.HasProc,
				Proc: sysevent.ProcInfo{PPID: 20, VPID: pid, Comm: "bash"}}
			tb.Apply(fork)
			_ = w.Write(fork)
			for i := 0; i < per; i++ {
				ev := &sysevent.Event{Type: sysevent.SysOpenat, TID: pid, PID: pid, Ret: 3, Path: "/etc/hosts", Target: "/etc/hosts"}
				tb.Apply(ev)
				if err := w.Write(ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the shared parent (bash, pid 20) keeps execing on its own worker
		defer wg.Done()
		for i := 0; i < per; i++ {
			ev := &sysevent.Event{Type: sysevent.SysExecve, TID: 20, PID: 20, Path: "/bin/bash", Argv: []string{"bash"},
				Has: sysevent.HasExe | sysevent.HasProc, Proc: sysevent.ProcInfo{Comm: "bash", ExePath: "/bin/bash"}}
			tb.Apply(ev)
			_ = w.Write(ev)
		}
	}()
	wg.Wait()
	_ = w.Close()
	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == sysevent.SysOpenat && (ev.Thread.Parent() == nil || ev.Thread.Parent().Image().Comm != "bash") {
			t.Fatalf("open by %d lost its parent", ev.PID)
		}
		n++
	}
	if want := 6 + workers*(per+1) + per; n != want {
		t.Fatalf("read %d events, wrote %d", n, want)
	}
}

// TestResetBoundsMemory: past maxTracked snapshots the writer starts over
// with a reset record; the reader forgets too and still resolves every
// event's state.
func TestResetBoundsMemory(t *testing.T) {
	old := maxTracked
	maxTracked = 8
	defer func() { maxTracked = old }()
	allNames, allEx = boundFields(t)
	data, live := record(t)
	if !bytes.Contains(data, []byte{recReset, 0}) {
		t.Fatal("no reset record written")
	}
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if len(r.threads)+len(r.fds)+len(r.images) > 4*maxTracked {
			t.Fatalf("reader holds %d snapshots", len(r.threads)+len(r.fds)+len(r.images))
		}
		got := extractAll(ev)
		for j := range got {
			if got[j] != live[i][j] {
				t.Errorf("event %d field %s: replay %q, live %q", i, allNames[j], got[j], live[i][j])
			}
		}
	}
}
