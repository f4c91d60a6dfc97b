// Package fields is the contract between event sources and the rules engine:
// each source (syscall, k8s_audit, ...) publishes a Registry of the fields its
// events carry, and the engine binds every field reference of a rule
// condition or output to an Extract function once, at load time. The hot path
// then calls Extract directly: no parsing, reflection or lookups by name.
package fields

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Kind is the type of a field's value.
type Kind uint8

const (
	KindInvalid Kind = iota
	KindString       // Value.Str
	KindInt          // Value.Int (signed; pids, fds, results, ...)
	KindUint         // Value.Uint (flags, modes, sizes, ...)
	KindBool         // Value.Bool
	KindIP           // Value.IP
	KindIPNet        // Value.Net (a field naming a network, e.g. fd.net)
	KindPort         // Value.Uint (0-65535)
	KindAbsTime      // Value.Int, nanoseconds since the Unix epoch
	KindRelTime      // Value.Int, nanoseconds
	KindBytes        // Value.Bytes (raw buffers: bcontains, bstartswith)
)

var kindNames = [...]string{
	KindInvalid: "invalid", KindString: "string", KindInt: "int64", KindUint: "uint64",
	KindBool: "bool", KindIP: "ipaddr", KindIPNet: "ipnet", KindPort: "port",
	KindAbsTime: "abstime", KindRelTime: "reltime", KindBytes: "bytebuf",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Value holds one extracted value. Only the member named by Kind is
// meaningful. A list-valued field (Def.List) fills Strs or Ints instead of
// the scalar member and sets IsList. Values are reused between calls by the
// engine, so an Extract function must overwrite every member it uses and
// must not keep references to the Value.
type Value struct {
	Kind   Kind
	IsList bool
	Str    string
	Int    int64
	Uint   uint64
	Bool   bool
	IP     netip.Addr
	Net    netip.Prefix
	Bytes  []byte
	Strs   []string // list of strings (also the textual form of other list kinds)
	Ints   []int64  // list of integers (e.g. proc.apid without an index)
}

// Reset clears v for reuse, keeping slice capacity.
func (v *Value) Reset() {
	strs, ints, bytes := v.Strs[:0], v.Ints[:0], v.Bytes[:0]
	*v = Value{Strs: strs, Ints: ints, Bytes: bytes}
}

// Event is what every source hands to the engine. Implementations are
// pointers to source-specific structs; Extract functions type-assert them.
type Event interface {
	// Source names the event source ("syscall", "k8s_audit").
	Source() string
	// TypeID is the index of the event's type in its Registry's EventTypes.
	TypeID() uint16
}

// Extract reads one field of ev into out and reports whether the field has a
// value for this event (false means <NA>/null). It must not allocate for the
// common case and must be safe for concurrent use on different events.
type Extract func(ev Event, out *Value) bool

// ArgMode says whether a field takes an argument: proc.aname[2],
// proc.env[HOME], evt.arg.flags, ka.uri.param[name], jevt.value[/a/b].
type ArgMode uint8

const (
	ArgNone     ArgMode = iota // the field takes no argument
	ArgOptional                // e.g. proc.aname (any ancestor) / proc.aname[2]
	ArgRequired                // e.g. proc.env[HOME], ka.uri.param[name]
)

// ArgKind says how an argument is written.
type ArgKind uint8

const (
	ArgKey   ArgKind = iota // any text: an environment variable name, a JSON pointer, ...
	ArgIndex                // a non-negative integer
)

// Def describes one field.
type Def struct {
	Name string
	Kind Kind
	List bool // the field yields a list of values (Value.IsList)
	// AnyOf marks a list field that compares as one value found at any of
	// several places (libsinsp's fd.ip: either end of a connection):
	// = and in hold when some element does, != when none does.
	AnyOf bool
	// Watch, when set, is called while a condition is compiled with the
	// literal values it compares the field with, so that the source can
	// prepare for them (fd.sip.name: resolve the domain names in the
	// background). It must not block.
	Watch   func(values []string)
	Arg     ArgMode
	ArgKind ArgKind
	// DotArg allows the argument after a dot as well as in brackets:
	// evt.arg.flags is evt.arg[flags].
	DotArg bool
	Desc   string
	// Bind returns the extractor for one use of the field with the given
	// argument ("" when none was written). An error here is a load error of
	// the rule that used the field (bad index, unknown argument name, ...).
	Bind func(arg string) (Extract, error)
}

// Registry is the set of fields and event types of one source.
type Registry struct {
	Source string
	// TypeField names the field whose comparisons select event types
	// ("evt.type" for syscall); the engine uses it to index rules by type.
	// Empty for sources with a single event type.
	TypeField string

	fields  map[string]*Def
	types   []string
	typeIDs map[string]uint16
	aliases map[string][]string
}

// NewRegistry returns an empty registry for source with the given event
// type names; a type's index in types is its TypeID. Sources with a single
// event type pass one name. Empty names are allowed as unused ids.
func NewRegistry(source, typeField string, types []string) *Registry {
	r := &Registry{
		Source:    source,
		TypeField: typeField,
		fields:    make(map[string]*Def),
		types:     types,
		typeIDs:   make(map[string]uint16, len(types)),
	}
	for i, t := range types {
		// Empty names are holes in a numbering (unused syscall numbers).
		if _, dup := r.typeIDs[t]; !dup && t != "" {
			r.typeIDs[t] = uint16(i)
		}
	}
	return r
}

// Add registers d. It returns an error for an empty or duplicate name or a
// missing Bind, so that source packages can check their tables in tests.
func (r *Registry) Add(d Def) error {
	switch {
	case d.Name == "":
		return fmt.Errorf("%s: field with empty name", r.Source)
	case d.Bind == nil:
		return fmt.Errorf("%s: field %s has no Bind", r.Source, d.Name)
	case r.fields[d.Name] != nil:
		return fmt.Errorf("%s: field %s registered twice", r.Source, d.Name)
	}
	dd := d
	r.fields[d.Name] = &dd
	return nil
}

// MustAdd is Add for static tables built at package initialisation.
func (r *Registry) MustAdd(defs ...Def) {
	for _, d := range defs {
		if err := r.Add(d); err != nil {
			panic(err)
		}
	}
}

// Lookup finds the field named by name, which may carry a dotted argument
// for DotArg fields ("evt.arg.flags" → evt.arg, "flags"). Bracketed
// arguments are split off by the condition parser before Lookup.
func (r *Registry) Lookup(name string) (def *Def, dotArg string, ok bool) {
	if d := r.fields[name]; d != nil {
		return d, "", true
	}
	// Longest DotArg prefix wins.
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		if d := r.fields[name[:i]]; d != nil && d.DotArg {
			return d, name[i+1:], true
		}
	}
	return nil, "", false
}

// Fields returns every field, sorted by name.
func (r *Registry) Fields() []*Def {
	out := make([]*Def, 0, len(r.fields))
	for _, d := range r.fields {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AliasType makes name another name for the target event types, for
// conditions written with the names of another event table (libsinsp's
// "pread" for the kernel's pread64). With no targets, name is a known
// event type that this source never produces: conditions naming it load
// and never match it. Call it while building the registry.
func (r *Registry) AliasType(name string, targets ...string) {
	if r.aliases == nil {
		r.aliases = map[string][]string{}
	}
	r.aliases[name] = targets
}

// TypeAliases returns the aliases added with AliasType, by name.
func (r *Registry) TypeAliases() map[string][]string { return r.aliases }

// EventTypes returns the event type names, indexed by TypeID.
func (r *Registry) EventTypes() []string { return r.types }

// TypeID returns the id of the named event type.
func (r *Registry) TypeID(name string) (uint16, bool) {
	id, ok := r.typeIDs[name]
	return id, ok
}
