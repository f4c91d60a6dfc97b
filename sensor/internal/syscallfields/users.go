package syscallfields

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/sysevent"
)

func addUserFields(r *fields.Registry) {
	r.MustAdd(
		uintField("user.uid", "effective user id", fields.KindUint, func(ev *sysevent.Event) (uint64, bool) {
			if ev.Thread == nil {
				return 0, false
			}
			return uint64(ev.Thread.Creds.EUID), true
		}),
		strField("user.name", "effective user's name", func(ev *sysevent.Event) (string, bool) {
			if ev.Thread == nil {
				return "", false
			}
			u, ok := Users.user(ev.Thread.Creds.EUID)
			return u.name, ok
		}),
		strField("user.homedir", "effective user's home directory", func(ev *sysevent.Event) (string, bool) {
			if ev.Thread == nil {
				return "", false
			}
			u, ok := Users.user(ev.Thread.Creds.EUID)
			return u.home, ok
		}),
		strField("user.shell", "effective user's shell", func(ev *sysevent.Event) (string, bool) {
			if ev.Thread == nil {
				return "", false
			}
			u, ok := Users.user(ev.Thread.Creds.EUID)
			return u.shell, ok
		}),
		intField("user.loginuid", "audit login uid, -1 when the process is outside a login session", fields.KindInt, func(ev *sysevent.Event) (int64, bool) {
			if ev.Thread == nil {
				return 0, false
			}
			return int64(int32(ev.Thread.Creds.LoginUID)), true
		}),
		strField("user.loginname", "audit login user's name", func(ev *sysevent.Event) (string, bool) {
			if ev.Thread == nil || ev.Thread.Creds.LoginUID == sysevent.NoLoginUID {
				return "", false
			}
			u, ok := Users.user(ev.Thread.Creds.LoginUID)
			return u.name, ok
		}),
		uintField("group.gid", "effective group id", fields.KindUint, func(ev *sysevent.Event) (uint64, bool) {
			if ev.Thread == nil {
				return 0, false
			}
			return uint64(ev.Thread.Creds.EGID), true
		}),
		strField("group.name", "effective group's name", func(ev *sysevent.Event) (string, bool) {
			if ev.Thread == nil {
				return "", false
			}
			return Users.group(ev.Thread.Creds.EGID)
		}),
	)
}

type passwdEntry struct{ name, home, shell string }

// UserDB resolves user and group ids to names from the host's /etc/passwd
// and /etc/group. Lookups read an immutable snapshot (no locks, no
// allocation); a miss reloads the files at most once per ReloadEvery.
type UserDB struct {
	PasswdPath, GroupPath string
	ReloadEvery           time.Duration

	snap   atomic.Pointer[userSnapshot]
	mu     sync.Mutex
	loaded atomic.Int64 // unix ns of the last load
}

type userSnapshot struct {
	users  map[uint32]passwdEntry
	groups map[uint32]string
}

// Users is the database the user.* and group.* fields read.
var Users = &UserDB{PasswdPath: "/etc/passwd", GroupPath: "/etc/group", ReloadEvery: 30 * time.Second}

func (db *UserDB) get(miss bool) *userSnapshot {
	s := db.snap.Load()
	if s != nil && !miss {
		return s
	}
	if s != nil && time.Now().UnixNano()-db.loaded.Load() < int64(db.ReloadEvery) {
		return s
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if s2 := db.snap.Load(); s2 != s { // another goroutine reloaded
		return s2
	}
	s = &userSnapshot{users: readPasswd(db.PasswdPath), groups: readGroup(db.GroupPath)}
	if _, ok := s.users[0]; !ok {
		s.users[0] = passwdEntry{name: "root", home: "/root", shell: "/bin/sh"}
	}
	if _, ok := s.groups[0]; !ok {
		s.groups[0] = "root"
	}
	db.snap.Store(s)
	db.loaded.Store(time.Now().UnixNano())
	return s
}

func (db *UserDB) user(uid uint32) (passwdEntry, bool) {
	if u, ok := db.get(false).users[uid]; ok {
		return u, true
	}
	u, ok := db.get(true).users[uid]
	return u, ok
}

func (db *UserDB) group(gid uint32) (string, bool) {
	if g, ok := db.get(false).groups[gid]; ok {
		return g, true
	}
	g, ok := db.get(true).groups[gid]
	return g, ok
}

func readPasswd(path string) map[uint32]passwdEntry {
	m := make(map[uint32]passwdEntry)
	eachLine(path, func(f []string) {
		if len(f) >= 7 {
			if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				if _, dup := m[uint32(id)]; !dup {
					m[uint32(id)] = passwdEntry{name: f[0], home: f[5], shell: f[6]}
				}
			}
		}
	})
	return m
}

func readGroup(path string) map[uint32]string {
	m := make(map[uint32]string)
	eachLine(path, func(f []string) {
		if len(f) >= 3 {
			if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				if _, dup := m[uint32(id)]; !dup {
					m[uint32(id)] = f[0]
				}
			}
		}
	})
	return m
}

func eachLine(path string, f func([]string)) {
	file, err := os.Open(path)
	if err != nil {
		return
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f(strings.Split(line, ":"))
	}
}
