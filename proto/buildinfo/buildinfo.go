// Package buildinfo is the version of Harrier's binaries. It lives beside
// the alert contract because it is the one module every binary imports.
//
// make build stamps the version with
//
//	-ldflags "-X github.com/harrier-security/harrier/proto/buildinfo.version=$(VERSION)"
//
// (VERSION: git describe of the checkout). A plain go build falls back to
// what the Go toolchain records: the module version, else the VCS commit.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// version is set by the linker (-X); empty in a plain go build.
var version string

// Version is the binary's version: the stamped one, else the module
// version from the build information, else "devel+<commit>[-dirty]", else
// "devel".
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	v := "devel+" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	return v
}

// String is the line "--version" prints: "NAME VERSION (GO VERSION)".
func String(name string) string {
	gov := "unknown Go"
	if bi, ok := debug.ReadBuildInfo(); ok {
		gov = bi.GoVersion
	}
	return strings.Join([]string{name, Version(), "(" + gov + ")"}, " ")
}
