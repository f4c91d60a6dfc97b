// Package rules holds Harrier's default rules files (*.yaml in this
// directory), embedded so that harrier-sensor runs with them when no rules
// are configured. The files here are the one source: the Helm chart's copy
// (make chart-rules) and the sensor image's /etc/harrier/rules.d come from
// them too.
package rules

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed *.yaml
var files embed.FS

// File is one default rules file.
type File struct {
	Name string // base name, e.g. "syscall.yaml"
	Data []byte
}

// Files returns the default rules files in load order (by name).
func Files() []File {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		panic(err) // the pattern is constant and valid
	}
	sort.Strings(names)
	out := make([]File, 0, len(names))
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			panic(err) // embedded files are always readable
		}
		out = append(out, File{Name: n, Data: data})
	}
	return out
}
