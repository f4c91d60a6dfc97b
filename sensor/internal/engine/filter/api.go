package filter

import (
	"errors"
	"fmt"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/fields"
)

// Error is a parse or compile error located in the condition text.
type Error struct {
	Offset    int // byte offset into the condition
	Line, Col int // 1-based, computed from the condition text; 0 when unknown
	Msg       string
	Err       error // the underlying error (e.g. *UnknownFieldError), if any
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is several independent errors found in one condition (the terms
// of an and/or are all checked), in the order of the text. errors.As sees
// through it to the first error of a kind.
type Errors []error

func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e Errors) Unwrap() []error { return e }

// maxErrors bounds the errors reported for one condition.
const maxErrors = 50

// AllErrors returns the errors err holds: the elements of an Errors, or
// err itself.
func AllErrors(err error) []error {
	var errs Errors
	if errors.As(err, &errs) {
		return errs
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func addErr(errs Errors, err error) Errors {
	for _, e := range AllErrors(err) {
		if len(errs) < maxErrors {
			errs = append(errs, e)
		}
	}
	return errs
}

// one returns nil, the only error, or all of them.
func (e Errors) one() error {
	switch len(e) {
	case 0:
		return nil
	case 1:
		return e[0]
	}
	return e
}

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
	// Lists maps list names to their items, already expanded. Items written
	// with quotes ("a b" or 'a b') are unquoted, as Falco does when it
	// substitutes a list into a condition.
	Lists map[string][]string
}
