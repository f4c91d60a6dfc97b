package delivery

import (
	"errors"
	"time"

	"github.com/harrier-security/harrier/router/internal/journal"
)

// startPosition opens the output's cursor and decides where it starts: its
// stored position, the end of the journal for a new output, or the oldest
// stored alert when the cursor is unreadable.
func (p *Pipeline) startPosition(name string) (*journal.Cursor, uint64, error) {
	cur, err := journal.OpenCursor(p.cursorDir, name)
	if err != nil {
		return nil, 0, err
	}
	pos, err := cur.Load()
	switch {
	case errors.Is(err, journal.ErrNoCursor):
		pos = p.j.Next()
		if err := cur.Store(pos); err != nil {
			return nil, 0, err
		}
		p.log.Info("output added; starts at the end of the journal", "output", name, "seq", pos)
	case err != nil:
		// Redeliver rather than lose: outputs deduplicate by alert id.
		pos = p.j.First()
		p.log.Error("cursor unreadable; redelivering from the oldest stored alert", "output", name, "err", err, "seq", pos)
	case pos > p.j.Next():
		// The journal lost records this output had already passed
		// (segments deleted, a damaged tail): new alerts would get
		// sequence numbers behind the cursor and never be delivered.
		// Skip the journal forward instead of moving the cursor back, so
		// no sequence number is given twice.
		p.m.CursorRepairs.WithLabelValues(name).Inc()
		p.log.Error("cursor ahead of the journal; skipping the journal forward to it", "output", name,
			"cursor", pos, "journal_next", p.j.Next())
		if err := p.j.Advance(pos, "cursor of output "+name+" ahead of the journal"); err != nil {
			return nil, 0, err
		}
	default:
		p.log.Info("output started", "output", name, "seq", pos, "backlog", int64(p.j.Next())-int64(pos))
	}
	return cur, pos, nil
}

// storeCursor persists the worker's position, at most every 200ms unless
// forced.
func (w *worker) storeCursor(force bool) {
	w.mu.Lock()
	pos := w.pos
	w.mu.Unlock()
	if pos == w.stored || (!force && time.Since(w.lastStore) < 200*time.Millisecond) {
		return
	}
	if err := w.cursor.Store(pos); err != nil {
		w.p.log.Error("cannot store cursor", "output", w.name, "err", err)
		return
	}
	w.stored, w.lastStore = pos, time.Now()
}
