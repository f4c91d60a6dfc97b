package ruletest

import (
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// The syscall event of a case is written as the fields rules read. Each key
// below is a field (or evt.arg.NAME); the builder sets the members of
// sysevent.Event, Thread, FD and Container that the field is read from.
// Anything else is an error naming the key, so that a typo cannot make a
// case pass by testing nothing.

// SyscallKeys lists the keys a syscall event may set, for documentation
// and error messages.
var SyscallKeys = []string{
	"template", "evt.type", "evt.rawres", "evt.num", "evt.arg.NAME",
	"fd.num", "fd.type", "fd.name", "fd.cip", "fd.cport", "fd.sip", "fd.sport", "fd.l4proto",
	"proc.name", "proc.exe", "proc.exepath", "proc.cmdline", "proc.args", "proc.pid", "proc.vpid",
	"proc.tty", "proc.cwd", "proc.env", "proc.is_exe_upper_layer", "proc.is_exe_from_memfd",
	"proc.is_exe_writable", "proc.pname", "proc.pexepath", "proc.pcmdline", "proc.ppid", "proc.aname",
	"user.uid", "user.loginuid", "group.gid",
	"container.id", "container.name", "container.image", "container.image.repository",
	"container.image.tag", "container.privileged", "container.type",
	"k8s.ns.name", "k8s.pod.name", "k8s.pod.uid",
}

// evtArgKeys are the evt.arg.NAME names the builder understands.
var evtArgKeys = []string{
	"flags", "nstype", "mode", "request", "cmd", "dev", "domain", "type", "target", "name", "path", "filename",
	"pathname", "linkpath", "oldpath", "newpath", "dir", "fd", "oldfd", "newfd", "pid", "uid", "gid", "uargs",
}

// defaultTime is the timestamp of every syscall event (2026-01-01T00:00:00Z).
const defaultTime = int64(1767225600) * 1e9

// syscallEvent builds the event a case describes.
func (f *File) syscallEvent(spec map[string]any, num uint64) (*sysevent.Event, error) {
	m := map[string]any{}
	if t, ok := spec["template"]; ok {
		for k, v := range f.templates[t.(string)] {
			m[k] = v
		}
	}
	for k, v := range spec {
		if k != "template" {
			m[k] = v
		}
	}
	b := &builder{m: m, used: map[string]bool{}}
	ev, err := b.build(num)
	if err != nil {
		return nil, fmt.Errorf("syscall: %w", err)
	}
	var unknown []string
	for k := range m {
		if !b.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("syscall: unsupported key(s) %s (supported: %s; evt.arg.NAME with NAME one of %s)",
			strings.Join(unknown, ", "), strings.Join(SyscallKeys[1:], " "), strings.Join(evtArgKeys, " "))
	}
	return ev, nil
}

type builder struct {
	m    map[string]any
	used map[string]bool
	err  error
}

func (b *builder) has(k string) bool { _, ok := b.m[k]; return ok }

func (b *builder) fail(k string, format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("%s: %s", k, fmt.Sprintf(format, args...))
	}
}

func (b *builder) str(k, def string) string {
	v, ok := b.m[k]
	if !ok {
		return def
	}
	b.used[k] = true
	switch x := v.(type) {
	case string:
		return x
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(x)
	}
	b.fail(k, "want a string, got %T", v)
	return def
}

func (b *builder) int(k string, def int64) int64 {
	v, ok := b.m[k]
	if !ok {
		return def
	}
	b.used[k] = true
	switch x := v.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case uint64:
		return int64(x)
	case string:
		n, err := strconv.ParseInt(x, 0, 64)
		if err == nil {
			return n
		}
	}
	b.fail(k, "want an integer, got %v", v)
	return def
}

func (b *builder) bool(k string) bool {
	v, ok := b.m[k]
	if !ok {
		return false
	}
	b.used[k] = true
	if x, ok := v.(bool); ok {
		return x
	}
	b.fail(k, "want true or false, got %v", v)
	return false
}

func (b *builder) strs(k string) ([]string, bool) {
	v, ok := b.m[k]
	if !ok {
		return nil, false
	}
	b.used[k] = true
	switch x := v.(type) {
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = fmt.Sprint(e)
		}
		return out, true
	case string:
		return splitWords(x), true
	}
	b.fail(k, "want a list, got %T", v)
	return nil, false
}

func (b *builder) ip(k string) netip.Addr {
	s := b.str(k, "")
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		b.fail(k, "%v", err)
	}
	return a
}

// maxComm is the length of the kernel's task comm, which proc.name reports.
const maxComm = 15

func (b *builder) build(num uint64) (*sysevent.Event, error) {
	typeName := b.str("evt.type", "")
	if typeName == "" {
		return nil, fmt.Errorf("evt.type is required")
	}
	typ, ok := sysevent.TypeByName(typeName)
	if !ok {
		return nil, fmt.Errorf("evt.type: unknown event type %q", typeName)
	}
	ev := &sysevent.Event{Type: typ, Time: defaultTime, Num: uint64(b.int("evt.num", int64(num))), FD: -1}

	th := b.thread()
	ev.Thread = th
	ev.PID, ev.TID = uint32(th.Pid), uint32(th.Pid)

	fd := b.fd(ev)
	b.args(ev, fd)
	if fd != nil {
		ev.FDInfo = fd
		if ev.FD == -1 && !returnsFD(typ) {
			ev.FD = fd.Num
		}
	}
	// The result: an fd for the calls that return one, else 0 (success).
	def := int64(0)
	if returnsFD(typ) {
		def = 3
		if fd != nil {
			def = fd.Num
		}
	}
	ev.Ret = b.int("evt.rawres", def)

	if typ == sysevent.SysExecve || typ == sysevent.SysExecveat {
		im := th.Image()
		ev.Argv = append([]string{im.Exe}, im.Args...)
		ev.Path, ev.Target = im.ExePath, im.Exe
		ev.Has = sysevent.HasProc | sysevent.HasCreds | sysevent.HasExe | sysevent.HasCwd
		ev.Proc = sysevent.ProcInfo{
			PPID: uint32(th.PPid()), VPID: uint32(th.VPid), TTY: th.TTY, StartTime: th.StartTime,
			UID: th.Creds.UID, GID: th.Creds.GID, EUID: th.Creds.EUID, EGID: th.Creds.EGID,
			LoginUID: th.Creds.LoginUID, Comm: im.Comm, Cwd: th.Cwd, ExePath: im.ExePath,
			ExeUpperLayer: im.ExeUpperLayer, ExeFromMemfd: im.ExeFromMemfd, Env: im.Env,
		}
	}
	return ev, b.err
}

func returnsFD(t sysevent.Type) bool {
	switch t {
	case sysevent.SysOpen, sysevent.SysOpenat, sysevent.SysOpenat2, sysevent.SysCreat,
		sysevent.SysSocket, sysevent.SysAccept, sysevent.SysAccept4, sysevent.SysMemfdCreate:
		return true
	}
	return false
}

func isOpen(t sysevent.Type) bool {
	switch t {
	case sysevent.SysOpen, sysevent.SysOpenat, sysevent.SysOpenat2, sysevent.SysCreat:
		return true
	}
	return false
}

// thread builds the calling process and its ancestors.
func (b *builder) thread() *sysevent.Thread {
	pid := b.int("proc.pid", 4000)
	th := &sysevent.Thread{Pid: pid, VPid: b.int("proc.vpid", pid), StartTime: defaultTime - 1e9}
	th.TTY = uint32(b.int("proc.tty", 0))
	if cwd := b.str("proc.cwd", "/"); cwd != "" {
		if !strings.HasSuffix(cwd, "/") {
			cwd += "/"
		}
		th.Cwd = cwd
	}
	uid := uint32(b.int("user.uid", 0))
	gid := uint32(b.int("group.gid", int64(uid)))
	login := b.int("user.loginuid", -1)
	th.Creds = sysevent.Creds{UID: uid, EUID: uid, SUID: uid, FSUID: uid,
		GID: gid, EGID: gid, SGID: gid, FSGID: gid, LoginUID: uint32(login)}

	im := b.image("proc.name", "proc.exe", "proc.exepath", "proc.cmdline", "proc.args")
	if im == nil {
		im = sysevent.NewImage("", "", "", nil) // no process fields: they read <NA>
	}
	if env, ok := b.strs("proc.env"); ok {
		im.Env = env
	}
	im.ExeUpperLayer = b.bool("proc.is_exe_upper_layer")
	im.ExeFromMemfd = b.bool("proc.is_exe_from_memfd")
	im.ExeWritable = b.bool("proc.is_exe_writable")
	th.SetImage(im)
	th.SetContainer(b.container())

	// Ancestors: proc.aname lists names from the parent up; proc.pname,
	// proc.pexepath and proc.pcmdline describe the parent.
	anames, _ := b.strs("proc.aname")
	parentIm := b.image("proc.pname", "", "proc.pexepath", "proc.pcmdline", "")
	if parentIm != nil && parentIm.Comm != "" {
		if len(anames) == 0 {
			anames = []string{parentIm.Comm}
		} else if anames[0] != parentIm.Comm && b.has("proc.pname") {
			b.fail("proc.pname", "%q contradicts proc.aname[1] %q", parentIm.Comm, anames[0])
		}
	}
	ppid := b.int("proc.ppid", pid-1)
	child := th
	for i, name := range anames {
		a := &sysevent.Thread{Pid: ppid - int64(i), StartTime: defaultTime - int64(i+2)*1e9, Cwd: "/"}
		a.VPid = a.Pid
		if i == 0 && parentIm != nil && parentIm.Comm != "" {
			a.SetImage(parentIm)
		} else {
			a.SetImage(sysevent.NewImage(comm(name), name, "", nil))
		}
		a.SetContainer(sysevent.Host)
		child.SetParent(a, a.Pid)
		child = a
	}
	if len(anames) == 0 {
		th.SetParent(nil, ppid)
	}
	return th
}

func comm(name string) string {
	name = path.Base(name)
	if len(name) > maxComm {
		name = name[:maxComm]
	}
	return name
}

// image builds an exec image from the name/exe/exepath/cmdline/args keys
// (any may be ""). proc.cmdline is "name arg arg..." as libsinsp prints it.
func (b *builder) image(nameK, exeK, exepathK, cmdlineK, argsK string) *sysevent.Image {
	var name, exe, exepath string
	if nameK != "" {
		name = b.str(nameK, "")
		if len(name) > maxComm {
			b.fail(nameK, "%q is longer than %d characters: the kernel's comm, which proc.name reports, never is", name, maxComm)
		}
	}
	if exeK != "" {
		exe = b.str(exeK, "")
	}
	if exepathK != "" {
		exepath = b.str(exepathK, "")
	}
	var args []string
	hasArgs := false
	if argsK != "" {
		args, hasArgs = b.strs(argsK)
	}
	if cmdlineK != "" && b.has(cmdlineK) {
		words := splitWords(b.str(cmdlineK, ""))
		if len(words) > 0 {
			if name == "" {
				name = comm(words[0])
			} else if words[0] != name && comm(words[0]) != name {
				b.fail(cmdlineK, "starts with %q but the process name is %q: the command line is the name followed by the arguments", words[0], name)
			}
			if !hasArgs {
				args = words[1:]
			}
		}
	}
	if name == "" && exepath != "" {
		name = comm(exepath)
	}
	if name == "" && exe == "" && exepath == "" && len(args) == 0 {
		return nil
	}
	if exe == "" {
		exe = exepath
		if exe == "" {
			exe = name
		}
	}
	return sysevent.NewImage(name, exe, exepath, args)
}

// splitWords splits a command line at spaces, keeping quoted words whole
// (quotes removed).
func splitWords(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

func (b *builder) container() *sysevent.Container {
	keys := []string{"container.id", "container.name", "container.image", "container.image.repository",
		"container.image.tag", "container.privileged", "container.type", "k8s.ns.name", "k8s.pod.name", "k8s.pod.uid"}
	anySet := false
	for _, k := range keys {
		anySet = anySet || b.has(k)
	}
	if !anySet {
		return sysevent.Host
	}
	id := b.str("container.id", "")
	if id == "" {
		b.fail("container.id", "required when any container.* or k8s.* key is set")
	}
	if id == "host" {
		return sysevent.Host
	}
	c := &sysevent.Container{ID: id, FullID: id, Type: b.str("container.type", "containerd"),
		Name: b.str("container.name", ""), Image: b.str("container.image", ""),
		PodName: b.str("k8s.pod.name", ""), PodNamespace: b.str("k8s.ns.name", ""), PodUID: b.str("k8s.pod.uid", ""),
		StartTS: defaultTime - 3600*1e9}
	repo, tag := splitImage(c.Image)
	c.ImageRepo = b.str("container.image.repository", repo)
	c.ImageTag = b.str("container.image.tag", tag)
	if b.has("container.privileged") {
		p := b.bool("container.privileged")
		c.Privileged = &p
	}
	return c
}

// splitImage splits "registry/repo:tag@digest" into repository and tag.
func splitImage(image string) (repo, tag string) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		return image[:i], image[i+1:]
	}
	return image, ""
}

// fd builds the file or socket the event concerns, when the case names one
// (or an open's path implies one).
func (b *builder) fd(ev *sysevent.Event) *sysevent.FD {
	keys := []string{"fd.num", "fd.type", "fd.name", "fd.cip", "fd.cport", "fd.sip", "fd.sport", "fd.l4proto"}
	anySet := false
	for _, k := range keys {
		anySet = anySet || b.has(k)
	}
	if !anySet && !isOpen(ev.Type) {
		return nil
	}
	fd := &sysevent.FD{Num: b.int("fd.num", 3), Name: b.str("fd.name", "")}
	cip, sip := b.ip("fd.cip"), b.ip("fd.sip")
	fd.ClientIP, fd.ServerIP = cip, sip
	fd.ClientPort, fd.ServerPort = uint16(b.int("fd.cport", 0)), uint16(b.int("fd.sport", 0))
	typ := b.str("fd.type", "")
	switch {
	case typ != "":
		t, ok := fdTypeByName(typ)
		if !ok {
			b.fail("fd.type", "unknown fd type %q", typ)
		}
		fd.Type = t
	case sip.IsValid() || cip.IsValid():
		fd.Type = sysevent.FDIPv4
		if sip.Is6() && !sip.Is4In6() {
			fd.Type = sysevent.FDIPv6
		}
	case strings.HasPrefix(fd.Name, "/") || isOpen(ev.Type):
		fd.Type = sysevent.FDFile
	}
	switch fd.Type {
	case sysevent.FDIPv4, sysevent.FDIPv6:
		proto := b.str("fd.l4proto", "tcp")
		switch proto {
		case "tcp":
			fd.L4Proto = sysevent.L4TCP
		case "udp":
			fd.L4Proto = sysevent.L4UDP
		default:
			b.fail("fd.l4proto", "want tcp or udp, got %q", proto)
		}
		fd.Connected = true
		if fd.Name == "" && cip.IsValid() && sip.IsValid() {
			fd.Name = netip.AddrPortFrom(cip, fd.ClientPort).String() + "->" + netip.AddrPortFrom(sip, fd.ServerPort).String()
		}
		fam := uint16(sysevent.AFInet)
		if fd.Type == sysevent.FDIPv6 {
			fam = sysevent.AFInet6
		}
		ev.Sock = sysevent.SockAddr{Family: fam, Type: sysevent.SockStream, IP: sip, Port: fd.ServerPort}
		ev.Local = sysevent.SockAddr{Family: fam, Type: sysevent.SockStream, IP: cip, Port: fd.ClientPort}
	case sysevent.FDFile, sysevent.FDDirectory:
		if fd.Name != "" {
			fd.Dir, fd.Base = path.Dir(fd.Name), path.Base(fd.Name)
		}
	}
	return fd
}

func fdTypeByName(s string) (sysevent.FDType, bool) {
	for t := sysevent.FDUnknown; t <= sysevent.FDPidfd; t++ {
		if t.String() == s || (len(s) == 1 && t.Char() == s) {
			return t, true
		}
	}
	return 0, false
}

// args sets the evt.arg.NAME keys. Names mean what libsinsp calls them for
// the event type: flags are open flags for open calls and namespace flags
// for unshare/setns, request is ptrace's, domain is socket's.
func (b *builder) args(ev *sysevent.Event, fd *sysevent.FD) {
	for k, v := range b.m {
		name, ok := strings.CutPrefix(k, "evt.arg.")
		if !ok {
			continue
		}
		b.used[k] = true
		var err error
		var n uint64
		switch name {
		case "flags", "nstype":
			switch {
			case isOpen(ev.Type):
				n, err = parseBits(v, openFlagValues, k)
			case ev.Type == sysevent.SysUnshare || ev.Type == sysevent.SysSetns ||
				ev.Type == sysevent.SysClone || ev.Type == sysevent.SysClone3:
				n, err = parseBits(v, nsFlagValues, k)
			case ev.Type == sysevent.SysMemfdCreate:
				n, err = parseBits(v, memfdFlagValues, k)
			default:
				n, err = parseBits(v, nil, k)
			}
			ev.Flags = n
		case "mode":
			n, err = parseMode(v)
			ev.Mode = uint32(n)
		case "request":
			n, err = parseBits(v, ptraceRequestValues, k)
			ev.Request = int64(n)
		case "cmd":
			n, err = parseBits(v, bpfCmdValues, k)
			ev.Request = int64(n)
		case "dev":
			ev.DevName = b.str(k, "")
		case "domain":
			n, err = parseBits(v, socketFamilyValues, k)
			ev.Sock.Family = uint16(n)
		case "type":
			if ev.Type == sysevent.SysMount {
				ev.FSType = b.str(k, "")
				break
			}
			n, err = parseBits(v, socketTypeValues, k)
			ev.Sock.Type = uint16(n)
		case "target":
			ev.Target = b.str(k, "")
		case "name":
			if isOpen(ev.Type) {
				ev.Path = b.str(k, "")
				ev.Target = ev.Path
			} else {
				ev.Name = b.str(k, "")
			}
		case "uargs":
			ev.Name = b.str(k, "")
		case "path", "filename", "pathname", "linkpath", "oldpath", "dir":
			ev.Path = b.str(k, "")
		case "newpath":
			ev.Path2 = b.str(k, "")
		case "fd", "oldfd":
			ev.FD = b.int(k, -1)
		case "newfd":
			ev.Args[1] = uint64(b.int(k, 0))
		case "pid":
			ev.TargetPID = b.int(k, 0)
		case "uid":
			ev.UID = uint32(b.int(k, 0))
		case "gid":
			ev.GID = uint32(b.int(k, 0))
		default:
			b.fail(k, "unsupported argument (supported: %s)", strings.Join(evtArgKeys, " "))
		}
		if err != nil && b.err == nil {
			b.err = err
		}
	}
	if ev.Type == sysevent.SysCreat && !b.has("evt.arg.flags") {
		ev.Flags = openFlagValues["O_CREAT"] | openFlagValues["O_WRONLY"] | openFlagValues["O_TRUNC"] // as the capture reports creat
	}
	if isOpen(ev.Type) && fd != nil {
		if ev.Path == "" {
			ev.Path, ev.Target = fd.Name, fd.Name
		}
		if fd.Name == "" {
			fd.Name = ev.Path
			fd.Dir, fd.Base = path.Dir(fd.Name), path.Base(fd.Name)
		}
		fd.OpenFlags = uint32(ev.Flags)
		fd.Mode = ev.Mode
	}
}

var _ fields.Event = (*sysevent.Event)(nil)
