package bpfcapture

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// The decoder's offsets are constants; the C structs are the truth. This
// reads them from the object's BTF so that a change on one side only
// fails here rather than decoding garbage.
func TestLayoutMatchesBTF(t *testing.T) {
	spec, err := loadHarrier()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, size int, members map[string]int) {
		t.Helper()
		var s *btf.Struct
		if err := spec.Types.TypeByName(name, &s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if int(s.Size) != size {
			t.Errorf("sizeof(struct %s) = %d, decoder assumes %d", name, s.Size, size)
		}
		found := 0
		for _, m := range s.Members {
			if want, ok := members[m.Name]; ok {
				found++
				if got := int(m.Offset.Bytes()); got != want {
					t.Errorf("%s.%s at %d, decoder assumes %d", name, m.Name, got, want)
				}
			}
		}
		if found != len(members) {
			t.Errorf("%s: found %d of %d members", name, found, len(members))
		}
	}
	check("rec_hdr", hdrSize, map[string]int{"ts": 0, "args": 8, "ret": 56, "aux": 64, "aux2": 72,
		"tid": 76, "pid": 80, "type": 84, "cpu": 86, "kind": 88, "len": 92})
	check("item", itemSize, map[string]int{"len": 0, "id": 2, "flags": 3})
	check("sock_tuple", tupleSize, map[string]int{"family": 0, "type": 2, "proto": 4, "sport": 6, "dport": 8, "saddr": 12, "daddr": 28})
	check("proc_info", procSize, map[string]int{"start_boottime": 0, "cap_eff": 8, "cap_perm": 16, "cap_inh": 24,
		"exe_ino": 32, "exe_ctime": 40, "exe_mtime": 48, "ppid": 56, "ptid": 60, "oldtid": 64, "vpid": 68,
		"vtid": 72, "sid": 76, "pgid": 80, "tty_major": 84, "tty_minor": 88, "uid": 92, "loginuid": 124,
		"exe_nlink": 128, "has": 132, "exe_upper": 133, "group_dead": 134, "comm": 136})
}

// record builds a record the way the kernel does.
type record struct{ b []byte }

func newRecord(kind uint8, typ sysevent.Type, args ...uint64) *record {
	r := &record{b: make([]byte, hdrSize)}
	for i, a := range args {
		binary.LittleEndian.PutUint64(r.b[8+8*i:], a)
	}
	binary.LittleEndian.PutUint16(r.b[84:], uint16(typ))
	r.b[88] = kind
	return r
}

func (r *record) item(id uint8, data []byte) *record {
	r.b = binary.LittleEndian.AppendUint16(r.b, uint16(len(data)))
	r.b = append(r.b, id, 0)
	r.b = append(r.b, data...)
	binary.LittleEndian.PutUint32(r.b[92:], uint32(len(r.b)-hdrSize))
	return r
}

func TestDecodeJoinsRelativePaths(t *testing.T) {
	for _, tc := range []struct {
		base, rel, want string
	}{
		{"etc\x00", "passwd", "/etc/passwd"},
		{"", "passwd", "/passwd"},
		{"b\x00a\x00", "../c/./d", "/a/c/d"},
		{"b\x00a\x00", "../../../x", "/x"},
		{"tmp\x00", "", "/tmp"}, // AT_EMPTY_PATH
		{"ignored\x00", "/abs//p/", "/abs/p"},
		{"b\x00a\x00", "c", "/a/b/c"},
		{"", "/home/u/.ssh/id_rsa", "/home/u/.ssh/id_rsa"},
		{"", "/a/./b", "/a/b"},
		{"", "/a/b/..", "/a"},
		{"", "/a/..b", "/a/..b"},
		{"x\x00", ".hidden", "/x/.hidden"},
	} {
		r := newRecord(recSyscall, sysevent.SysOpenat, uint64(0xffffff9c)).item(itPath, []byte(tc.rel))
		if tc.rel == "" || tc.rel[0] != '/' {
			r.item(itBase, []byte(tc.base))
		}
		var ev sysevent.Event
		if err := newDecoder(0).decode(r.b, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Path != tc.want || ev.Target != tc.rel || ev.FD != sysevent.AtFDCWD {
			t.Errorf("base %q rel %q: path %q target %q fd %d, want %q", tc.base, tc.rel, ev.Path, ev.Target, ev.FD, tc.want)
		}
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	good := newRecord(recSyscall, sysevent.SysOpenat).item(itPath, []byte("/etc/passwd")).b
	for name, b := range map[string][]byte{
		"short header":  good[:hdrSize-1],
		"items overrun": append(append([]byte{}, good[:hdrSize]...), good[hdrSize:hdrSize+3]...),
		"bad item id":   newRecord(recSyscall, sysevent.SysOpenat).item(99, []byte("x")).b,
		"unknown kind":  newRecord(9, sysevent.SysOpenat).b,
		"short proc":    newRecord(recExec, sysevent.SysExecve).item(itProc, make([]byte, 10)).b,
		"truncated item": func() []byte {
			b := newRecord(recSyscall, sysevent.SysOpen).item(itPath, []byte("abcdef")).b
			return b[:len(b)-2]
		}(),
	} {
		var ev sysevent.Event
		if err := newDecoder(0).decode(b, &ev); err == nil {
			t.Errorf("%s: decoded without error: %+v", name, ev)
		}
	}
}

func TestDecodeIsAllocationFreeForRepeatedPaths(t *testing.T) {
	rec := newRecord(recSyscall, sysevent.SysOpenat, uint64(0xffffff9c), 0, 0).item(itPath, []byte("/etc/ld.so.cache")).b
	d := newDecoder(0)
	var ev sysevent.Event
	allocs := testing.AllocsPerRun(1000, func() {
		ev.Reset()
		if err := d.decode(rec, &ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decoding a repeated openat allocates %.1f times", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(newRecord(recSyscall, sysevent.SysOpenat).item(itPath, []byte("rel/x")).item(itBase, []byte("a\x00b\x00")).b)
	f.Add(newRecord(recExec, sysevent.SysExecve).item(itProc, make([]byte, procSize)).item(itArgv, []byte("a\x00b\x00")).item(itExe, []byte("true\x00bin\x00")).b)
	f.Add(newRecord(recSyscall, sysevent.SysConnect).item(itSockAdr, []byte{2, 0, 0, 80, 127, 0, 0, 1}).item(itTuple, make([]byte, tupleSize)).b)
	f.Add(newRecord(recSyscall, sysevent.SysConnect).item(itSockAdr, []byte{1, 0, 0, 'a', 'b'}).b)
	f.Add(newRecord(recFork, sysevent.SysClone3).item(itCwd, []byte("x\x00")).b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev sysevent.Event
		d := newDecoder(0)
		_ = d.decode(b, &ev) // must not panic
	})
}

func BenchmarkDecodeOpenat(b *testing.B) {
	rec := newRecord(recSyscall, sysevent.SysOpenat, uint64(0xffffff9c), 0, 0).item(itPath, []byte("/usr/lib/x86_64-linux-gnu/libc.so.6")).b
	benchDecode(b, rec)
}

func BenchmarkDecodeOpenatRelative(b *testing.B) {
	rec := newRecord(recSyscall, sysevent.SysOpenat, uint64(0xffffff9c), 0, 0).
		item(itPath, []byte("src/main.go")).item(itBase, []byte("project\x00home\x00")).b
	benchDecode(b, rec)
}

func BenchmarkDecodeExecve(b *testing.B) {
	rec := newRecord(recExec, sysevent.SysExecve).item(itProc, make([]byte, procSize)).
		item(itExe, []byte("true\x00bin\x00usr\x00")).item(itArgv, []byte("/bin/true\x00-a\x00--long-option\x00")).
		item(itEnv, []byte("PATH=/usr/bin\x00HOME=/root\x00")).item(itCwd, []byte("root\x00")).b
	benchDecode(b, rec)
}

func benchDecode(b *testing.B, rec []byte) {
	d := newDecoder(0)
	var ev sysevent.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for i := 0; i < b.N; i++ {
		ev.Reset()
		if err := d.decode(rec, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
