package proctable

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// socketIndex resolves socket inodes (the "socket:[INODE]" fd links) to
// their tuples from the /proc/PID/net tables, loaded once per network
// namespace.
type socketIndex struct {
	root string
	mu   sync.Mutex
	byNS map[string]map[uint64]*sysevent.FD
}

func newSocketIndex(root string) *socketIndex {
	return &socketIndex{root: root, byNS: map[string]map[uint64]*sysevent.FD{}}
}

func (s *socketIndex) lookup(pr *procInfo, link string) (*sysevent.FD, bool) {
	ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	tab, ok := s.byNS[pr.netns]
	if !ok {
		tab = loadSockets(filepath.Join(s.root, strconv.FormatInt(pr.pid, 10), "net"))
		s.byNS[pr.netns] = tab
	}
	s.mu.Unlock()
	f, ok := tab[ino]
	if !ok {
		return nil, false
	}
	c := *f
	return &c, true
}

// loadSockets reads the tcp, udp (v4, v6) and unix tables of one netns.
func loadSockets(dir string) map[uint64]*sysevent.FD {
	m := map[uint64]*sysevent.FD{}
	type row struct {
		local, remote netip.AddrPort
		state         string
		ino           uint64
	}
	var tcp []row
	listening := map[uint16]bool{}
	for _, tbl := range []struct {
		file  string
		proto sysevent.L4Proto
		v6    bool
	}{
		{"tcp", sysevent.L4TCP, false}, {"tcp6", sysevent.L4TCP, true},
		{"udp", sysevent.L4UDP, false}, {"udp6", sysevent.L4UDP, true},
	} {
		eachRow(filepath.Join(dir, tbl.file), func(f []string) {
			if len(f) < 10 {
				return
			}
			local, ok1 := parseHexAddr(f[1])
			remote, ok2 := parseHexAddr(f[2])
			ino, err := strconv.ParseUint(f[9], 10, 64)
			if !ok1 || !ok2 || err != nil || ino == 0 {
				return
			}
			typ := sysevent.FDIPv4
			if tbl.v6 {
				typ = sysevent.FDIPv6
			}
			fd := &sysevent.FD{Type: typ, L4Proto: tbl.proto}
			switch {
			case tbl.proto == sysevent.L4TCP && f[3] == "0A": // LISTEN
				listening[local.Port()] = true
				fd.ServerIP, fd.ServerPort, fd.IsServer, fd.Listening = local.Addr(), local.Port(), true, true
			case remote.Port() == 0 && remote.Addr().IsUnspecified(): // bound, no peer
				fd.ServerIP, fd.ServerPort, fd.IsServer = local.Addr(), local.Port(), true
			default:
				// Decided below once every listening port is known.
				tcp = append(tcp, row{local, remote, f[3], ino})
				fd = nil
			}
			if fd != nil {
				fd.FinishSocket()
				m[ino] = fd
			}
		})
	}
	for _, r := range tcp {
		typ := sysevent.FDIPv4
		if r.local.Addr().Is6() {
			typ = sysevent.FDIPv6
		}
		fd := &sysevent.FD{Type: typ, L4Proto: sysevent.L4TCP, Connected: true}
		if listening[r.local.Port()] {
			fd.IsServer = true
			fd.ServerIP, fd.ServerPort = r.local.Addr(), r.local.Port()
			fd.ClientIP, fd.ClientPort = r.remote.Addr(), r.remote.Port()
		} else {
			fd.ClientIP, fd.ClientPort = r.local.Addr(), r.local.Port()
			fd.ServerIP, fd.ServerPort = r.remote.Addr(), r.remote.Port()
		}
		fd.FinishSocket()
		m[r.ino] = fd
	}
	// unix: Num RefCount Protocol Flags Type St Inode [Path]
	eachRow(filepath.Join(dir, "unix"), func(f []string) {
		if len(f) < 7 {
			return
		}
		ino, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil {
			return
		}
		fd := &sysevent.FD{Type: sysevent.FDUnix}
		if len(f) >= 8 {
			fd.UnixPath = f[7]
		}
		fd.FinishSocket()
		m[ino] = fd
	})
	return m
}

func eachRow(path string, f func([]string)) {
	file, err := os.Open(path)
	if err != nil {
		return
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Scan() // header
	for sc.Scan() {
		f(strings.Fields(sc.Text()))
	}
}

// parseHexAddr parses the kernel's "0100007F:0016" (IPv4) or 32-hex-digit
// IPv6 form: the address in host (little-endian) 32-bit words, the port
// in hex.
func parseHexAddr(s string) (netip.AddrPort, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	var b [16]byte
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	var addr netip.Addr
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		addr = netip.AddrFrom16(b)
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}
