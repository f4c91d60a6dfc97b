package rules

// Stage 1 of loading: read each file's YAML into items that keep their
// positions. Nothing here knows about other files or about fields.

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is one rules file: its name (for messages) and content.
type File struct {
	Name string
	Data []byte
}

// Item kinds.
const (
	kindRule    = "rule"
	kindMacro   = "macro"
	kindList    = "list"
	keyEngine   = "required_engine_version"
	keyPlugins  = "required_plugin_versions"
	maxYAMLSize = 64 << 20
)

type keyVal struct{ key, val *yaml.Node }

// item is one top-level element of a rules file.
type item struct {
	kind string
	name string
	file *srcFile
	node *yaml.Node
	pos  Pos // of the item's kind key ("- rule: ...")
	keys map[string]keyVal
}

func (it *item) ref() itemRef { return itemRef{it.kind, it.name} }

func (it *item) has(k string) bool { _, ok := it.keys[k]; return ok }

// keyPos is the position of key k in the item (the item's position when
// absent).
func (it *item) keyPos(k string) Pos {
	if kv, ok := it.keys[k]; ok {
		return it.file.pos(kv.key)
	}
	return it.pos
}

func (it *item) valPos(k string) Pos {
	if kv, ok := it.keys[k]; ok {
		return it.file.pos(kv.val)
	}
	return it.pos
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readFile parses one file into items. YAML syntax errors stop the file.
func readFile(f *srcFile, d *diags) (items []*item) {
	defer func() {
		// yaml.v3 has panicked on hostile input in the past; a bad rules
		// file must never take the sensor down.
		if r := recover(); r != nil {
			d.errorc(ErrYAMLParse, Pos{File: f.name, Line: 1, Col: 1}, itemRef{}, "cannot parse YAML: %v", r)
			items = nil
		}
	}()
	if len(f.data) > maxYAMLSize {
		d.errorf(Pos{File: f.name, Line: 1, Col: 1}, itemRef{}, "file larger than %d bytes", maxYAMLSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(f.data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return items
		}
		if err != nil {
			p := Pos{File: f.name, Line: 1, Col: 1}
			msg := err.Error()
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				if m := yamlLine.FindStringSubmatch(msg); m != nil {
					p.Line, _ = strconv.Atoi(m[1])
					msg = m[2]
				}
			}
			d.errorc(ErrYAMLParse, p, itemRef{}, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
			return items
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := resolve(doc.Content[0])
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if root.Kind != yaml.SequenceNode {
			d.errorf(f.pos(root), itemRef{}, "rules content is not a YAML sequence of items (lists, macros, rules)")
			continue
		}
		for _, n := range root.Content {
			n = resolve(n)
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				continue // an empty item, skipped as Falco does
			}
			if it := readItem(f, n, d); it != nil {
				items = append(items, it)
			}
		}
	}
}

// resolve follows aliases (bounded: yaml.v3 rejects cycles, but be safe).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

var topKinds = []string{kindRule, kindMacro, kindList, keyEngine, keyPlugins}

func readItem(f *srcFile, n *yaml.Node, d *diags) *item {
	if n.Kind != yaml.MappingNode {
		d.errorf(f.pos(n), itemRef{}, "item is not a YAML mapping (expected rule, macro, list, required_engine_version or required_plugin_versions)")
		return nil
	}
	it := &item{file: f, node: n, keys: map[string]keyVal{}, pos: f.pos(n)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.errorf(f.pos(k), itemRef{}, "item key is not a string")
			continue
		}
		if _, dup := it.keys[k.Value]; dup {
			d.errorf(f.pos(k), itemRef{}, "key %q appears twice in the same item", k.Value)
			continue
		}
		it.keys[k.Value] = keyVal{k, v}
	}
	for _, k := range topKinds {
		if kv, ok := it.keys[k]; ok {
			it.kind = k
			it.pos = f.pos(kv.key)
			break
		}
	}
	if it.kind == "" {
		keys := make([]string, 0, len(it.keys))
		for k := range it.keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d.warnf(it.pos, itemRef{}, "unknown top-level item with keys %s, ignored", strings.Join(keys, ", "))
		return nil
	}
	if it.kind == kindRule || it.kind == kindMacro || it.kind == kindList {
		v := it.keys[it.kind].val
		if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" || v.Tag == "!!null" {
			d.errorf(it.pos, itemRef{}, "%s name must be a non-empty string", it.kind)
			return nil
		}
		it.name = v.Value
		// Falco's reader only warns about names a condition cannot spell
		// (a macro must be an identifier, a list a bare word) and defines
		// the item anyway: it can still be overridden, and is reported as
		// unused if nothing refers to it.
		if it.kind == kindMacro && !macroName.MatchString(it.name) {
			d.warnc(WarnInvalidMacroName, it.pos, it.ref(), "macro has an invalid name: macro names should match %s", macroName)
		}
		if it.kind == kindList && !listName.MatchString(it.name) {
			d.warnc(WarnInvalidListName, it.pos, it.ref(), "list has an invalid name: list names should match %s (no spaces, quotes, parentheses, '=' or ',')", listName)
		}
	}
	return it
}

var (
	macroName = regexp.MustCompile(`^[a-zA-Z]+[a-zA-Z0-9_]*$`)
	listName  = regexp.MustCompile(`^[^()"'\s=,]+$`)
)

// Typed accessors. Each reports a problem as an error diagnostic on the
// item and returns ok=false.

func (it *item) str(k string, d *diags) (*text, bool) {
	kv, ok := it.keys[k]
	if !ok {
		return nil, false
	}
	if kv.val.Kind != yaml.ScalarNode {
		d.errorf(it.file.pos(kv.val), it.ref(), "%s must be a string", k)
		return nil, false
	}
	if kv.val.Tag == "!!null" {
		return &text{s: "", file: it.file, node: kv.val}, true
	}
	return &text{s: kv.val.Value, file: it.file, node: kv.val}, true
}

func (it *item) boolean(k string, d *diags) (bool, bool) {
	kv, ok := it.keys[k]
	if !ok {
		return false, false
	}
	if kv.val.Kind == yaml.ScalarNode {
		switch strings.ToLower(kv.val.Value) {
		case "true", "yes", "on":
			return true, true
		case "false", "no", "off":
			return false, true
		}
	}
	d.errorf(it.file.pos(kv.val), it.ref(), "%s must be true or false", k)
	return false, false
}

// strList reads a sequence of scalars.
func (it *item) strList(k string, d *diags) ([]string, bool) {
	kv, ok := it.keys[k]
	if !ok {
		return nil, false
	}
	return seqOfStrings(it, kv.val, k, d)
}

func seqOfStrings(it *item, n *yaml.Node, what string, d *diags) ([]string, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return []string{}, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(it.file.pos(n), it.ref(), "%s must be a list of strings", what)
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		e = resolve(e)
		if e.Kind != yaml.ScalarNode {
			d.errorf(it.file.pos(e), it.ref(), "%s must be a list of strings", what)
			return nil, false
		}
		out = append(out, e.Value)
	}
	return out, true
}

var knownKeys = map[string]map[string]bool{
	kindList:  {"list": true, "items": true, "append": true, "override": true},
	kindMacro: {"macro": true, "condition": true, "append": true, "override": true},
	kindRule: {"rule": true, "condition": true, "output": true, "desc": true, "priority": true, "source": true,
		"enabled": true, "tags": true, "exceptions": true, "warn_evttypes": true, "skip-if-unknown-filter": true,
		"append": true, "override": true, "capture": true, "capture_duration": true},
}

func (it *item) warnUnknownKeys(d *diags) {
	known := knownKeys[it.kind]
	for k, kv := range it.keys {
		if !known[k] {
			d.warnf(it.file.pos(kv.key), it.ref(), "unknown key %q, ignored", k)
		}
	}
}
