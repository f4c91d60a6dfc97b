package rules

import (
	"fmt"
	"strings"
)

// Pos is a place in a rules file (1-based line and column).
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Diagnostic is one load error or warning, located in a rules file and
// attributed to the item it concerns.
type Diagnostic struct {
	Pos
	Warning bool
	// Code classifies the problem with the names Falco's loader uses
	// (LOAD_ERR_* for errors, LOAD_* for warnings), so tools that read
	// Falco's validation output can read Harrier's.
	Code string
	Kind string // "rule", "macro", "list" or "" for file-level problems
	Name string
	Msg  string
}

// String renders d as FILE:LINE:COL: [warning: ]rule "NAME": message.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	b.WriteString(": ")
	if d.Warning {
		b.WriteString("warning: ")
	}
	if d.Kind != "" {
		fmt.Fprintf(&b, "%s %q: ", d.Kind, d.Name)
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Diagnostics are the problems found by a load, in the order found.
type Diagnostics []Diagnostic

// Errors returns the diagnostics that are errors.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(false) }

// Warnings returns the diagnostics that are warnings.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(true) }

func (ds Diagnostics) filter(warn bool) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Warning == warn {
			out = append(out, d)
		}
	}
	return out
}

// Err returns an error listing every error diagnostic, or nil.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &LoadError{Diagnostics: errs}
}

// LoadError is returned by Load when a rules file has errors.
type LoadError struct{ Diagnostics Diagnostics }

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// itemRef names the item a diagnostic is about.
type itemRef struct{ kind, name string }

// diags collects diagnostics during a load.
type diags struct{ list Diagnostics }

// Falco's load result codes (falco::load_result), used as Diagnostic.Code.
const (
	ErrYAMLParse        = "LOAD_ERR_YAML_PARSE"
	ErrYAMLValidate     = "LOAD_ERR_YAML_VALIDATE"
	ErrCompileCondition = "LOAD_ERR_COMPILE_CONDITION"
	ErrCompileOutput    = "LOAD_ERR_COMPILE_OUTPUT"
	ErrValidate         = "LOAD_ERR_VALIDATE"

	WarnUnknownSource      = "LOAD_UNKNOWN_SOURCE"
	WarnUnsafeNACheck      = "LOAD_UNSAFE_NA_CHECK"
	WarnNoEvttype          = "LOAD_NO_EVTTYPE"
	WarnUnknownFilter      = "LOAD_UNKNOWN_FILTER"
	WarnUnusedMacro        = "LOAD_UNUSED_MACRO"
	WarnUnusedList         = "LOAD_UNUSED_LIST"
	WarnUnknownItem        = "LOAD_UNKNOWN_ITEM"
	WarnDeprecatedItem     = "LOAD_DEPRECATED_ITEM"
	WarnAppendNoValues     = "LOAD_APPEND_NO_VALUES"
	WarnExceptionNotUnique = "LOAD_EXCEPTION_NAME_NOT_UNIQUE"
	WarnInvalidMacroName   = "LOAD_INVALID_MACRO_NAME"
	WarnInvalidListName    = "LOAD_INVALID_LIST_NAME"
	WarnCompileCondition   = "LOAD_COMPILE_CONDITION"
)

func (d *diags) add(warn bool, code string, p Pos, it itemRef, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Pos: p, Warning: warn, Code: code, Kind: it.kind, Name: it.name, Msg: fmt.Sprintf(format, args...)})
}

// errorf reports a validation error (LOAD_ERR_VALIDATE); errorc names the code.
func (d *diags) errorf(p Pos, it itemRef, format string, args ...any) {
	d.add(false, ErrValidate, p, it, format, args...)
}

func (d *diags) errorc(code string, p Pos, it itemRef, format string, args ...any) {
	d.add(false, code, p, it, format, args...)
}

// warnf reports a warning about an item Harrier ignores (LOAD_UNKNOWN_ITEM);
// warnc names the code.
func (d *diags) warnf(p Pos, it itemRef, format string, args ...any) {
	d.add(true, WarnUnknownItem, p, it, format, args...)
}

func (d *diags) warnc(code string, p Pos, it itemRef, format string, args ...any) {
	d.add(true, code, p, it, format, args...)
}
