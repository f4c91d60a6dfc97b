package syscallfields

import (
	"net/netip"

	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

func addFDFields(r *fields.Registry) {
	r.MustAdd(
		fdInt("fd.num", "fd number (-1 for a failed open)", fields.KindInt, func(f *sysevent.FD) (int64, bool) {
			return f.Num, true
		}),
		fdStr("fd.type", "fd type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, bpf, memfd, ...", func(f *sysevent.FD) (string, bool) {
			return f.Type.String(), f.Type != sysevent.FDUnknown
		}),
		fdStr("fd.typechar", "fd type as one character (f, d, 4, 6, u, p, ...)", func(f *sysevent.FD) (string, bool) {
			return f.Type.Char(), true
		}),
		fdStr("fd.name", "absolute path for files, connection tuple for sockets", func(f *sysevent.FD) (string, bool) {
			return nonEmpty(f.Name)
		}),
		fdStr("fd.nameraw", "the path as the process passed it, before normalisation", func(f *sysevent.FD) (string, bool) {
			if f.NameRaw != "" {
				return f.NameRaw, true
			}
			return nonEmpty(f.Name)
		}),
		fdStr("fd.directory", "directory of a file fd", func(f *sysevent.FD) (string, bool) {
			if !isPath(f.Type) {
				return "", false
			}
			return nonEmpty(f.Dir)
		}),
		fdStr("fd.filename", "file name of a file fd, without directory", func(f *sysevent.FD) (string, bool) {
			if !isPath(f.Type) {
				return "", false
			}
			return nonEmpty(f.Base)
		}),
		strField("fd.containername", "container id and fd name, colon separated", func(ev *sysevent.Event) (string, bool) {
			if ev.FDInfo == nil || ev.Thread == nil {
				return "", false
			}
			return ev.Thread.Container().ID + ":" + ev.FDInfo.Name, true
		}),
		strField("fd.containerdirectory", "container id and fd directory, colon separated", func(ev *sysevent.Event) (string, bool) {
			if ev.FDInfo == nil || ev.Thread == nil || !isPath(ev.FDInfo.Type) {
				return "", false
			}
			return ev.Thread.Container().ID + ":" + ev.FDInfo.Dir, true
		}),
		fdInt("fd.ino", "inode of the file", fields.KindInt, func(f *sysevent.FD) (int64, bool) {
			return int64(f.Ino), f.Ino != 0
		}),
		fdUint("fd.dev", "device number of the file's filesystem", fields.KindUint, func(f *sysevent.FD) (uint64, bool) {
			return uint64(f.Dev), f.Dev != 0
		}),
		fdUint("fd.dev.major", "major device number", fields.KindUint, func(f *sysevent.FD) (uint64, bool) {
			return uint64(f.Dev >> 20), f.Dev != 0
		}),
		fdUint("fd.dev.minor", "minor device number", fields.KindUint, func(f *sysevent.FD) (uint64, bool) {
			return uint64(f.Dev & 0xfffff), f.Dev != 0
		}),
		fdStr("fd.l4proto", "transport protocol of a socket: tcp, udp, icmp, raw", func(f *sysevent.FD) (string, bool) {
			if !f.Type.IsSocket() && f.L4Proto == sysevent.L4Unknown {
				return "", false
			}
			return f.L4Proto.String(), true
		}),
		fdStr("fd.sockfamily", "socket family: ip or unix", func(f *sysevent.FD) (string, bool) {
			switch f.Type {
			case sysevent.FDIPv4, sysevent.FDIPv6:
				return "ip", true
			case sysevent.FDUnix:
				return "unix", true
			}
			return "", false
		}),
		fdBool("fd.is_server", "true if the process is the server end of the connection", func(f *sysevent.FD) (bool, bool) {
			return f.IsServer, f.Type.IsSocket()
		}),
		fdBool("fd.connected", "true if the socket is connected", func(f *sysevent.FD) (bool, bool) {
			return f.Connected, f.Type.IsSocket()
		}),
		boolField("fd.name_changed", "true when this event changed the fd's name (e.g. a udp socket's tuple)", func(ev *sysevent.Event) (bool, bool) {
			if ev.FDInfo == nil {
				return false, false
			}
			return ev.Num != 0 && ev.FDInfo.ChangedBy == ev.Num, true
		}),
		fdIP("fd.cip", "client IP", func(f *sysevent.FD) netip.Addr { return f.ClientIP }),
		fdIP("fd.sip", "server IP", func(f *sysevent.FD) netip.Addr { return f.ServerIP }),
		fdIP("fd.lip", "local IP", (*sysevent.FD).LocalIP),
		fdIP("fd.rip", "remote IP", (*sysevent.FD).RemoteIP),
		fdNet("fd.cnet", "client IP, matched against networks", func(f *sysevent.FD) netip.Addr { return f.ClientIP }),
		fdNet("fd.snet", "server IP, matched against networks", func(f *sysevent.FD) netip.Addr { return f.ServerIP }),
		fdNet("fd.lnet", "local IP, matched against networks", (*sysevent.FD).LocalIP),
		fdNet("fd.rnet", "remote IP, matched against networks", (*sysevent.FD).RemoteIP),
		fdPort("fd.cport", "client port", func(f *sysevent.FD) uint16 { return f.ClientPort }),
		fdPort("fd.sport", "server port", func(f *sysevent.FD) uint16 { return f.ServerPort }),
		fdPort("fd.lport", "local port", (*sysevent.FD).LocalPort),
		fdPort("fd.rport", "remote port", (*sysevent.FD).RemotePort),
		// libsinsp matches fd.ip/fd.net/fd.port against either end of the
		// connection (= and in: either; !=: neither). The condition engine
		// has no either-end comparison, so these read the peer (remote)
		// end, or the local end of a socket with no peer (bound, listening).
		eitherEnd("fd.ip", fields.KindIP, "IP of either end of the connection: = and in match the client or the server IP, != neither"),
		eitherEnd("fd.net", fields.KindIPNet, "IP of either end of the connection, matched against networks: = and in match the client or the server, != neither"),
		eitherEnd("fd.port", fields.KindPort, "port of either end of the connection: = and in match the client or the server port, != neither"),
		fields.Def{Name: "fd.types", Kind: fields.KindString, List: true, Arg: fields.ArgOptional, ArgKind: fields.ArgIndex,
			Desc: "types of the fds the event uses; fd.types[0] is the first",
			Bind: bindFDTypes},
		// Names from DNS, for the names rules compare them with.
		dnsName("fd.cip.name", "domain name of the client IP, among the names conditions compare it with", func(f *sysevent.FD) netip.Addr { return f.ClientIP }),
		dnsName("fd.sip.name", "domain name of the server IP, among the names conditions compare it with", func(f *sysevent.FD) netip.Addr { return f.ServerIP }),
		dnsName("fd.lip.name", "domain name of the local IP, among the names conditions compare it with", (*sysevent.FD).LocalIP),
		dnsName("fd.rip.name", "domain name of the remote IP, among the names conditions compare it with", (*sysevent.FD).RemoteIP),

		strField("fs.path.name", "path of the file the event operates on", func(ev *sysevent.Event) (string, bool) {
			if isTwoPath(ev.Type) {
				return "", false
			}
			return nonEmpty(ev.Path)
		}),
		strField("fs.path.source", "source path of rename/link/symlink events", func(ev *sysevent.Event) (string, bool) {
			switch {
			case isTwoPath(ev.Type):
				return nonEmpty(ev.Path)
			case ev.Type == sysevent.SysSymlink || ev.Type == sysevent.SysSymlinkat:
				return nonEmpty(ev.Target)
			}
			return "", false
		}),
		strField("fs.path.target", "target path of rename/link/symlink events", func(ev *sysevent.Event) (string, bool) {
			switch {
			case isTwoPath(ev.Type):
				return nonEmpty(ev.Path2)
			case ev.Type == sysevent.SysSymlink || ev.Type == sysevent.SysSymlinkat:
				return nonEmpty(ev.Path)
			}
			return "", false
		}),
	)
}

func isPath(t sysevent.FDType) bool {
	return t == sysevent.FDFile || t == sysevent.FDDirectory || t == sysevent.FDMemfd
}

func fdOf(e fields.Event) *sysevent.FD {
	if ev := asEvent(e); ev != nil {
		return ev.FDInfo
	}
	return nil
}

func socketFD(e fields.Event) *sysevent.FD {
	if f := fdOf(e); f != nil && (f.Type == sysevent.FDIPv4 || f.Type == sysevent.FDIPv6) {
		return f
	}
	return nil
}

func fdStr(name, desc string, g func(*sysevent.FD) (string, bool)) fields.Def {
	return strField(name, desc, func(ev *sysevent.Event) (string, bool) {
		if ev.FDInfo == nil {
			return "", false
		}
		return g(ev.FDInfo)
	})
}

func fdInt(name, desc string, kind fields.Kind, g func(*sysevent.FD) (int64, bool)) fields.Def {
	return intField(name, desc, kind, func(ev *sysevent.Event) (int64, bool) {
		if ev.FDInfo == nil {
			return 0, false
		}
		return g(ev.FDInfo)
	})
}

func fdUint(name, desc string, kind fields.Kind, g func(*sysevent.FD) (uint64, bool)) fields.Def {
	return uintField(name, desc, kind, func(ev *sysevent.Event) (uint64, bool) {
		if ev.FDInfo == nil {
			return 0, false
		}
		return g(ev.FDInfo)
	})
}

func fdBool(name, desc string, g func(*sysevent.FD) (bool, bool)) fields.Def {
	return boolField(name, desc, func(ev *sysevent.Event) (bool, bool) {
		if ev.FDInfo == nil {
			return false, false
		}
		return g(ev.FDInfo)
	})
}

func fdIP(name, desc string, g func(*sysevent.FD) netip.Addr) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindIP, Desc: desc, Bind: noArg(func(e fields.Event, out *fields.Value) bool {
		f := socketFD(e)
		if f == nil {
			return false
		}
		ip := g(f)
		out.Kind, out.IP = fields.KindIP, ip
		return ip.IsValid()
	})}
}

// fdNet fields carry the address both as IP and as a host prefix (/32,
// /128), so that the engine can test it against networks either way.
func fdNet(name, desc string, g func(*sysevent.FD) netip.Addr) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindIPNet, Desc: desc, Bind: noArg(func(e fields.Event, out *fields.Value) bool {
		f := socketFD(e)
		if f == nil {
			return false
		}
		ip := g(f)
		if !ip.IsValid() {
			return false
		}
		out.Kind, out.IP, out.Net = fields.KindIPNet, ip, netip.PrefixFrom(ip, ip.BitLen())
		return true
	})}
}

func fdPort(name, desc string, g func(*sysevent.FD) uint16) fields.Def {
	return fields.Def{Name: name, Kind: fields.KindPort, Desc: desc, Bind: noArg(func(e fields.Event, out *fields.Value) bool {
		f := socketFD(e)
		if f == nil {
			return false
		}
		out.Kind, out.Uint = fields.KindPort, uint64(g(f))
		return true
	})}
}

// eitherEnd builds fd.ip, fd.net and fd.port as libsinsp compares them:
// a check holds when it holds for the client or the server end (for !=,
// for neither), so they are lists of both ends compared with AnyOf. A
// socket without a connection tuple (bound, listening) has its local end.
func eitherEnd(name string, kind fields.Kind, desc string) fields.Def {
	return fields.Def{Name: name, Kind: kind, List: true, AnyOf: true, Desc: desc, Bind: noArg(func(e fields.Event, out *fields.Value) bool {
		f := socketFD(e)
		if f == nil {
			return false
		}
		out.Kind, out.IsList = kind, true
		out.Strs, out.Ints = out.Strs[:0], out.Ints[:0]
		if kind == fields.KindPort {
			if f.ClientIP.IsValid() {
				out.Ints = append(out.Ints, int64(f.ClientPort))
			}
			if f.ServerIP.IsValid() {
				out.Ints = append(out.Ints, int64(f.ServerPort))
			}
			if len(out.Ints) == 0 {
				out.Ints = append(out.Ints, int64(peerPort(f)))
			}
			return true
		}
		if f.ClientAddr != "" {
			out.Strs = append(out.Strs, f.ClientAddr)
		}
		if f.ServerAddr != "" {
			out.Strs = append(out.Strs, f.ServerAddr)
		}
		if len(out.Strs) == 0 {
			ip := peerIP(f)
			if !ip.IsValid() {
				return false
			}
			out.Strs = append(out.Strs, ip.String())
		}
		return true
	})}
}

// peerIP is the remote end's address, or the local one when unset.
func peerIP(f *sysevent.FD) netip.Addr {
	if ip := f.RemoteIP(); ip.IsValid() {
		return ip
	}
	return f.LocalIP()
}

func peerPort(f *sysevent.FD) uint16 {
	if f.RemoteIP().IsValid() || f.RemotePort() != 0 {
		return f.RemotePort()
	}
	return f.LocalPort()
}

func bindFDTypes(arg string) (fields.Extract, error) {
	if arg == "" {
		return func(e fields.Event, out *fields.Value) bool {
			f := fdOf(e)
			if f == nil {
				return false
			}
			out.Kind, out.IsList = fields.KindString, true
			out.Strs = append(out.Strs[:0], f.Type.String())
			return true
		}, nil
	}
	n, err := parseIndex(arg)
	if err != nil {
		return nil, err
	}
	return func(e fields.Event, out *fields.Value) bool {
		f := fdOf(e)
		if f == nil || n != 0 {
			return false
		}
		out.Kind, out.Str = fields.KindString, f.Type.String()
		return true
	}, nil
}
