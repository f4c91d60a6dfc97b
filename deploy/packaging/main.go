// Command packaging builds Harrier's .deb and .rpm packages with nfpm used as
// a library (no external tool): harrier-sensor, harrier-router and
// harrierctl, from binaries already built (make packages builds them).
//
//	go run . -version 1.2.3 -bin ../../dist/bin -out ../../dist
//
// Package contents are declared in nfpm/*.yaml; the systemd units and
// maintainer scripts sit beside them. The default configurations are the
// commented example files with the packaged paths filled in.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "packaging:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("packaging", flag.ContinueOnError)
	version := fs.String("version", "0.1.0", "package version (Debian/RPM version syntax)")
	bin := fs.String("bin", "", "directory holding harrier-sensor, harrier-router and harrierctl")
	out := fs.String("out", "", "directory the packages are written to")
	root := fs.String("root", "../..", "the repository's root")
	arch := fs.String("arch", runtime.GOARCH, "GOARCH of the binaries")
	formats := fs.String("formats", "deb,rpm", "package formats")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" || *out == "" {
		return errors.New("give -bin and -out")
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	absBin, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	stage, err := os.MkdirTemp("", "harrier-packaging")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := stageConfigs(absRoot, stage); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	vars := map[string]string{"VERSION": *version, "ARCH": *arch, "BIN": absBin, "ROOT": absRoot, "STAGE": stage}
	mapping := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return "${" + k + "}" // left visible so Validate-time errors show it
	}
	specs, err := filepath.Glob(filepath.Join(absRoot, "deploy/packaging/nfpm/*.yaml"))
	if err != nil || len(specs) == 0 {
		return fmt.Errorf("no nfpm/*.yaml under %s", absRoot)
	}
	for _, spec := range specs {
		// Expanded here as a whole (nfpm expands only some fields).
		raw, err := os.ReadFile(spec)
		if err != nil {
			return err
		}
		cfg, err := nfpm.ParseWithEnvMapping(strings.NewReader(os.Expand(string(raw), mapping)), mapping)
		if err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		for _, format := range strings.Split(*formats, ",") {
			path, err := build(cfg, format, *out)
			if err != nil {
				return fmt.Errorf("%s (%s): %w", filepath.Base(spec), format, err)
			}
			fmt.Println(path)
		}
	}
	return nil
}

func build(cfg nfpm.Config, format, outDir string) (string, error) {
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(outDir, pkg.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

// stageConfigs writes the packaged configurations: the example files with
// the host-install paths (state under /var/lib/harrier/<component>).
func stageConfigs(root, stage string) error {
	for _, c := range []struct {
		src, dst string
		edits    [][2]string
	}{
		{"sensor/harrier-sensor.example.yaml", "sensor.yaml", [][2]string{
			{"central_cache: /var/lib/harrier/central-rules.pb", "central_cache: /var/lib/harrier/sensor/central-rules.pb"},
			{"dir: /var/lib/harrier/spool", "dir: /var/lib/harrier/sensor/spool"},
		}},
		{"router/harrier-router.example.yaml", "router.yaml", [][2]string{
			{"data_dir: /var/lib/harrier-router", "data_dir: /var/lib/harrier/router"},
		}},
	} {
		data, err := os.ReadFile(filepath.Join(root, c.src))
		if err != nil {
			return err
		}
		s := string(data)
		for _, e := range c.edits {
			if strings.Count(s, e[0]) != 1 {
				return fmt.Errorf("%s: expected %q exactly once (example changed?)", c.src, e[0])
			}
			s = strings.Replace(s, e[0], e[1], 1)
		}
		header := "# Packaged default configuration; edits survive package upgrades.\n"
		if err := os.WriteFile(filepath.Join(stage, c.dst), []byte(header+s), 0o644); err != nil {
			return err
		}
	}
	return nil
}
