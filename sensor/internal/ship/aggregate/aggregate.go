// Package aggregate folds floods of identical alerts. For the rules it is
// configured for, the first alert of a kind (same rule, same values of the
// chosen output fields) passes at once; repeats within the window are held
// and, when the window closes, leave as one alert carrying their count and
// the times of the first and last repeat (Alert.count, first_time,
// last_time). A single repeat leaves as itself. Nothing is ever discarded:
// every alert is either passed, or counted in an aggregate.
package aggregate

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Rule configures aggregation for the rules whose name matches Pattern (a
// glob: "*" matches any text).
type Rule struct {
	Pattern string
	// Fields are the output fields that must agree for alerts to fold;
	// none means all output fields.
	Fields []string
	Window time.Duration
}

// Aggregator applies Rules to alerts and passes the result to emit.
type Aggregator struct {
	rules []Rule
	emit  func(*harrierv1.Alert)
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	// byRule caches which Rule (index, -1 none) applies to a rule name.
	byRule map[string]int
	folded uint64
}

type bucket struct {
	deadline time.Time
	repeats  uint32
	first    time.Time
	last     *harrierv1.Alert
}

// New returns an aggregator; now may be nil (time.Now).
func New(rules []Rule, emit func(*harrierv1.Alert), now func() time.Time) *Aggregator {
	if now == nil {
		now = time.Now
	}
	return &Aggregator{rules: rules, emit: emit, now: now, buckets: map[string]*bucket{}, byRule: map[string]int{}}
}

func (ag *Aggregator) ruleFor(name string) int {
	if i, ok := ag.byRule[name]; ok {
		return i
	}
	i := slices.IndexFunc(ag.rules, func(r Rule) bool {
		ok, _ := path.Match(r.Pattern, name)
		return ok || r.Pattern == name
	})
	ag.byRule[name] = i
	return i
}

// Add takes one alert.
func (ag *Aggregator) Add(a *harrierv1.Alert) {
	ag.mu.Lock()
	i := ag.ruleFor(a.GetRule())
	if i < 0 {
		ag.mu.Unlock()
		ag.emit(a)
		return
	}
	r := ag.rules[i]
	key := keyOf(a, r.Fields)
	now := ag.now()
	b, ok := ag.buckets[key]
	if !ok || !now.Before(b.deadline) {
		var out *harrierv1.Alert
		if ok {
			out = b.flush()
		}
		ag.buckets[key] = &bucket{deadline: now.Add(r.Window)}
		ag.mu.Unlock()
		if out != nil {
			ag.emit(out)
		}
		ag.emit(a) // the first of a kind is not delayed
		return
	}
	if b.repeats == 0 {
		b.first = alertTime(a)
	}
	b.repeats++
	b.last = a
	ag.folded++
	ag.mu.Unlock()
}

// Tick emits the aggregates whose window has closed; call it periodically.
func (ag *Aggregator) Tick() {
	ag.flush(false)
}

// Flush emits every held aggregate now (at shutdown).
func (ag *Aggregator) Flush() {
	ag.flush(true)
}

func (ag *Aggregator) flush(all bool) {
	now := ag.now()
	var out []*harrierv1.Alert
	ag.mu.Lock()
	for k, b := range ag.buckets {
		if !all && now.Before(b.deadline) {
			continue
		}
		if a := b.flush(); a != nil {
			out = append(out, a)
		}
		delete(ag.buckets, k)
	}
	ag.mu.Unlock()
	// Oldest first, so outputs see a sensible order.
	slices.SortFunc(out, func(x, y *harrierv1.Alert) int {
		return x.GetLastTime().AsTime().Compare(y.GetLastTime().AsTime())
	})
	for _, a := range out {
		ag.emit(a)
	}
}

// Held is the number of alerts currently folded and waiting.
func (ag *Aggregator) Held() int {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	n := 0
	for _, b := range ag.buckets {
		n += int(b.repeats)
	}
	return n
}

func (b *bucket) flush() *harrierv1.Alert {
	switch b.repeats {
	case 0:
		return nil
	case 1:
		return b.last
	}
	a := proto.Clone(b.last).(*harrierv1.Alert)
	a.Count = b.repeats
	a.FirstTime = timestamppb.New(b.first)
	a.LastTime = timestamppb.New(alertTime(b.last))
	return a
}

func alertTime(a *harrierv1.Alert) time.Time {
	if a.GetTime() != nil {
		return a.GetTime().AsTime()
	}
	return time.Now()
}

// keyOf identifies alerts that fold together.
func keyOf(a *harrierv1.Alert, fields []string) string {
	var sb strings.Builder
	sb.WriteString(a.GetRule())
	if len(fields) == 0 {
		for k := range a.GetOutputFields() {
			fields = append(fields, k)
		}
		slices.Sort(fields)
	}
	for _, f := range fields {
		sb.WriteByte(0)
		sb.WriteString(f)
		sb.WriteByte('=')
		writeValue(&sb, a.GetOutputFields()[f])
	}
	return sb.String()
}

func writeValue(sb *strings.Builder, v *harrierv1.FieldValue) {
	switch k := v.GetKind().(type) {
	case *harrierv1.FieldValue_StringValue:
		sb.WriteString("s:" + k.StringValue)
	case *harrierv1.FieldValue_IntValue:
		sb.WriteString("i:" + strconv.FormatInt(k.IntValue, 10))
	case *harrierv1.FieldValue_UintValue:
		sb.WriteString("u:" + strconv.FormatUint(k.UintValue, 10))
	case *harrierv1.FieldValue_BoolValue:
		sb.WriteString("b:" + strconv.FormatBool(k.BoolValue))
	case *harrierv1.FieldValue_StringList:
		sb.WriteString("l:" + strings.Join(k.StringList.GetValues(), "\x01"))
	default:
		sb.WriteString("null")
	}
}
