// Package rulecheck validates a rules set with the sensor's own rules engine
// and the fields of every event source, for programs outside the sensor
// module (the router checks a fleet push with it). It is the sensor
// module's only exported API: the engine stays internal and can change
// freely behind it.
package rulecheck

import (
	"errors"
	"fmt"
	"strings"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
)

// File is one rules file; files load in the order given.
type File struct {
	Name string
	Data []byte
}

// Result describes a set that compiled.
type Result struct {
	// Digest is the engine's version of the set: what a sensor running
	// it reports and stamps on its alerts.
	Digest string
	// Rules counts the compiled rules (enabled or not).
	Rules int
	// Warnings are FILE:LINE:COL diagnostics that do not stop a load.
	Warnings []string
}

// Error is a set that did not compile: every error diagnostic, each
// "FILE:LINE:COL: kind "name": message".
type Error struct {
	Diagnostics []string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d rules errors:\n%s", len(e.Diagnostics), strings.Join(e.Diagnostics, "\n"))
}

// Validate compiles files exactly as a sensor does (every source's fields
// known, rule_matching first) and reports the outcome.
func Validate(files []File) (Result, error) {
	if len(files) == 0 {
		return Result{}, errors.New("no rules files")
	}
	in := make([]rules.File, len(files))
	for i, f := range files {
		in[i] = rules.File{Name: f.Name, Data: f.Data}
	}
	rs, diags, err := rules.Load(in, rules.Options{Registries: sources.Registries()})
	var res Result
	for _, w := range diags.Warnings() {
		res.Warnings = append(res.Warnings, w.String())
	}
	if err != nil {
		var le *rules.LoadError
		if !errors.As(err, &le) {
			return res, err
		}
		e := &Error{}
		for _, d := range diags.Errors() {
			e.Diagnostics = append(e.Diagnostics, d.String())
		}
		return res, e
	}
	res.Digest, res.Rules = rs.Version(), len(rs.Rules())
	return res, nil
}
