package proctable

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func TestUserResolver(t *testing.T) {
	proc := t.TempDir()
	etc := filepath.Join(proc, "4242", "root", "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(etc, "passwd"), []byte("root:x:0:0::/root:/bin/ash\nnginx:x:101:101::/var/lib/nginx:/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "group"), []byte("root:x:0:\nnginx:x:101:\n"), 0o644)
	r := NewUserResolver(proc)
	ctr := &sysevent.Container{ID: "abc", FullID: "abcdef"}
	got := r.Names(4242, ctr, &sysevent.Creds{EUID: 101, EGID: 101, LoginUID: sysevent.NoLoginUID})
	want := sysevent.UserNames{User: "nginx", Home: "/var/lib/nginx", Shell: "/sbin/nologin", Group: "nginx"}
	if got != want {
		t.Fatalf("container names = %+v, want %+v", got, want)
	}
	// the container's root user is the container's (its shell), not the host's
	if n := r.Names(4242, ctr, &sysevent.Creds{}); n.User != "root" || n.Shell != "/bin/ash" {
		t.Fatalf("container root = %+v", n)
	}
	// host processes read the host's files: uid 0 is root there too
	if n := r.Names(1, sysevent.Host, &sysevent.Creds{}); n.User != "root" || n.Group != "root" {
		t.Fatalf("host root = %+v", n)
	}
	// through the table: a forked child inherits, setuid re-resolves
	tb := New(Config{Users: r})
	ev := forkEv(4242, 0, "nginx")
	ev.Proc.EUID, ev.Proc.EGID = 101, 101
	tb.Apply(ev)
	th := tb.Get(4242)
	th.SetContainer(ctr)
	tb.Apply(&sysevent.Event{Type: sysevent.SysSetuid, PID: 4242, TID: 4242, Has: sysevent.HasCreds,
		Proc: sysevent.ProcInfo{EUID: 0, EGID: 101, LoginUID: sysevent.NoLoginUID}})
	if th.Creds.Names.User != "root" || th.Creds.Names.Group != "nginx" {
		t.Fatalf("after setuid(0): %+v", th.Creds.Names)
	}
}
