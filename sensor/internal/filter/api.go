package filter

import (
	"errors"
	"fmt"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// Error is a parse or compile error located in the condition text.
type Error struct {
	Offset    int // byte offset into the condition
	Line, Col int // 1-based, computed from the condition text
	Msg       string
	Err       error // the underlying error (e.g. *UnknownFieldError), if any
}

func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }
func (e *Error) Unwrap() error { return e.Err }

// UnknownFieldError reports a field that is not in the registry; Compile
// returns it wrapped in *Error (errors.As finds it). The rules loader uses it
// for skip-if-unknown-filter.
type UnknownFieldError struct{ Field string }

func (e *UnknownFieldError) Error() string { return "unknown field " + e.Field }

// Env is what Compile resolves names against.
type Env struct {
	Registry *fields.Registry
	// Macros holds parsed macro bodies; they may reference other macros and
	// are expanded recursively (a cycle is an error naming it).
	Macros map[string]Expr
	// Lists maps list names to their items, already fully expanded.
	Lists map[string][]string
}

// Filter is a compiled condition.
type Filter struct{}

// Compile type-checks e against env and builds the matcher tree. Errors are
// *Error (located in the condition where possible), wrapping
// *UnknownFieldError, undefined macros and the like. Compile never panics.
func Compile(e Expr, env Env) (*Filter, error) { return nil, errors.New("filter: TODO") }

// Match reports whether ev satisfies the filter. It is safe for concurrent
// use; it takes a Scratch from a pool. Hot loops should hold their own
// Scratch per goroutine and call MatchScratch.
func (f *Filter) Match(ev fields.Event) bool { return false }

// Scratch holds the per-goroutine buffers (extracted values, transformer
// output) that matching needs. One Scratch serves any number of filters,
// one call at a time. The zero value is ready to use.
type Scratch struct{}

// MatchScratch is Match with caller-owned scratch space: zero allocations
// once s has warmed up.
func (f *Filter) MatchScratch(ev fields.Event, s *Scratch) bool { return false }

// EventTypes returns the type ids (Registry.EventTypes indices) of the events
// the filter can match, derived from comparisons on Registry.TypeField
// through and/or/not and macros. any is true when the filter does not
// restrict event types (ids then lists every type).
func (f *Filter) EventTypes() (ids []uint16, any bool) { return nil, true }

// ValueExpr is a compiled value expression: a field with optional argument
// and transformers, as used in outputs ("%proc.aname[2]") and exceptions.
type ValueExpr struct{}

// CompileValue compiles a value expression such as "proc.name",
// "proc.aname[2]", "evt.arg.flags", "tolower(proc.name)" or "val(fd.name)".
func CompileValue(expr string, reg *fields.Registry) (*ValueExpr, error) {
	return nil, errors.New("filter: TODO")
}

// Eval extracts the value for ev into out; false means no value (<NA>).
func (v *ValueExpr) Eval(ev fields.Event, out *fields.Value) bool { return false }

// Kind is the kind of the values Eval produces.
func (v *ValueExpr) Kind() fields.Kind { return fields.KindInvalid }

// String returns the expression as written.
func (v *ValueExpr) String() string { return "" }

// AppendValue appends Falco's textual rendering of v (as in %field output)
// to dst.
func AppendValue(dst []byte, v *fields.Value) []byte { return dst }
