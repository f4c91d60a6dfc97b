package proctable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// procInfo is what /proc says about one process.
type procInfo struct {
	pid, ppid, vpid, sid, pgid int64
	tty                        uint32
	threads                    int32
	startTime                  int64
	comm, exePath              string
	args                       []string // argv
	env                        []string
	cwd                        string
	creds                      sysevent.Creds
	exeIno                     uint64
	exeCtime, exeMtime         int64
	exeMemfd                   bool
	cgroup                     string
	netns                      string
}

// Clock ticks per second for /proc/PID/stat times; 100 on every Linux
// architecture Harrier runs on (USER_HZ).
const userHZ = 100

func readProc(root string, pid int64, maxEnv int) (*procInfo, error) {
	dir := filepath.Join(root, strconv.FormatInt(pid, 10))
	pr := &procInfo{pid: pid, vpid: pid}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil, fmt.Errorf("proctable: read %s/status: %w", dir, err)
	}
	parseStatus(pr, status)
	if stat, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
		parseStat(pr, stat, bootTime(root))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		pr.args = splitNul(b, 4096)
	}
	if maxEnv > 0 {
		if b, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
			pr.env = splitNul(b, maxEnv)
		}
	}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		exe = strings.TrimSuffix(exe, " (deleted)")
		pr.exeMemfd = strings.HasPrefix(exe, "/memfd:")
		pr.exePath = exe
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(dir, "exe"), &st) == nil {
			pr.exeIno = st.Ino
			pr.exeCtime = st.Ctim.Nano()
			pr.exeMtime = st.Mtim.Nano()
		}
	}
	if cwd, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
		pr.cwd = withSlash(cwd)
	}
	pr.creds.LoginUID = sysevent.NoLoginUID
	if b, err := os.ReadFile(filepath.Join(dir, "loginuid")); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			pr.creds.LoginUID = uint32(n)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		pr.cgroup = string(b)
	}
	if ns, err := os.Readlink(filepath.Join(dir, "ns", "net")); err == nil {
		pr.netns = ns
	}
	return pr, nil
}

func parseStatus(pr *procInfo, b []byte) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v := strings.TrimSpace(string(val))
		switch string(key) {
		case "Name":
			pr.comm = v
		case "PPid":
			pr.ppid, _ = strconv.ParseInt(v, 10, 64)
		case "Threads":
			n, _ := strconv.ParseInt(v, 10, 32)
			pr.threads = int32(n)
		case "NSpid":
			f := strings.Fields(v)
			if len(f) > 0 {
				pr.vpid, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
			}
		case "Uid":
			f := ids(v)
			pr.creds.UID, pr.creds.EUID, pr.creds.SUID, pr.creds.FSUID = f[0], f[1], f[2], f[3]
		case "Gid":
			f := ids(v)
			pr.creds.GID, pr.creds.EGID, pr.creds.SGID, pr.creds.FSGID = f[0], f[1], f[2], f[3]
		case "CapInh":
			pr.creds.CapInheritable, _ = strconv.ParseUint(v, 16, 64)
		case "CapPrm":
			pr.creds.CapPermitted, _ = strconv.ParseUint(v, 16, 64)
		case "CapEff":
			pr.creds.CapEffective, _ = strconv.ParseUint(v, 16, 64)
		}
	}
}

func ids(v string) [4]uint32 {
	var out [4]uint32
	for i, f := range strings.Fields(v) {
		if i >= 4 {
			break
		}
		n, _ := strconv.ParseUint(f, 10, 32)
		out[i] = uint32(n)
	}
	return out
}

// parseStat reads pgrp, session, tty and start time from /proc/PID/stat;
// the command name in parentheses may itself hold spaces and parentheses.
func parseStat(pr *procInfo, b []byte, btime int64) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state) of proc(5).
	if len(f) < 20 {
		return
	}
	pr.pgid, _ = strconv.ParseInt(f[2], 10, 64)
	pr.sid, _ = strconv.ParseInt(f[3], 10, 64)
	tty, _ := strconv.ParseInt(f[4], 10, 64)
	pr.tty = uint32(tty)
	ticks, _ := strconv.ParseInt(f[19], 10, 64)
	if btime > 0 {
		pr.startTime = btime*1e9 + ticks*(1e9/userHZ)
	}
}

var (
	bootTimesMu sync.Mutex
	bootTimes   = map[string]int64{}
)

// bootTime is the boot time in seconds since the epoch (btime of
// /proc/stat), cached per procfs root.
func bootTime(root string) int64 {
	bootTimesMu.Lock()
	bt, ok := bootTimes[root]
	bootTimesMu.Unlock()
	if ok {
		return bt
	}
	b, err := os.ReadFile(filepath.Join(root, "stat"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			bt, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			bootTimesMu.Lock()
			bootTimes[root] = bt
			bootTimesMu.Unlock()
			return bt
		}
	}
	return 0
}

// maxProcString bounds each argument and environment entry read from
// /proc (libsinsp truncates similarly).
const maxProcString = 4096

func splitNul(b []byte, max int) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) > max {
		parts = parts[:max]
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		if len(p) > maxProcString {
			p = p[:maxProcString]
		}
		out[i] = string(p)
	}
	return out
}

func procPath(root string, pid int64, file string) string {
	return root + "/" + strconv.FormatInt(pid, 10) + "/" + file
}

// exeWritable says whether the executable (a path, normally
// /proc/PID/exe, which reaches the file in any mount namespace) is
// writable by a process with creds, as the kernel's permission check would
// say: CAP_DAC_OVERRIDE writes anything, else the owner, group or other
// write bit applies. Supplementary groups are not known and not counted.
// ok is false when the file could not be examined.
func exeWritable(path string, c sysevent.Creds) (writable, ok bool) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return false, false
	}
	const capDACOverride = 1 << 1
	switch {
	case c.CapEffective&capDACOverride != 0:
		return true, true
	case st.Uid == c.FSUID || (c.FSUID == 0 && st.Uid == c.EUID):
		return st.Mode&0o200 != 0, true
	case st.Gid == c.FSGID || (c.FSGID == 0 && st.Gid == c.EGID):
		return st.Mode&0o020 != 0, true
	}
	return st.Mode&0o002 != 0, true
}

// procExists reports whether the process pid still runs; when its start
// time is known, a different process that reuses the pid does not count.
// /proc start times come in clock ticks after a whole-second boot time,
// so they are compared with a tolerance.
func procExists(root string, pid, start int64) bool {
	b, err := os.ReadFile(procPath(root, pid, "stat"))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ESRCH)
	}
	if start == 0 {
		return true
	}
	var pr procInfo
	parseStat(&pr, b, bootTime(root))
	if pr.startTime == 0 {
		return true
	}
	const tolerance = 2e9
	d := pr.startTime - start
	return d > -tolerance && d < tolerance
}

// entryFromProc builds a table entry; socks resolves socket inodes (nil:
// fds are not read).
func (tb *Table) entryFromProc(pr *procInfo, parent *sysevent.Thread, socks *socketIndex) *entry {
	t := &sysevent.Thread{Pid: pr.pid, VPid: pr.vpid, StartTime: pr.startTime, FromProc: true}
	t.Threads.Store(max(pr.threads, 1))
	t.SetSession(pr.sid, pr.pgid)
	im := &sysevent.Image{Comm: pr.comm, ExePath: pr.exePath, Env: pr.env,
		ExeIno: pr.exeIno, ExeCtime: pr.exeCtime, ExeMtime: pr.exeMtime, ExeFromMemfd: pr.exeMemfd,
	}
	im.ExeWritable, _ = exeWritable(procPath(tb.cfg.ProcRoot, pr.pid, "exe"), pr.creds)
	if len(pr.args) > 0 {
		im.Exe = pr.args[0]
		im.Args = pr.args[1:]
	}
	im.Finish()
	t.SetImage(im)
	t.Cwd, t.Creds, t.TTY = pr.cwd, pr.creds, pr.tty
	t.SetParent(parent, pr.ppid)
	if parent != nil {
		parent.Children.Add(1)
	}
	e := &entry{t: t}
	tb.setContainer(e, pr.cgroup)
	t.Creds = tb.withNames(t, sysevent.Creds{}, t.Creds)
	if socks == nil {
		socks = newSocketIndex(tb.cfg.ProcRoot)
	}
	readFDs(tb.cfg.ProcRoot, pr, &t.FDs, socks)
	return e
}

// Bootstrap loads every process from /proc. Processes already in the
// table (seen through events meanwhile) are kept.
func (tb *Table) Bootstrap(ctx context.Context) error {
	if tb.cfg.ProcRoot == "" {
		return nil
	}
	dirs, err := os.ReadDir(tb.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("proctable: bootstrap: %w", err)
	}
	infos := make(map[int64]*procInfo, len(dirs))
	for _, d := range dirs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pid, err := strconv.ParseInt(d.Name(), 10, 64)
		if err != nil || pid <= 0 {
			continue
		}
		pr, err := readProc(tb.cfg.ProcRoot, pid, tb.cfg.MaxEnv)
		if err != nil {
			continue // exited while we looked
		}
		infos[pid] = pr
	}
	socks := newSocketIndex(tb.cfg.ProcRoot)
	built := make(map[int64]*sysevent.Thread, len(infos))
	var build func(pid int64, depth int) *sysevent.Thread
	build = func(pid int64, depth int) *sysevent.Thread {
		if t := built[pid]; t != nil {
			return t
		}
		pr := infos[pid]
		if pr == nil || depth > len(infos) {
			return nil
		}
		var parent *sysevent.Thread
		if pr.ppid > 0 && pr.ppid != pid {
			parent = build(pr.ppid, depth+1)
		}
		e := tb.entryFromProc(pr, parent, socks)
		e = tb.insert(e, false)
		tb.fromProc.Add(1)
		built[pid] = e.t
		return e.t
	}
	for pid := range infos {
		build(pid, 0)
	}
	tb.cfg.Logger.Info("process table bootstrapped", "processes", len(built))
	return nil
}

// readFDs fills tab from /proc/PID/fd.
func readFDs(root string, pr *procInfo, tab *sysevent.FDTable, socks *socketIndex) {
	dir := filepath.Join(root, strconv.FormatInt(pr.pid, 10), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, d := range ents {
		num, err := strconv.ParseInt(d.Name(), 10, 64)
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(dir, d.Name()))
		if err != nil {
			continue
		}
		f := fdFromLink(num, link, func() (*sysevent.FD, bool) {
			return socks.lookup(pr, link)
		})
		if f.Type == sysevent.FDFile {
			var st syscall.Stat_t
			if syscall.Stat(filepath.Join(dir, d.Name()), &st) == nil {
				f.Ino, f.Dev = st.Ino, uint32(st.Dev)
				if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
					f.Type = sysevent.FDDirectory
				}
			}
		}
		if !tab.Set(f) {
			return
		}
	}
}

// anonTypes maps anon_inode link names to fd types.
var anonTypes = map[string]sysevent.FDType{
	"[eventfd]": sysevent.FDEvent, "[eventpoll]": sysevent.FDEventPoll, "[signalfd]": sysevent.FDSignal,
	"[timerfd]": sysevent.FDTimer, "inotify": sysevent.FDInotify, "[userfaultfd]": sysevent.FDUserfault,
	"[io_uring]": sysevent.FDIOUring, "[pidfd]": sysevent.FDPidfd, "bpf-map": sysevent.FDBPF,
	"bpf-prog": sysevent.FDBPF, "bpf_link": sysevent.FDBPF, "bpf-link": sysevent.FDBPF,
	"bpf_iter": sysevent.FDBPF, "[perf_event]": sysevent.FDUnknown,
}

// fdFromLink classifies an fd by its /proc/PID/fd link text.
func fdFromLink(num int64, link string, socket func() (*sysevent.FD, bool)) *sysevent.FD {
	switch {
	case strings.HasPrefix(link, "socket:["):
		if f, ok := socket(); ok {
			f.Num = num
			return f
		}
		return &sysevent.FD{Num: num, Type: sysevent.FDUnknown, Name: link}
	case strings.HasPrefix(link, "pipe:["):
		return &sysevent.FD{Num: num, Type: sysevent.FDPipe, Name: link}
	case strings.HasPrefix(link, "anon_inode:"):
		name := strings.TrimPrefix(link, "anon_inode:")
		return &sysevent.FD{Num: num, Type: anonTypes[name], Name: link}
	case strings.HasPrefix(link, "/memfd:"):
		name := strings.TrimSuffix(strings.TrimPrefix(link, "/"), " (deleted)")
		return &sysevent.FD{Num: num, Type: sysevent.FDMemfd, Name: name, Base: name}
	case strings.HasPrefix(link, "/"):
		path := strings.TrimSuffix(link, " (deleted)")
		f := &sysevent.FD{Num: num, Type: sysevent.FDFile, Name: path}
		f.Dir, f.Base = splitPath(path)
		return f
	}
	return &sysevent.FD{Num: num, Type: sysevent.FDUnknown, Name: link}
}
