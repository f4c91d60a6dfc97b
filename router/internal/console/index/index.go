// Package index is the console's search index: an in-memory, columnar copy
// of recent alerts fed from the journal by its own reader (so ingest never
// waits on it), bounded by count and age. Facet values are interned so a
// search over a million alerts is a tight scan over small integers.
package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
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

type doc struct {
	seq    uint64
	time   int64 // unix nanoseconds
	prio   harrierv1.Priority
	facets [nFacets - 1]uint32 // every facet but tags
	tags   []uint32
	text   string // lower-cased output, rule and field values
	raw    []byte // the journal record (protobuf), decoded on demand
}

// dict interns one facet's values.
type dict struct {
	ids  map[string]uint32
	vals []string
}

func (d *dict) id(v string) uint32 {
	if id, ok := d.ids[v]; ok {
		return id
	}
	id := uint32(len(d.vals))
	d.ids[v] = id
	d.vals = append(d.vals, v)
	return id
}

// Options bound the index.
type Options struct {
	MaxAlerts int
	MaxAge    time.Duration
	// IncidentFields with the rule make an incident's identity.
	IncidentFields []string
	Logger         *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Index holds recent alerts.
type Index struct {
	opts Options
	log  *slog.Logger

	mu    sync.RWMutex
	docs  []doc // ascending seq
	dicts [nFacets]dict
	inc   map[string]*Incident
	sens  map[string]*SensorSeen
	next  uint64 // next journal position to read

	// arena packs the docs' search text side by side, so a free-text scan
	// reads memory in order instead of chasing a million small strings.
	arena []byte

	subMu sync.Mutex
	subs  map[chan *harrierv1.Alert]struct{}
}

// New returns an empty index.
func New(opts Options) *Index {
	if opts.MaxAlerts <= 0 {
		opts.MaxAlerts = 1_000_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	x := &Index{opts: opts, log: opts.Logger, inc: map[string]*Incident{}, sens: map[string]*SensorSeen{},
		subs: map[chan *harrierv1.Alert]struct{}{}}
	for i := range x.dicts {
		x.dicts[i] = dict{ids: map[string]uint32{}}
	}
	return x
}

// Run feeds the index from the journal, starting at its oldest record
// (the index lives in memory and is rebuilt at start), until ctx ends.
func (x *Index) Run(ctx context.Context, j *journal.Journal) error {
	r := j.NewReader(j.First())
	defer r.Close()
	n, chunk := 0, time.Now()
	for {
		e, err := r.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, journal.ErrClosed) {
				return nil
			}
			// The reader already steps over damaged records; what is
			// left is an I/O error: retry later, the console lags meanwhile.
			x.log.Warn("console index: journal read", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		// Under a burst (the index far behind the journal), pace: work a
		// chunk, then rest four times as long, so ingest keeps the CPU it needs
		// and the index catches up when the burst ends.
		if n++; n%512 == 0 {
			if j.Next()-e.Seq > 2048 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(4 * time.Since(chunk)):
				}
			}
			chunk = time.Now()
		}
		a := &harrierv1.Alert{}
		if err := harrierv1.UnmarshalAlert(e.Data, a); err != nil {
			x.log.Warn("console index: undecodable record skipped", "seq", e.Seq, "err", err)
			x.mu.Lock()
			x.next = max(x.next, e.Seq+1)
			x.mu.Unlock()
			continue
		}
		x.Add(e.Seq, a, slices.Clone(e.Data))
	}
}

// SharedLog is the log router replicas share (Kafka).
type SharedLog interface {
	// Rebuild reads every partition from the later of since (zero: no
	// bound) and the last n records of each (0: no bound), then follows,
	// calling fn for each record until ctx ends.
	Rebuild(ctx context.Context, since time.Time, last int, fn func(journal.Record)) error
}

// RunShared feeds the index from a shared log until ctx ends: every
// partition, not a consumer group, so each replica holds every alert
// whichever replica took it. At start it reads back the retained records
// within the index bounds (MaxAlerts per partition, MaxAge). Positions are
// the replica's own arrival order, so an alert's number differs between
// replicas (its id does not).
func (x *Index) RunShared(ctx context.Context, l SharedLog) error {
	for {
		var since time.Time
		if x.opts.MaxAge > 0 {
			since = x.opts.Now().Add(-x.opts.MaxAge)
		}
		last := x.opts.MaxAlerts
		if x.Len() > 0 {
			// A retry after a failure: the index already holds the past;
			// read only what arrives from now on (a short gap is possible,
			// which the warning below says).
			since, last = x.opts.Now(), 0
		}
		err := l.Rebuild(ctx, since, last, func(r journal.Record) {
			a := &harrierv1.Alert{}
			if err := harrierv1.UnmarshalAlert(r.Data, a); err != nil {
				x.log.Warn("console index: undecodable record skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			x.Add(x.Next(), a, slices.Clone(r.Data))
		})
		if ctx.Err() != nil {
			return nil
		}
		x.log.Warn("console index: reading the shared log failed; retrying (alerts stored meanwhile may be missing from the console)", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// Add indexes one alert (raw is its protobuf encoding, kept for the detail
// view; nil re-encodes it).
func (x *Index) Add(seq uint64, a *harrierv1.Alert, raw []byte) {
	if raw == nil {
		raw, _ = proto.Marshal(a)
	}
	t := a.GetTime().AsTime()
	d := doc{seq: seq, time: t.UnixNano(), prio: a.GetPriority(), raw: raw}
	var sb strings.Builder
	sb.WriteString(strings.ToLower(a.GetOutput()))
	sb.WriteByte('\n')
	sb.WriteString(strings.ToLower(a.GetRule()))
	keys := make([]string, 0, len(a.GetOutputFields()))
	for k := range a.GetOutputFields() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sb.WriteByte('\n')
		sb.WriteString(strings.ToLower(k + "=" + FieldString(a.GetOutputFields()[k])))
	}
	x.mu.Lock()
	d.text = x.intern(sb.String())
	vals := facetValues(a)
	for f := 0; f < FTag; f++ {
		d.facets[f] = x.dicts[f].id(vals[f])
	}
	for _, tg := range a.GetTags() {
		d.tags = append(d.tags, x.dicts[FTag].id(tg))
	}
	x.docs = append(x.docs, d)
	if seq >= x.next {
		x.next = seq + 1
	}
	x.addIncident(a, t)
	x.addSensor(a, t)
	x.trim()
	x.mu.Unlock()

	x.subMu.Lock()
	for ch := range x.subs {
		select {
		case ch <- a:
		default: // a slow viewer loses live alerts, never stalls the index
		}
	}
	x.subMu.Unlock()
}

// intern copies s into the arena; called with mu held. Arena chunks are
// never written again once full and are freed with their last doc.
func (x *Index) intern(s string) string {
	if len(s) == 0 {
		return ""
	}
	if cap(x.arena)-len(x.arena) < len(s) {
		x.arena = make([]byte, 0, max(1<<20, len(s)))
	}
	off := len(x.arena)
	x.arena = append(x.arena, s...)
	return unsafe.String(&x.arena[off], len(s))
}

func facetValues(a *harrierv1.Alert) [nFacets - 1]string {
	var v [nFacets - 1]string
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

// trim enforces MaxAlerts and MaxAge; called with mu held.
func (x *Index) trim() {
	drop := 0
	if over := len(x.docs) - x.opts.MaxAlerts; over > 0 {
		drop = over
	}
	if x.opts.MaxAge > 0 {
		limit := x.opts.Now().Add(-x.opts.MaxAge).UnixNano()
		for drop < len(x.docs) && x.docs[drop].time < limit {
			drop++
		}
	}
	if drop == 0 {
		return
	}
	clear(x.docs[:drop])
	x.docs = x.docs[drop:]
	// Release the dropped prefix's memory once it is a large share.
	if cap(x.docs) > 2*len(x.docs)+1024 {
		x.docs = slices.Clone(x.docs)
	}
}

// Len is the number of alerts held.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.docs)
}

// Next is the next journal position the index will read.
func (x *Index) Next() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.next
}

// Subscribe returns a channel of newly indexed alerts; cancel releases it.
func (x *Index) Subscribe(buf int) (<-chan *harrierv1.Alert, func()) {
	ch := make(chan *harrierv1.Alert, buf)
	x.subMu.Lock()
	x.subs[ch] = struct{}{}
	x.subMu.Unlock()
	return ch, func() {
		x.subMu.Lock()
		delete(x.subs, ch)
		x.subMu.Unlock()
	}
}

// Get returns the alert with the given journal sequence or id.
func (x *Index) Get(key string) (*harrierv1.Alert, uint64, error) {
	x.mu.RLock()
	var raw []byte
	var seq uint64
	if n, err := strconv.ParseUint(key, 10, 64); err == nil {
		i := sort.Search(len(x.docs), func(i int) bool { return x.docs[i].seq >= n })
		if i < len(x.docs) && x.docs[i].seq == n {
			raw, seq = x.docs[i].raw, n
		}
	} else {
		// By alert id, newest first (the live view links by id).
		kb := []byte(key)
		for i := len(x.docs) - 1; i >= 0 && raw == nil; i-- {
			if bytes.Contains(x.docs[i].raw, kb) {
				a := &harrierv1.Alert{}
				if proto.Unmarshal(x.docs[i].raw, a) == nil && a.GetId() == key {
					raw, seq = x.docs[i].raw, x.docs[i].seq
				}
			}
		}
	}
	x.mu.RUnlock()
	if raw == nil {
		return nil, 0, ErrNotFound
	}
	a := &harrierv1.Alert{}
	if err := proto.Unmarshal(raw, a); err != nil {
		return nil, 0, fmt.Errorf("alert %s: %w", key, err)
	}
	return a, seq, nil
}

// ErrNotFound: no such alert in the index.
var ErrNotFound = errors.New("not found in the console index (expired or never received)")

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
