package rules

// Engine version and plugin requirements of a rules file.

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EngineVersion is the Falco rules engine version Harrier implements: the
// newest rules format it reads.
const EngineVersion = "0.57.0"

type semver [3]int

func parseSemver(s string) (semver, error) {
	var v semver
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) == 1 {
		// Legacy integer engine versions count minor versions: 15 is 0.15.0.
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 0 {
			return v, fmt.Errorf("%q is not a version", s)
		}
		return semver{0, n, 0}, nil
	}
	if len(parts) != 3 {
		return v, fmt.Errorf("%q is not a version (want MAJOR.MINOR.PATCH)", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("%q is not a version (want MAJOR.MINOR.PATCH)", s)
		}
		v[i] = n
	}
	return v, nil
}

func (v semver) less(o semver) bool {
	for i := range v {
		if v[i] != o[i] {
			return v[i] < o[i]
		}
	}
	return false
}

func (v semver) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

func checkEngineVersion(it *item, d *diags) {
	kv := it.keys[keyEngine]
	if kv.val.Kind != yaml.ScalarNode {
		d.errorf(it.file.pos(kv.val), itemRef{}, "required_engine_version must be a version string or integer")
		return
	}
	want, err := parseSemver(kv.val.Value)
	if err != nil {
		d.errorf(it.file.pos(kv.val), itemRef{}, "required_engine_version: %v", err)
		return
	}
	have, _ := parseSemver(EngineVersion)
	if have.less(want) {
		d.errorf(it.file.pos(kv.val), itemRef{}, "rules require engine version %s, but Harrier's engine version is %s", want, have)
	}
}

// builtinPlugin reports whether Harrier provides the fields of a Falco
// plugin natively.
func builtinPlugin(name string) bool {
	return name == "container" || name == "json" || name == "k8saudit" || strings.HasPrefix(name, "k8saudit-")
}

func checkPlugins(it *item, d *diags) {
	kv := it.keys[keyPlugins]
	n := kv.val
	if n.Kind != yaml.SequenceNode {
		d.errorf(it.file.pos(n), itemRef{}, "required_plugin_versions must be a list of {name, version}")
		return
	}
	for _, e := range n.Content {
		e = resolve(e)
		names, ok := pluginNames(e)
		if !ok {
			d.errorf(it.file.pos(e), itemRef{}, "required_plugin_versions entry must be a mapping with name and version")
			continue
		}
		satisfied := false
		for _, nm := range names {
			satisfied = satisfied || builtinPlugin(nm)
		}
		if !satisfied {
			d.errorf(it.file.pos(e), itemRef{}, "rules require plugin %q, which Harrier does not provide (built in: container, json, k8saudit*)", strings.Join(names, `" or "`))
		}
	}
}

// pluginNames returns an entry's name and its alternatives' names.
func pluginNames(n *yaml.Node) ([]string, bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	var names []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		switch k.Value {
		case "name":
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				return nil, false
			}
			names = append([]string{v.Value}, names...)
		case "alternatives":
			if v.Kind != yaml.SequenceNode {
				return nil, false
			}
			for _, a := range v.Content {
				alt, ok := pluginNames(resolve(a))
				if !ok || len(alt) == 0 {
					return nil, false
				}
				names = append(names, alt[0])
			}
		}
	}
	return names, len(names) > 0
}
