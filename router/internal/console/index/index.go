// Package index is the console's search index: an SQLite database (pure Go,
// FTS5 for free text) in the router's data dir, fed from the journal by its
// own reader and cursor, so ingest never waits on it and a restart resumes
// where it stopped. Counts per facet value and the chart come from rollup
// tables kept at insert time, so a search over a million alerts does not
// group a million rows. Retention is by age, count and database size.
package index

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Facets the console filters and counts on, in display order.
const (
	FRule = iota
	FPriority
	FSource
	FHostname
	FContainer
	FPod
	FNamespace
	FSensor
	FTag
	nFacets
)

// FacetNames are the query and JSON names of the facets.
var FacetNames = [nFacets]string{"rule", "priority", "source", "hostname", "container", "pod", "namespace", "sensor", "tag"}

// facetCols are the alerts table's columns of the facets but tags.
var facetCols = [FTag]string{"rule", "prio", "src", "host", "ctr", "pod", "ns", "sensor"}

// FacetByName maps a facet's name to its number (-1 when unknown).
func FacetByName(name string) int {
	for i, n := range FacetNames {
		if n == name {
			return i
		}
	}
	return -1
}

// Output fields that carry the container, pod and namespace facets.
var facetFields = map[int][]string{
	FContainer: {"container.name", "container.id"},
	FPod:       {"k8s.pod.name"},
	FNamespace: {"k8s.ns.name"},
}

// Options configure the index.
type Options struct {
	// Dir holds the database (index.db); created when missing.
	Dir string
	// MaxAlerts, MaxAge and MaxBytes bound what is kept (0: no bound);
	// the oldest alerts leave first, in batches.
	MaxAlerts int
	MaxAge    time.Duration
	MaxBytes  int64
	// IncidentFields with the rule make an incident's identity.
	IncidentFields []string
	Logger         *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// BatchSize is the most alerts written in one transaction (0: 4096).
	BatchSize int
}

// Index holds recent alerts.
type Index struct {
	opts Options
	log  *slog.Logger
	path string // the database file
	// st is the open database; writers hold wmu, and swapping it (reset)
	// also holds mu.
	st *store

	// mu guards the in-memory state mirrored from the database: facet
	// dictionaries, rollups, incidents, sensors, count and cursor.
	mu    sync.RWMutex
	dicts [nFacets]dict
	roll  rollups
	inc   map[string]*Incident
	sens  map[string]*SensorSeen
	count int
	next  uint64 // next journal position to read

	// wmu serialises writers (the indexer, tests calling Add).
	wmu sync.Mutex

	indexed, evicted atomic.Uint64
	lag              atomic.Int64

	subMu sync.Mutex
	subs  map[chan *harrierv1.Alert]struct{}
	// subsChanged wakes the live tail when the first viewer arrives.
	subsChanged chan struct{}
}

// dict interns one facet's values as database ids.
type dict struct {
	ids  map[string]uint32
	vals map[uint32]string
	next uint32
}

func (d *dict) lookup(v string) (uint32, bool) { id, ok := d.ids[v]; return id, ok }

// ErrNotFound: no such alert in the index.
var ErrNotFound = errors.New("not found in the console index (expired or never received)")

// Open opens (or creates) the index in opts.Dir. A database that cannot be
// read is moved aside with a logged error and a new one is started, which
// the indexer then fills from the journal.
func Open(opts Options) (*Index, error) {
	if opts.Dir == "" {
		return nil, errors.New("console index: no directory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 4096
	}
	x := &Index{opts: opts, log: opts.Logger, subs: map[chan *harrierv1.Alert]struct{}{}, subsChanged: make(chan struct{}, 1)}
	if err := x.openStore(); err != nil {
		return nil, err
	}
	return x, nil
}

// Close closes the database; later searches fail with an error.
func (x *Index) Close() error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	return x.st.close()
}

// Len is the number of alerts held.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count
}

// Next is the next journal position the index will read.
func (x *Index) Next() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.next
}

// Add indexes one alert in its own transaction and hands it to live
// viewers (tests and small feeds; the indexer writes in batches). raw is
// its protobuf encoding (nil: encoded here).
func (x *Index) Add(seq uint64, a *harrierv1.Alert, raw []byte) {
	if err := x.write([]rec{{seq: seq, a: a, raw: raw}}, seq+1, ""); err != nil {
		x.log.Warn("console index: write failed", "seq", seq, "err", err)
	}
	x.Publish(a)
}

// Subscribe returns a channel of new alerts for the live view; cancel
// releases it. Alerts reach it from the journal's tail, not from the
// indexer, so the live view never waits for indexing.
func (x *Index) Subscribe(buf int) (<-chan *harrierv1.Alert, func()) {
	ch := make(chan *harrierv1.Alert, buf)
	x.subMu.Lock()
	x.subs[ch] = struct{}{}
	x.subMu.Unlock()
	select {
	case x.subsChanged <- struct{}{}:
	default:
	}
	return ch, func() {
		x.subMu.Lock()
		delete(x.subs, ch)
		x.subMu.Unlock()
	}
}

func (x *Index) viewers() int {
	x.subMu.Lock()
	defer x.subMu.Unlock()
	return len(x.subs)
}

// Publish hands a new alert to the live viewers.
func (x *Index) Publish(a *harrierv1.Alert) {
	x.subMu.Lock()
	for ch := range x.subs {
		select {
		case ch <- a:
		default: // a slow viewer loses live alerts, never stalls the feed
		}
	}
	x.subMu.Unlock()
}

func facetValues(a *harrierv1.Alert) [FTag]string {
	var v [FTag]string
	v[FRule] = a.GetRule()
	v[FPriority] = PriorityName(a.GetPriority())
	v[FSource] = a.GetSource()
	v[FHostname] = a.GetHostname()
	v[FSensor] = a.GetSensorId()
	for f, keys := range facetFields {
		for _, k := range keys {
			if fv, ok := a.GetOutputFields()[k]; ok {
				if s := FieldString(fv); s != "" && s != "<NA>" {
					v[f] = s
					break
				}
			}
		}
	}
	return v
}

// searchText is what free text is matched against: output, rule and
// every field as key=value.
func searchText(a *harrierv1.Alert) string {
	var sb strings.Builder
	sb.WriteString(a.GetOutput())
	sb.WriteByte('\n')
	sb.WriteString(a.GetRule())
	keys := make([]string, 0, len(a.GetOutputFields()))
	for k := range a.GetOutputFields() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sb.WriteByte('\n')
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(FieldString(a.GetOutputFields()[k]))
	}
	return sb.String()
}

// words splits text the way FTS5's unicode61 tokenizer does (letters and
// digits; everything else separates), lower-cased.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// PriorityName is Falco's spelling of a priority.
func PriorityName(p harrierv1.Priority) string {
	switch p {
	case harrierv1.Priority_PRIORITY_EMERGENCY:
		return "Emergency"
	case harrierv1.Priority_PRIORITY_ALERT:
		return "Alert"
	case harrierv1.Priority_PRIORITY_CRITICAL:
		return "Critical"
	case harrierv1.Priority_PRIORITY_ERROR:
		return "Error"
	case harrierv1.Priority_PRIORITY_WARNING:
		return "Warning"
	case harrierv1.Priority_PRIORITY_NOTICE:
		return "Notice"
	case harrierv1.Priority_PRIORITY_INFORMATIONAL:
		return "Informational"
	case harrierv1.Priority_PRIORITY_DEBUG:
		return "Debug"
	}
	return "Unknown"
}

// FieldString renders an output field value as text.
func FieldString(v *harrierv1.FieldValue) string {
	switch k := v.GetKind().(type) {
	case *harrierv1.FieldValue_StringValue:
		return k.StringValue
	case *harrierv1.FieldValue_IntValue:
		return fmt.Sprint(k.IntValue)
	case *harrierv1.FieldValue_UintValue:
		return fmt.Sprint(k.UintValue)
	case *harrierv1.FieldValue_BoolValue:
		return fmt.Sprint(k.BoolValue)
	case *harrierv1.FieldValue_StringList:
		return strings.Join(k.StringList.GetValues(), ",")
	case *harrierv1.FieldValue_NullValue:
		return "<NA>"
	}
	return ""
}
