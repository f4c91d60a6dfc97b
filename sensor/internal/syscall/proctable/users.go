package proctable

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// PasswdEntry is one user of a passwd file.
type PasswdEntry struct{ Name, Home, Shell string }

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
	users  map[uint32]PasswdEntry
	groups map[uint32]string
}

// NewUserDB reads root's /etc/passwd and /etc/group ("/" for the host).
func NewUserDB(root string) *UserDB {
	root = strings.TrimSuffix(root, "/")
	return &UserDB{PasswdPath: root + "/etc/passwd", GroupPath: root + "/etc/group", ReloadEvery: 30 * time.Second}
}

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
		s.users[0] = PasswdEntry{Name: "root", Home: "/root", Shell: "/bin/sh"}
	}
	if _, ok := s.groups[0]; !ok {
		s.groups[0] = "root"
	}
	db.snap.Store(s)
	db.loaded.Store(time.Now().UnixNano())
	return s
}

// User looks a user up by id.
func (db *UserDB) User(uid uint32) (PasswdEntry, bool) {
	if u, ok := db.get(false).users[uid]; ok {
		return u, true
	}
	u, ok := db.get(true).users[uid]
	return u, ok
}

// Group looks a group name up by id.
func (db *UserDB) Group(gid uint32) (string, bool) {
	if g, ok := db.get(false).groups[gid]; ok {
		return g, true
	}
	g, ok := db.get(true).groups[gid]
	return g, ok
}

func readPasswd(path string) map[uint32]PasswdEntry {
	m := make(map[uint32]PasswdEntry)
	eachLine(path, func(f []string) {
		if len(f) >= 7 {
			if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				if _, dup := m[uint32(id)]; !dup {
					m[uint32(id)] = PasswdEntry{Name: f[0], Home: f[5], Shell: f[6]}
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

// UserResolver names a process's users and groups when its credentials
// are set (exec, fork, setuid, bootstrap); the names are kept with the
// credentials (sysevent.Creds.Names), so fields and replays read them
// without lookups.
type UserResolver interface {
	Names(pid int64, ctr *sysevent.Container, c *sysevent.Creds) sysevent.UserNames
}

// NewUserResolver resolves host processes from the host's files and
// container processes from their container's, read through
// procRoot/PID/root.
func NewUserResolver(procRoot string) UserResolver {
	return &userResolver{procRoot: procRoot, host: NewUserDB("/"), byContainer: map[string]*UserDB{}}
}

type userResolver struct {
	procRoot    string
	host        *UserDB
	mu          sync.Mutex
	byContainer map[string]*UserDB
}

// maxContainerDBs bounds the per-container cache; past it, it starts over.
const maxContainerDBs = 1024

func (r *userResolver) db(pid int64, ctr *sysevent.Container) *UserDB {
	if ctr == nil || ctr.FullID == "" || ctr == sysevent.Host {
		return r.host
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	db := r.byContainer[ctr.FullID]
	if db == nil {
		if len(r.byContainer) >= maxContainerDBs {
			r.byContainer = map[string]*UserDB{}
		}
		db = NewUserDB(procPath(r.procRoot, pid, "root"))
		r.byContainer[ctr.FullID] = db
	}
	return db
}

func (r *userResolver) Names(pid int64, ctr *sysevent.Container, c *sysevent.Creds) sysevent.UserNames {
	db := r.db(pid, ctr)
	var n sysevent.UserNames
	if u, ok := db.User(c.EUID); ok {
		n.User, n.Home, n.Shell = u.Name, u.Home, u.Shell
	}
	n.Group, _ = db.Group(c.EGID)
	if c.LoginUID != sysevent.NoLoginUID {
		// The login user is a host user (loginuid is set by the host's
		// login stack) unless the container runs its own sessions.
		if u, ok := db.User(c.LoginUID); ok {
			n.Login = u.Name
		} else if u, ok := r.host.User(c.LoginUID); ok {
			n.Login = u.Name
		}
	}
	return n
}
