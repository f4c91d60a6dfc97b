package syscallfields

import (
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/proctable"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Users is consulted for processes whose credentials carry no resolved
// names (the process table resolves them when it can; see
// sysevent.Creds.Names): the host's passwd and group files.
var Users = proctable.NewUserDB("/")

func addUserFields(r *fields.Registry) {
	r.MustAdd(
		uintField("user.uid", "effective user id", fields.KindUint, func(ev *sysevent.Event) (uint64, bool) {
			if ev.Thread == nil {
				return 0, false
			}
			return uint64(ev.Thread.Creds.EUID), true
		}),
		strField("user.name", "effective user's name", func(ev *sysevent.Event) (string, bool) {
			return userField(ev, euid, func(n *sysevent.UserNames) string { return n.User },
				func(u proctable.PasswdEntry) string { return u.Name })
		}),
		strField("user.homedir", "effective user's home directory", func(ev *sysevent.Event) (string, bool) {
			return userField(ev, euid, func(n *sysevent.UserNames) string { return n.Home },
				func(u proctable.PasswdEntry) string { return u.Home })
		}),
		strField("user.shell", "effective user's shell", func(ev *sysevent.Event) (string, bool) {
			return userField(ev, euid, func(n *sysevent.UserNames) string { return n.Shell },
				func(u proctable.PasswdEntry) string { return u.Shell })
		}),
		intField("user.loginuid", "audit login uid, -1 when the process is outside a login session", fields.KindInt, func(ev *sysevent.Event) (int64, bool) {
			if ev.Thread == nil {
				return 0, false
			}
			return int64(int32(ev.Thread.Creds.LoginUID)), true
		}),
		strField("user.loginname", "audit login user's name", func(ev *sysevent.Event) (string, bool) {
			if ev.Thread != nil && ev.Thread.Creds.LoginUID == sysevent.NoLoginUID {
				return "", false
			}
			return userField(ev, loginuid, func(n *sysevent.UserNames) string { return n.Login },
				func(u proctable.PasswdEntry) string { return u.Name })
		}),
		uintField("group.gid", "effective group id", fields.KindUint, func(ev *sysevent.Event) (uint64, bool) {
			if ev.Thread == nil {
				return 0, false
			}
			return uint64(ev.Thread.Creds.EGID), true
		}),
		strField("group.name", "effective group's name", func(ev *sysevent.Event) (string, bool) {
			t := ev.Thread
			if t == nil {
				return "", false
			}
			if n := t.Creds.Names.Group; n != "" {
				return n, true
			}
			return Users.Group(t.Creds.EGID)
		}),
	)
}

// userField reads a resolved name from the credentials, or looks the id
// up in Users when the table did not resolve it.
func euid(c *sysevent.Creds) uint32     { return c.EUID }
func loginuid(c *sysevent.Creds) uint32 { return c.LoginUID }

func userField(ev *sysevent.Event, id func(*sysevent.Creds) uint32, resolved func(*sysevent.UserNames) string, fromDB func(proctable.PasswdEntry) string) (string, bool) {
	t := ev.Thread
	if t == nil {
		return "", false
	}
	if s := resolved(&t.Creds.Names); s != "" {
		return s, true
	}
	u, ok := Users.User(id(&t.Creds))
	if !ok {
		return "", false
	}
	return nonEmpty(fromDB(u))
}
