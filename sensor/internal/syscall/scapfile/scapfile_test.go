package scapfile

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
	sb "github.com/harrier-security/harrier/sensor/internal/testkit/scapbuild"
)

// The captures are built by testkit/scapbuild to libscap's published block
// format (falcosecurity/libs: userspace/libscap/scap_savefile.h for the
// block types and framing, engine/savefile/scap_savefile.c for the process
// list entries and event blocks, driver/ppm_events_public.h for event codes
// and flags, driver/event_table.c for each event's parameters).

func readAll(t *testing.T, data []byte) ([]*sysevent.Event, *Reader) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*sysevent.Event
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return evs, rd
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
}

func TestReadsLibscapCapture(t *testing.T) {
	data := sb.Scenario().Bytes()
	if !IsScap(data[:64]) {
		t.Fatal("IsScap does not recognise the section header")
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	if !IsScap(gz.Bytes()[:min(512, gz.Len())]) {
		t.Fatal("IsScap does not recognise a gzip-compressed capture")
	}
	for name, in := range map[string][]byte{"plain": data, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			evs, rd := readAll(t, in)
			if rd.Procs != 3 || rd.Skipped != 1 {
				t.Errorf("procs %d skipped %d, want 3 and 1", rd.Procs, rd.Skipped)
			}
			want := []sysevent.Type{sysevent.SysClone, sysevent.SysExecve, sysevent.SysOpenat, sysevent.SysConnect, sysevent.SysClose, sysevent.TypeProcExit}
			if len(evs) != len(want) {
				t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
			}
			for i, ev := range evs {
				if ev.Type != want[i] || ev.Thread == nil || ev.PID != 200 || ev.TID != 200 || ev.Num != uint64(i+1) {
					t.Errorf("event %d: type %v pid %d tid %d num %d thread %v", i, ev.Type, ev.PID, ev.TID, ev.Num, ev.Thread != nil)
				}
			}
			exec, open, conn := evs[1], evs[2], evs[3]
			if exec.Time != int64(sb.T0+4) || exec.Target != "/usr/bin/cat" || exec.Path != "/usr/bin/cat" || strings.Join(exec.Argv, " ") != "cat shadow" {
				t.Errorf("execve: time %d target %q path %q argv %q", exec.Time, exec.Target, exec.Path, exec.Argv)
			}
			im := exec.Thread.Image()
			if im == nil || im.Comm != "cat" || im.ExePath != "/usr/bin/cat" || strings.Join(im.Env, ",") != "HOME=/root,PATH=/usr/bin" {
				t.Errorf("image after exec: %+v", im)
			}
			if p := exec.Thread.Parent(); p == nil || p.Image() == nil || p.Image().Comm != "bash" || p.Pid != 100 {
				t.Errorf("parent from the process list: %+v", p)
			} else if gp := p.Parent(); gp == nil || gp.Image().Comm != "systemd" {
				t.Errorf("grandparent: %+v", gp)
			}
			if exec.Proc.LoginUID != 1000 || exec.Proc.Cgroup != "/user.slice" {
				t.Errorf("exec proc: %+v", exec.Proc)
			}
			// openat relative to the cwd the execve reported; PPM_O_RDONLY
			// and PPM_O_CLOEXEC become O_RDONLY|O_CLOEXEC.
			if open.Ret != 3 || open.Path != "/etc/shadow" || open.Flags != 0o2000000 || open.FDInfo == nil || open.FDInfo.Name != "/etc/shadow" {
				t.Errorf("openat: ret %d path %q flags %o fd %+v", open.Ret, open.Path, open.Flags, open.FDInfo)
			}
			if conn.FD != 4 || conn.Sock.IP != netip.MustParseAddr("10.1.2.3") || conn.Sock.Port != 443 || conn.Local.Port != 40000 {
				t.Errorf("connect: fd %d sock %+v local %+v", conn.FD, conn.Sock, conn.Local)
			}
			if evs[4].FD != 4 {
				t.Errorf("close: fd %d (from its enter event)", evs[4].FD)
			}
		})
	}
}

func TestOpenFlags(t *testing.T) {
	for _, c := range []struct {
		ppm   uint32
		linux uint64
	}{
		{1 << 0, 0},                       // RDONLY
		{1 << 1, 1},                       // WRONLY
		{1<<0 | 1<<1, 2},                  // RDWR
		{1<<1 | 1<<2 | 1<<8, 1 | 0o1100},  // WRONLY|CREAT|TRUNC
		{1<<0 | 1<<10 | 1<<12, 0o2200000}, // DIRECTORY|CLOEXEC
		{1<<1 | 1<<13, 1 | 0o20200000},    // TMPFILE
	} {
		if got := linuxOpenFlags(c.ppm); got != c.linux {
			t.Errorf("PPM flags %#x: got %#o, want %#o", c.ppm, got, c.linux)
		}
	}
}

// TestBadCaptures: damage is an error that says where, never a panic.
func TestBadCaptures(t *testing.T) {
	good := sb.Scenario().Bytes()
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":            {nil, "not a scap"},
		"json":             {[]byte(`{"kind":"Event"}`), "not a scap"},
		"short":            {good[:5], "not a scap"},
		"truncated header": {good[:28+5], "truncated block header"},
		"truncated block":  {good[:40], "truncated block"},
		"bad trailer": {func() []byte {
			b := bytes.Clone(good)
			b[len(b)-1] ^= 0xff
			return b
		}(), "trailer length"},
		"bad version": {func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint16(b[12:], 2)
			return b
		}(), "format version 2"},
		"event length lies": {func() []byte {
			b := (&sb.Builder{}).SHB()
			b.Event(sb.BlockEVv2, sb.T0, 1, sb.EvOpenX, sb.I64(3), sb.Str("/x"), sb.U32(1))
			d := b.Bytes()
			binary.LittleEndian.PutUint32(d[len(d)-4-2-8-3*2-4-2-4-8:], 9999) // the event's len
			return d
		}(), "event length"},
		"too many params": {func() []byte {
			b := (&sb.Builder{}).SHB()
			b.Block(sb.BlockEVv2, append(make([]byte, 2+8+8+4+2), 0xff, 0xff, 0xff, 0x7f))
			return b.Bytes()
		}(), "parameters do not fit"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rd, err := NewReader(bytes.NewReader(c.data))
			for err == nil {
				_, err = rd.Next()
			}
			if errors.Is(err, io.EOF) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// FuzzReader: any input either reads (to EOF) or fails with an error; it
// never panics or loops.
func FuzzReader(f *testing.F) {
	f.Add(sb.Scenario().Bytes())
	f.Add((&sb.Builder{}).SHB().Bytes())
	f.Add((&sb.Builder{}).SHB().PL(sb.Proc{TID: 1, PID: 1, Comm: "x"}).Bytes())
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for range 1 << 16 {
			if _, err := rd.Next(); err != nil {
				return
			}
		}
	})
}
