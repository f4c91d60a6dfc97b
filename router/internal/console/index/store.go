package index

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// schemaVersion changes when the tables change; an index of another
// version is dropped and rebuilt from the journal.
const schemaVersion = "3"

// The schema. alerts holds one row per alert with its facets as ids into
// vals; fts holds the free text (contentless: the text is not stored
// twice); roll counts alerts per hour, priority and facet value, and
// rollm per minute and priority, so counts and the chart over a wide
// window add up a few thousand rows instead of scanning alerts.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS vals(facet INTEGER NOT NULL, id INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY(facet, id))`,
	`CREATE TABLE IF NOT EXISTS alerts(seq INTEGER PRIMARY KEY, t INTEGER NOT NULL, prio INTEGER NOT NULL,
		rule INTEGER NOT NULL, src INTEGER NOT NULL, host INTEGER NOT NULL, ctr INTEGER NOT NULL, pod INTEGER NOT NULL,
		ns INTEGER NOT NULL, sensor INTEGER NOT NULL, f BLOB NOT NULL, aid INTEGER NOT NULL)`,
	// The records apart, so the alerts table stays small enough to be
	// read from the cache when a search counts its rows.
	`CREATE TABLE IF NOT EXISTS raws(seq INTEGER PRIMARY KEY, raw BLOB NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS alerts_t ON alerts(t)`,
	`CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule)`,
	`CREATE INDEX IF NOT EXISTS alerts_prio ON alerts(prio)`,
	`CREATE INDEX IF NOT EXISTS alerts_src ON alerts(src)`,
	`CREATE INDEX IF NOT EXISTS alerts_host ON alerts(host)`,
	`CREATE INDEX IF NOT EXISTS alerts_ctr ON alerts(ctr)`,
	`CREATE INDEX IF NOT EXISTS alerts_pod ON alerts(pod)`,
	`CREATE INDEX IF NOT EXISTS alerts_ns ON alerts(ns)`,
	`CREATE INDEX IF NOT EXISTS alerts_sensor ON alerts(sensor)`,
	`CREATE INDEX IF NOT EXISTS alerts_aid ON alerts(aid)`,
	`CREATE TABLE IF NOT EXISTS alert_tags(tag INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(tag, seq)) WITHOUT ROWID`,
	`CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, content='', contentless_delete=1)`,
	`CREATE TABLE IF NOT EXISTS roll(hour INTEGER NOT NULL, prio INTEGER NOT NULL, facet INTEGER NOT NULL, val INTEGER NOT NULL,
		n INTEGER NOT NULL, PRIMARY KEY(hour, prio, facet, val)) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS rollm(minute INTEGER NOT NULL, prio INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(minute, prio)) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS incidents(k TEXT PRIMARY KEY, doc TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sensors(id TEXT PRIMARY KEY, doc TEXT NOT NULL)`,
}

type store struct {
	path string
	db   *sql.DB
}

func (s *store) close() error { return s.db.Close() }

// openStore opens the database, moving an unreadable one aside once.
func (x *Index) openStore() error {
	if err := os.MkdirAll(x.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("console index: %w", err)
	}
	path := filepath.Join(x.opts.Dir, "index.db")
	x.path = path
	err := x.tryOpen(path)
	if err == nil {
		return nil
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
	x.log.Error("console index: database unreadable; moved aside, rebuilding from the journal", "path", path, "moved_to", aside, "err", err)
	if rerr := os.Rename(path, aside); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return fmt.Errorf("console index %s: %w (and moving it aside: %v)", path, err, rerr)
	}
	for _, sfx := range []string{"-wal", "-shm"} {
		_ = os.Remove(path + sfx)
	}
	if err := x.tryOpen(path); err != nil {
		return fmt.Errorf("console index %s: %w", path, err)
	}
	return nil
}

func (x *Index) tryOpen(path string) error {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=auto_vacuum(INCREMENTAL)&_pragma=cache_size(-32000)&_pragma=mmap_size(1073741824)&_pragma=temp_store(MEMORY)"
	// Alerts are sensitive: the file (and the -wal/-shm files SQLite
	// creates with the same mode) is the router's own.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(4)
	st := &store{path: path, db: db}
	if err := x.initSchema(st); err != nil {
		db.Close()
		return err
	}
	x.mu.Lock()
	x.st = st
	x.mu.Unlock()
	if err := x.loadState(); err != nil {
		x.mu.Lock()
		x.st = nil
		x.mu.Unlock()
		db.Close()
		return err
	}
	return nil
}

func (x *Index) initSchema(st *store) error {
	var v string
	err := st.db.QueryRow(`SELECT v FROM meta WHERE k='schema'`).Scan(&v)
	if err == nil && v != schemaVersion {
		return fmt.Errorf("schema version %q, want %q", v, schemaVersion)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) && !strings.Contains(err.Error(), "no such table") {
		return err
	}
	tx, err := st.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range schema {
		if _, err := tx.Exec(s); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	if _, err := tx.Exec(`INSERT OR IGNORE INTO meta(k, v) VALUES('schema', ?)`, schemaVersion); err != nil {
		return err
	}
	return tx.Commit()
}

// loadState reads the in-memory mirror (dictionaries, rollups, incidents,
// sensors, count, cursor) from the database.
func (x *Index) loadState() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	db := x.st.db
	for f := range x.dicts {
		x.dicts[f] = dict{ids: map[string]uint32{}, vals: map[uint32]string{}, next: 1}
	}
	rows, err := db.Query(`SELECT facet, id, v FROM vals`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var f, id int
		var v string
		if err := rows.Scan(&f, &id, &v); err != nil {
			rows.Close()
			return err
		}
		if f >= 0 && f < nFacets {
			d := &x.dicts[f]
			d.ids[v], d.vals[uint32(id)] = uint32(id), v
			d.next = max(d.next, uint32(id)+1)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	x.roll = newRollups()
	rows, err = db.Query(`SELECT hour, prio, facet, val, n FROM roll`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var h, n int64
		var p, f uint8
		var v uint32
		if err := rows.Scan(&h, &p, &f, &v, &n); err != nil {
			rows.Close()
			return err
		}
		x.roll.addHour(h, hkey{p, f, v}, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = db.Query(`SELECT minute, prio, n FROM rollm`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var m, n int64
		var p int
		if err := rows.Scan(&m, &p, &n); err != nil {
			rows.Close()
			return err
		}
		x.roll.addMinute(m, p, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	x.inc, x.sens = map[string]*Incident{}, map[string]*SensorSeen{}
	if err := loadDocs(db, `SELECT doc FROM incidents`, func(b []byte) error {
		in := &Incident{}
		if err := json.Unmarshal(b, in); err != nil {
			return err
		}
		x.inc[in.Key] = in
		return nil
	}); err != nil {
		return err
	}
	if err := loadDocs(db, `SELECT doc FROM sensors`, func(b []byte) error {
		s := &SensorSeen{}
		if err := json.Unmarshal(b, s); err != nil {
			return err
		}
		x.sens[s.ID] = s
		return nil
	}); err != nil {
		return err
	}
	if err := db.QueryRow(`SELECT count(*) FROM alerts`).Scan(&x.count); err != nil {
		return err
	}
	var next string
	switch err := db.QueryRow(`SELECT v FROM meta WHERE k='next'`).Scan(&next); {
	case errors.Is(err, sql.ErrNoRows):
		x.next = 0
	case err != nil:
		return err
	default:
		if x.next, err = strconv.ParseUint(next, 10, 64); err != nil {
			return fmt.Errorf("cursor %q: %w", next, err)
		}
	}
	return nil
}

func loadDocs(db *sql.DB, q string, fn func([]byte) error) error {
	rows, err := db.Query(q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// meta reads one meta value ("" when missing).
func (x *Index) meta(k string) string {
	var v string
	_ = x.db().QueryRow(`SELECT v FROM meta WHERE k=?`, k).Scan(&v)
	return v
}

// reset empties the index (the journal it followed is gone or the
// database broke), keeping the file.
func (x *Index) reset() error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	path := x.st.path
	_ = x.st.close()
	for _, sfx := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + sfx); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("console index: %w", err)
		}
	}
	return x.openStore()
}

// isCorrupt reports whether err says the database file is damaged.
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_CORRUPT || c == sqlite3.SQLITE_NOTADB
	}
	return false
}

// rec is one alert to write.
type rec struct {
	seq uint64
	a   *harrierv1.Alert
	raw []byte
}

func aidHash(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int64(h.Sum64() >> 1)
}

func hourOf(ns int64) int64   { return floorDiv(ns, int64(time.Hour)) }
func minuteOf(ns int64) int64 { return floorDiv(ns, int64(time.Minute)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// write stores recs in one transaction with the cursor next (and last, the
// hash of the journal record before it, which recognises the journal at
// the next start), updates the mirror, then enforces retention.
func (x *Index) write(recs []rec, next uint64, last string) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	err := x.writeLocked(recs, next, last)
	if err != nil {
		// The mirror may hold what the failed transaction did not.
		if lerr := x.loadState(); lerr != nil {
			x.log.Warn("console index: reloading after a failed write", "err", lerr)
		}
		return err
	}
	x.indexed.Add(uint64(len(recs)))
	return x.evictLocked()
}

type newVal struct {
	f  int
	id uint32
	v  string
}

func (x *Index) writeLocked(recs []rec, next uint64, last string) error {
	ctx := context.Background()
	tx, err := x.st.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insA, err := tx.Prepare(`INSERT OR REPLACE INTO alerts(seq, t, prio, rule, src, host, ctr, pod, ns, sensor, f, aid) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return err
	}
	defer insA.Close()
	insR, err := tx.Prepare(`INSERT OR REPLACE INTO raws(seq, raw) VALUES(?,?)`)
	if err != nil {
		return err
	}
	defer insR.Close()
	insT, err := tx.Prepare(`INSERT OR IGNORE INTO alert_tags(tag, seq) VALUES(?,?)`)
	if err != nil {
		return err
	}
	defer insT.Close()
	insF, err := tx.Prepare(`INSERT INTO fts(rowid, text) VALUES(?,?)`)
	if err != nil {
		return err
	}
	defer insF.Close()

	deltas := rollDelta{h: map[int64]map[hkey]int64{}, m: map[int64][9]int64{}}
	var nv []newVal
	touchedInc, touchedSens := map[string]bool{}, map[string]bool{}
	x.mu.Lock()
	type row struct {
		r    rec
		t    int64
		ids  [FTag]uint32
		tags []uint32
	}
	rows := make([]row, 0, len(recs))
	before := x.next
	for _, r := range recs {
		if r.raw == nil {
			r.raw, _ = proto.Marshal(r.a)
		}
		rw := row{r: r}
		tm := r.a.GetTime().AsTime()
		rw.t = tm.UnixNano()
		vals := facetValues(r.a)
		for f := 0; f < FTag; f++ {
			if f == FPriority {
				// Priorities are few and fixed: their id is the enum value.
				rw.ids[f] = uint32(r.a.GetPriority())
				continue
			}
			rw.ids[f] = x.intern(f, vals[f], &nv)
		}
		for _, tg := range r.a.GetTags() {
			rw.tags = append(rw.tags, x.intern(FTag, tg, &nv))
		}
		deltas.add(rw.t, int(r.a.GetPriority()), rw.ids, rw.tags, 1)
		touchedInc[x.addIncident(r.a, tm)] = true
		touchedSens[x.addSensor(r.a, tm)] = true
		rows = append(rows, rw)
	}
	incDocs, sensDocs := x.docsFor(touchedInc, touchedSens)
	x.mu.Unlock()

	for _, v := range nv {
		if _, err := tx.Exec(`INSERT OR REPLACE INTO vals(facet, id, v) VALUES(?,?,?)`, v.f, v.id, v.v); err != nil {
			return err
		}
	}
	replaced := 0
	for _, rw := range rows {
		// A record indexed twice (a replay after a crash between the
		// journal and the cursor) replaces its row: count it once.
		old := 0
		if rw.r.seq < before {
			if err := tx.QueryRow(`SELECT count(*) FROM alerts WHERE seq=?`, int64(rw.r.seq)).Scan(&old); err != nil {
				return err
			}
		}
		if old > 0 {
			if err := x.deleteRows(tx, []int64{int64(rw.r.seq)}, &deltas); err != nil {
				return err
			}
			replaced++
		}
		i := rw.ids
		if _, err := insA.Exec(int64(rw.r.seq), rw.t, i[FPriority], i[FRule], i[FSource], i[FHostname], i[FContainer], i[FPod], i[FNamespace],
			i[FSensor], packFacets(&rw.ids, rw.tags), aidHash(rw.r.a.GetId())); err != nil {
			return err
		}
		if _, err := insR.Exec(int64(rw.r.seq), rw.r.raw); err != nil {
			return err
		}
		for _, tg := range rw.tags {
			if _, err := insT.Exec(tg, int64(rw.r.seq)); err != nil {
				return err
			}
		}
		if _, err := insF.Exec(int64(rw.r.seq), searchText(rw.r.a)); err != nil {
			return err
		}
	}
	if err := deltas.persist(tx); err != nil {
		return err
	}
	for k, d := range incDocs {
		if d == nil {
			_, err = tx.Exec(`DELETE FROM incidents WHERE k=?`, k)
		} else {
			_, err = tx.Exec(`INSERT OR REPLACE INTO incidents(k, doc) VALUES(?,?)`, k, d)
		}
		if err != nil {
			return err
		}
	}
	for k, d := range sensDocs {
		if _, err := tx.Exec(`INSERT OR REPLACE INTO sensors(id, doc) VALUES(?,?)`, k, d); err != nil {
			return err
		}
	}
	x.mu.RLock()
	next = max(next, x.next)
	x.mu.RUnlock()
	if _, err := tx.Exec(`INSERT OR REPLACE INTO meta(k, v) VALUES('next', ?)`, strconv.FormatUint(next, 10)); err != nil {
		return err
	}
	if last != "" {
		if _, err := tx.Exec(`INSERT OR REPLACE INTO meta(k, v) VALUES('last', ?)`, last); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	x.mu.Lock()
	deltas.apply(&x.roll)
	x.count += len(rows) - replaced
	x.next = next
	x.mu.Unlock()
	return nil
}

// intern returns v's id in facet f, assigning one (recorded in nv) when new;
// called with mu held.
func (x *Index) intern(f int, v string, nv *[]newVal) uint32 {
	d := &x.dicts[f]
	if id, ok := d.ids[v]; ok {
		return id
	}
	id := d.next
	d.next++
	d.ids[v], d.vals[id] = id, v
	*nv = append(*nv, newVal{f, id, v})
	return id
}

// deleteRows removes alerts by seq inside tx, recording rollup decrements.
func (x *Index) deleteRows(tx *sql.Tx, seqs []int64, deltas *rollDelta) error {
	if len(seqs) == 0 {
		return nil
	}
	in := make([]string, len(seqs))
	for i, s := range seqs {
		in[i] = strconv.FormatInt(s, 10)
	}
	set := "(" + strings.Join(in, ",") + ")"
	rows, err := tx.Query(`SELECT t, f FROM alerts WHERE seq IN ` + set)
	if err != nil {
		return err
	}
	byTag := map[uint32]bool{}
	for rows.Next() {
		var t int64
		var f []byte
		var ids [FTag]uint32
		if err := rows.Scan(&t, &f); err != nil {
			rows.Close()
			return err
		}
		tg := unpackFacets(f, &ids, nil)
		deltas.add(t, int(ids[FPriority]), ids, tg, -1)
		for _, id := range tg {
			byTag[id] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM alerts WHERE seq IN ` + set, `DELETE FROM raws WHERE seq IN ` + set, `DELETE FROM fts WHERE rowid IN ` + set} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	for id := range byTag {
		if _, err := tx.Exec(`DELETE FROM alert_tags WHERE tag=? AND seq IN `+set, id); err != nil {
			return err
		}
	}
	return nil
}

// packFacets encodes an alert's facet ids and tags (varints) for the
// search's row scan: one column to read instead of nine.
func packFacets(ids *[FTag]uint32, tags []uint32) []byte {
	b := make([]byte, 0, 2*FTag+2*len(tags)+1)
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id))
	}
	for _, tg := range tags {
		b = binary.AppendUvarint(b, uint64(tg))
	}
	return b
}

// unpackFacets decodes packFacets into ids, appending the tags to tags.
func unpackFacets(b []byte, ids *[FTag]uint32, tags []uint32) []uint32 {
	for f := 0; f < FTag+1024 && len(b) > 0; f++ {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			break
		}
		b = b[n:]
		if f < FTag {
			ids[f] = uint32(v)
		} else {
			tags = append(tags, uint32(v))
		}
	}
	return tags
}

// Retention runs in batches of evictBatch alerts, each its own
// transaction, so a large eviction never holds the writer for long.
const evictBatch = 2000

// evictLocked enforces MaxAge, MaxAlerts and MaxBytes; called with wmu held.
func (x *Index) evictLocked() error {
	for round := 0; round < 64; round++ {
		var seqs []int64
		var err error
		x.mu.RLock()
		count := x.count
		x.mu.RUnlock()
		switch {
		case x.opts.MaxAge > 0 && x.oldestBefore(x.opts.Now().Add(-x.opts.MaxAge).UnixNano()):
			seqs, err = x.selectSeqs(`SELECT seq FROM alerts WHERE t < ? ORDER BY t LIMIT ?`, x.opts.Now().Add(-x.opts.MaxAge).UnixNano(), evictBatch)
		case x.opts.MaxAlerts > 0 && count > x.opts.MaxAlerts:
			seqs, err = x.selectSeqs(`SELECT seq FROM alerts ORDER BY seq LIMIT ?`, min(count-x.opts.MaxAlerts, evictBatch))
		case x.opts.MaxBytes > 0 && count > 0 && x.usedBytes() > x.opts.MaxBytes:
			// A twentieth at a time: the size moves by whole pages.
			seqs, err = x.selectSeqs(`SELECT seq FROM alerts ORDER BY seq LIMIT ?`, max(min(count/20, evictBatch), 1))
		}
		if err != nil {
			return err
		}
		if len(seqs) == 0 {
			break
		}
		if err := x.evictSeqs(seqs); err != nil {
			return err
		}
	}
	// Give freed pages back to the file system a little at a time once a
	// quarter of the file is free (freed pages are reused meanwhile).
	var pages, free int64
	if x.st.db.QueryRow(`PRAGMA page_count`).Scan(&pages) == nil && x.st.db.QueryRow(`PRAGMA freelist_count`).Scan(&free) == nil && free > pages/4 && free > 256 {
		_, _ = x.st.db.Exec(`PRAGMA incremental_vacuum(4096)`)
	}
	return nil
}

func (x *Index) oldestBefore(limit int64) bool {
	var t int64
	err := x.st.db.QueryRow(`SELECT t FROM alerts ORDER BY t LIMIT 1`).Scan(&t)
	return err == nil && t < limit
}

// db is the open database (reset replaces it).
func (x *Index) db() *sql.DB {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.st.db
}

func (x *Index) selectSeqs(q string, args ...any) ([]int64, error) {
	rows, err := x.db().Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (x *Index) evictSeqs(seqs []int64) error {
	tx, err := x.st.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	deltas := rollDelta{h: map[int64]map[hkey]int64{}, m: map[int64][9]int64{}}
	if err := x.deleteRows(tx, seqs, &deltas); err != nil {
		return err
	}
	if err := deltas.persist(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	x.mu.Lock()
	deltas.apply(&x.roll)
	x.count -= len(seqs)
	x.mu.Unlock()
	x.evicted.Add(uint64(len(seqs)))
	return nil
}

// usedBytes is the database's size without its free pages.
func (x *Index) usedBytes() int64 {
	var pages, free, size int64
	db := x.st.db
	if db.QueryRow(`PRAGMA page_count`).Scan(&pages) != nil || db.QueryRow(`PRAGMA freelist_count`).Scan(&free) != nil ||
		db.QueryRow(`PRAGMA page_size`).Scan(&size) != nil {
		return 0
	}
	return (pages - free) * size
}
