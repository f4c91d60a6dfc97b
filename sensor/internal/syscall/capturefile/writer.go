package capturefile

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"sync"

	"github.com/harrier-security/harrier/sensor/internal/syscall/sysevent"
)

// Meta describes a capture; written once at the start of the file.
type Meta map[string]string

// Writer records events with their state. Each event is preceded, when
// needed, by snapshots of its process (and that process's ancestors), its
// container and its fd, written the first time they are referenced and
// again whenever they change; events then refer to snapshots by id.
// Writer is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf enc
	rec enc
	err error
	n   uint64

	nextID     uint64
	threads    map[*sysevent.Thread]*threadState
	fds        map[*sysevent.FD]fdState
	containers map[*sysevent.Container]uint64
	images     map[*sysevent.Image]uint64
}

// threadState is what was last written for a Thread; a difference means a
// new snapshot.
type threadState struct {
	id        uint64
	image     *sysevent.Image
	container *sysevent.Container
	parent    *sysevent.Thread
	parentID  uint64
	sid, pgid int64
	exited    int64
	ppid      int64
	// the owner-written fields (compared for the event's own process)
	cwd               string
	creds             sysevent.Creds
	tty               uint32
	threads, children int32
	std               [3]*sysevent.FD
}

type fdState struct {
	id  uint64
	val sysevent.FD
}

// maxTracked bounds the writer's memory, and with the reset record the
// reader's: past it both forget every snapshot, and snapshots are written
// afresh as they are referenced.
var maxTracked = 1 << 17

// NewWriter writes the file header and meta to w.
func NewWriter(w io.Writer, meta Meta) (*Writer, error) {
	cw := &Writer{w: bufio.NewWriterSize(w, 256<<10)}
	cw.reset()
	hdr := make([]byte, 0, headerLen)
	hdr = append(hdr, Magic...)
	hdr = binary.LittleEndian.AppendUint16(hdr, Version)
	hdr = binary.LittleEndian.AppendUint16(hdr, 0) // flags, none defined
	if _, err := cw.w.Write(hdr); err != nil {
		return nil, fmt.Errorf("capture file: write header: %w", err)
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cw.rec.b = cw.rec.b[:0]
	cw.rec.uv(uint64(len(keys)))
	for _, k := range keys {
		cw.rec.str(k)
		cw.rec.str(meta[k])
	}
	cw.record(recMeta)
	if cw.err != nil {
		return nil, cw.err
	}
	return cw, nil
}

func (w *Writer) reset() {
	w.threads = make(map[*sysevent.Thread]*threadState)
	w.fds = make(map[*sysevent.FD]fdState)
	w.containers = make(map[*sysevent.Container]uint64)
	w.images = make(map[*sysevent.Image]uint64)
}

// record frames w.rec as one record of the given kind.
func (w *Writer) record(kind byte) {
	if w.err != nil {
		return
	}
	w.buf.b = append(w.buf.b[:0], kind)
	w.buf.uv(uint64(len(w.rec.b)))
	crc := crc32.Update(0, crcTable, w.buf.b[:1]) // the kind byte
	crc = crc32.Update(crc, crcTable, w.rec.b)
	if _, err := w.w.Write(w.buf.b); err != nil {
		w.err = err
		return
	}
	if _, err := w.w.Write(w.rec.b); err != nil {
		w.err = err
		return
	}
	w.buf.b = binary.LittleEndian.AppendUint32(w.buf.b[:0], crc)
	if _, err := w.w.Write(w.buf.b); err != nil {
		w.err = err
	}
}

// Write records ev with its process, container and fd (ev.Thread,
// ev.FDInfo, as the process table attached them).
func (w *Writer) Write(ev *sysevent.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if len(w.threads)+len(w.fds)+len(w.images) > maxTracked {
		w.reset()
		w.rec.b = w.rec.b[:0]
		w.record(recReset)
	}
	var threadID, fdID uint64
	if ev.Thread != nil {
		threadID = w.thread(ev.Thread, true, 0)
	}
	if ev.FDInfo != nil {
		fdID = w.fd(ev.FDInfo)
	}
	w.rec.b = w.rec.b[:0]
	encodeEvent(&w.rec, threadID, fdID, ev)
	w.record(recEvent)
	if w.err != nil {
		return fmt.Errorf("capture file: write: %w", w.err)
	}
	w.n++
	return nil
}

func (w *Writer) id() uint64 { w.nextID++; return w.nextID }

// thread makes sure an up-to-date snapshot of t (and its ancestors) is in
// the file and returns its id. self says t is the event's own process,
// whose owner-written fields are compared too (ancestors' are not read by
// any field).
func (w *Writer) thread(t *sysevent.Thread, self bool, depth int) uint64 {
	var parentID uint64
	parent := t.Parent()
	if parent != nil && depth < sysevent.MaxAncestors {
		parentID = w.thread(parent, false, depth+1)
	} else {
		parent = nil
	}
	ctr := t.Container()
	ctrID := w.container(ctr)
	st := w.threads[t]
	changed := st == nil || st.image != t.Image() || st.container != ctr || st.parent != parent ||
		st.parentID != parentID || st.sid != t.Sid() || st.pgid != t.VPgid() ||
		st.exited != t.ExitTime() || st.ppid != t.PPid()
	if self && !changed {
		t.Mu.Lock()
		changed = st.cwd != t.Cwd || st.creds != t.Creds || st.tty != t.TTY ||
			st.std[0] != t.FDs.Get(0) || st.std[1] != t.FDs.Get(1) || st.std[2] != t.FDs.Get(2)
		t.Mu.Unlock()
		changed = changed || st.threads != t.Threads.Load() || st.children != t.Children.Load()
	}
	if !changed {
		return st.id
	}
	if st == nil {
		st = &threadState{}
		w.threads[t] = st
	}
	t.Mu.Lock()
	cwd, creds, tty := t.Cwd, t.Creds, t.TTY
	std := [3]*sysevent.FD{t.FDs.Get(0), t.FDs.Get(1), t.FDs.Get(2)}
	t.Mu.Unlock()
	*st = threadState{id: w.id(), image: t.Image(), container: ctr, parent: parent, parentID: parentID,
		sid: t.Sid(), pgid: t.VPgid(), exited: t.ExitTime(), ppid: t.PPid(),
		cwd: cwd, creds: creds, tty: tty, threads: t.Threads.Load(), children: t.Children.Load(), std: std}
	rec := threadRec{id: st.id, parentID: parentID, containerID: ctrID, imageID: w.image(st.image)}
	for i, f := range std {
		if f != nil {
			rec.std[i] = w.fd(f)
		}
	}
	w.rec.b = w.rec.b[:0]
	encodeThread(&w.rec, rec, t, cwd, creds, tty)
	w.record(recThread)
	return st.id
}

// image writes an exec image once; images never change.
func (w *Writer) image(im *sysevent.Image) uint64 {
	if id, ok := w.images[im]; ok {
		return id
	}
	id := w.id()
	w.images[im] = id
	w.rec.b = w.rec.b[:0]
	encodeImage(&w.rec, id, im)
	w.record(recImage)
	return id
}

func (w *Writer) container(c *sysevent.Container) uint64 {
	if c == nil {
		return 0
	}
	if id, ok := w.containers[c]; ok {
		return id
	}
	id := w.id()
	w.containers[c] = id
	w.rec.b = w.rec.b[:0]
	encodeContainer(&w.rec, id, c)
	w.record(recContainer)
	return id
}

func (w *Writer) fd(f *sysevent.FD) uint64 {
	if st, ok := w.fds[f]; ok && st.val == *f {
		return st.id
	}
	id := w.id()
	w.fds[f] = fdState{id: id, val: *f}
	w.rec.b = w.rec.b[:0]
	encodeFD(&w.rec, id, f)
	w.record(recFD)
	return id
}

// Count is the number of events written.
func (w *Writer) Count() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Flush writes buffered records to the underlying writer.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = err
		return fmt.Errorf("capture file: flush: %w", err)
	}
	return nil
}

// Close flushes; it does not close the underlying writer.
func (w *Writer) Close() error { return w.Flush() }
