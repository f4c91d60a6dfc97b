package rules

// Stage 1 of loading: read each file's YAML into items that keep their
// positions. Nothing here knows about other files or about fields.

import (
	"bytes"
	"errors"
	"fmt"
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

type srcFile struct {
	name  string
	data  []byte
	lines []int // byte offset of each line start
}

func newSrcFile(f File) *srcFile {
	s := &srcFile{name: f.Name, data: f.Data, lines: []int{0}}
	for i, c := range f.Data {
		if c == '\n' {
			s.lines = append(s.lines, i+1)
		}
	}
	return s
}

func (f *srcFile) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: f.name, Line: 1, Col: 1}
	}
	return Pos{File: f.name, Line: n.Line, Col: n.Column}
}

// offset converts a 1-based line and column to a byte offset.
func (f *srcFile) offset(line, col int) int {
	if line < 1 || line > len(f.lines) {
		return -1
	}
	return f.lines[line-1] + col - 1
}

func (f *srcFile) posOf(off int) Pos {
	i := sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return Pos{File: f.name, Line: i + 1, Col: off - f.lines[i] + 1}
}

// text is a scalar value read from a file, able to map a byte offset in
// its value back to the file, so that errors inside a condition point at
// the exact line and column of the YAML.
type text struct {
	s    string
	file *srcFile
	node *yaml.Node
	offs []int // file offset of each byte of s, -1 where unknown; built lazily
}

func (t *text) posAt(off int) Pos {
	if t.file == nil || t.node == nil {
		return Pos{}
	}
	if t.offs == nil {
		t.offs = alignScalar(t.file, t.node, t.s)
	}
	if off >= len(t.offs) {
		off = len(t.offs) - 1
	}
	for ; off >= 0; off-- {
		if t.offs[off] >= 0 {
			return t.file.posOf(t.offs[off])
		}
	}
	return t.file.pos(t.node)
}

// alignScalar maps each byte of a scalar's value to its offset in the file
// by walking the source text beside the value: folded line breaks and
// indentation are skipped, every other byte matches one to one. Where the
// two disagree (escape sequences in quoted scalars) the rest maps to -1
// and callers fall back to the nearest known position.
func alignScalar(f *srcFile, n *yaml.Node, val string) []int {
	offs := make([]int, len(val))
	for i := range offs {
		offs[i] = -1
	}
	j := f.offset(n.Line, n.Column)
	if j < 0 || j > len(f.data) {
		return offs
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		nl := bytes.IndexByte(f.data[j:], '\n')
		if nl < 0 {
			return offs
		}
		j += nl + 1
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		j++
	}
	src := f.data
	for k := 0; k < len(val); k++ {
		c := val[k]
		for j < len(src) && src[j] != c && (src[j] == ' ' || src[j] == '\t' || src[j] == '\n' || src[j] == '\r') {
			j++
		}
		if j < len(src) && src[j] == c {
			offs[k] = j
			j++
			continue
		}
		if c == ' ' || c == '\n' { // a folded line break
			continue
		}
		break
	}
	return offs
}

// segment is a piece of a condition assembled from several places: a
// scalar from a file, or text the loader wrote (parentheses, exception
// clauses) attributed to a position.
type segment struct {
	s   string
	src *text
	at  Pos
}

// condText is a condition assembled from segments (a rule's condition,
// the conditions appended to it, its exceptions).
type condText []segment

func (c condText) String() string {
	var b strings.Builder
	for _, s := range c {
		b.WriteString(s.s)
	}
	return b.String()
}

func (c condText) posAt(off int) Pos {
	for _, s := range c {
		if off < len(s.s) {
			if s.src != nil {
				return s.src.posAt(off)
			}
			return s.at
		}
		off -= len(s.s)
	}
	if len(c) > 0 {
		last := c[len(c)-1]
		if last.src != nil {
			return last.src.posAt(len(last.s) - 1)
		}
		return last.at
	}
	return Pos{}
}

func (c condText) empty() bool { return strings.TrimSpace(c.String()) == "" }

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

// Decoded items.

type listItem struct {
	*item
	items      []string
	appendFlag bool
	override   map[string]string
}

type macroItem struct {
	*item
	cond       *text
	appendFlag bool
	override   map[string]string
}

type ruleItem struct {
	*item
	cond, output, desc *text
	priority, source   *text
	enabled            *bool
	warnEvttypes       *bool
	skipUnknown        *bool
	tags               []string
	hasTags            bool
	exceptions         []*exceptionItem
	hasExceptions      bool
	appendFlag         bool
	override           map[string]string
}

// strOrList is an exception's fields or comps: one string or a list.
type strOrList struct {
	set    bool
	isList bool
	item   string
	items  []string
}

// exValue is one exception value: a string, or a list of values.
type exValue struct {
	isList bool
	item   string
	items  []exValue
}

type exceptionItem struct {
	name   string
	pos    Pos
	fields strOrList
	comps  strOrList
	values []exValue
	hasVal bool
	dup    bool // a second exception of this name in the same item
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

func (it *item) appendAndOverride(d *diags, allowed map[string]string) (appendFlag bool, override map[string]string, ok bool) {
	ok = true
	if it.has("append") {
		appendFlag, ok = it.boolean("append", d)
		if !ok {
			return false, nil, false
		}
		if appendFlag {
			d.warnc(WarnDeprecatedItem, it.keyPos("append"), it.ref(), "append: true is deprecated; use override with append for the keys to extend")
		}
	}
	kv, has := it.keys["override"]
	if !has {
		return appendFlag, nil, true
	}
	if appendFlag {
		d.errorf(it.keyPos("override"), it.ref(), "append and override cannot be used together; use override alone")
		return false, nil, false
	}
	if kv.val.Kind != yaml.MappingNode {
		d.errorf(it.file.pos(kv.val), it.ref(), "override must be a mapping of keys to append or replace")
		return false, nil, false
	}
	override = map[string]string{}
	mentioned := map[string]bool{}
	for i := 0; i+1 < len(kv.val.Content); i += 2 {
		k, v := resolve(kv.val.Content[i]), resolve(kv.val.Content[i+1])
		mentioned[k.Value] = true
		mode := v.Value
		if v.Kind != yaml.ScalarNode || (mode != "append" && mode != "replace") {
			d.errorf(it.file.pos(v), it.ref(), "override for %q must be append or replace", k.Value)
			ok = false
			continue
		}
		modes, known := allowed[k.Value]
		if !known {
			d.errorf(it.file.pos(k), it.ref(), "key %q cannot be overridden (only %s)", k.Value, strings.Join(sortedKeys(allowed), ", "))
			ok = false
			continue
		}
		if !strings.Contains(modes, mode) {
			if mode == "append" {
				d.errorf(it.file.pos(v), it.ref(), "key %q cannot be appended to, use replace instead", k.Value)
			} else {
				d.errorf(it.file.pos(v), it.ref(), "key %q cannot be replaced", k.Value)
			}
			ok = false
			continue
		}
		if !it.has(k.Value) {
			d.errorf(it.file.pos(k), it.ref(), "an %s override for %q was specified but %q is not defined", mode, k.Value, k.Value)
			ok = false
			continue
		}
		override[k.Value] = mode
	}
	// Every overridable value the item carries must say how it combines.
	for k, kv := range it.keys {
		if _, overridable := allowed[k]; !overridable {
			continue
		}
		if !mentioned[k] {
			d.errorf(it.file.pos(kv.key), it.ref(), "unexpected key %q: no corresponding entry under override is defined (say append or replace)", k)
			ok = false
		}
	}
	return false, override, ok
}

func decodeList(it *item, d *diags) (*listItem, bool) {
	it.warnUnknownKeys(d)
	li := &listItem{item: it}
	ok := true
	li.appendFlag, li.override, ok = it.appendAndOverride(d, map[string]string{"items": "append replace"})
	if !it.has("items") {
		d.errorf(it.pos, it.ref(), "list has no items key")
		return nil, false
	}
	items, iok := it.strList("items", d)
	if !iok {
		return nil, false
	}
	li.items = items
	return li, ok
}

func decodeMacro(it *item, d *diags) (*macroItem, bool) {
	it.warnUnknownKeys(d)
	mi := &macroItem{item: it}
	ok := true
	mi.appendFlag, mi.override, ok = it.appendAndOverride(d, map[string]string{"condition": "append replace"})
	if !it.has("condition") {
		d.errorf(it.pos, it.ref(), "macro has no condition")
		return nil, false
	}
	c, cok := it.str("condition", d)
	if !cok {
		return nil, false
	}
	mi.cond = c
	return mi, ok
}

var ruleOverrides = map[string]string{
	"condition": "append replace", "output": "append replace", "desc": "append replace",
	"tags": "append replace", "exceptions": "append replace", "priority": "replace",
	"enabled": "replace", "warn_evttypes": "replace", "skip-if-unknown-filter": "replace",
	"capture": "replace", "capture_duration": "replace",
}

func decodeRule(it *item, d *diags) (*ruleItem, bool) {
	it.warnUnknownKeys(d)
	ri := &ruleItem{item: it}
	ok := true
	ri.appendFlag, ri.override, ok = it.appendAndOverride(d, ruleOverrides)
	for _, k := range []struct {
		key string
		dst **text
	}{{"condition", &ri.cond}, {"output", &ri.output}, {"desc", &ri.desc}, {"priority", &ri.priority}, {"source", &ri.source}} {
		if it.has(k.key) {
			t, tok := it.str(k.key, d)
			if !tok {
				ok = false
			}
			*k.dst = t
		}
	}
	for _, k := range []struct {
		key string
		dst **bool
	}{{"enabled", &ri.enabled}, {"warn_evttypes", &ri.warnEvttypes}, {"skip-if-unknown-filter", &ri.skipUnknown}} {
		if it.has(k.key) {
			b, bok := it.boolean(k.key, d)
			if !bok {
				ok = false
				continue
			}
			*k.dst = &b
		}
	}
	if it.has("tags") {
		ri.tags, ri.hasTags = it.strList("tags", d)
		if !ri.hasTags {
			ok = false
		}
	}
	if kv, has := it.keys["exceptions"]; has {
		ri.hasExceptions = true
		exs, eok := decodeExceptions(it, kv.val, d)
		if !eok {
			ok = false
		}
		ri.exceptions = exs
	}
	return ri, ok
}

func decodeExceptions(it *item, n *yaml.Node, d *diags) ([]*exceptionItem, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(it.file.pos(n), it.ref(), "exceptions must be a list")
		return nil, false
	}
	ok := true
	var out []*exceptionItem
	seen := map[string]bool{}
	for _, en := range n.Content {
		en = resolve(en)
		if en.Kind != yaml.MappingNode {
			d.errorf(it.file.pos(en), it.ref(), "exception must be a mapping with name, fields, comps and values")
			ok = false
			continue
		}
		ex := &exceptionItem{pos: it.file.pos(en)}
		eok := true
		for i := 0; i+1 < len(en.Content); i += 2 {
			k, v := resolve(en.Content[i]), resolve(en.Content[i+1])
			switch k.Value {
			case "name":
				if v.Kind != yaml.ScalarNode || v.Value == "" {
					d.errorf(it.file.pos(v), it.ref(), "exception name must be a non-empty string")
					eok = false
				}
				ex.name = v.Value
			case "fields", "comps":
				sl := strOrList{set: true}
				switch v.Kind {
				case yaml.ScalarNode:
					sl.item = v.Value
				case yaml.SequenceNode:
					sl.isList = true
					var sok bool
					sl.items, sok = seqOfStrings(it, v, "exception "+k.Value, d)
					eok = eok && sok
				default:
					d.errorf(it.file.pos(v), it.ref(), "exception %s must be a string or a list of strings", k.Value)
					eok = false
				}
				if k.Value == "fields" {
					ex.fields = sl
				} else {
					ex.comps = sl
				}
			case "values":
				ex.hasVal = true
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					continue
				}
				if v.Kind != yaml.SequenceNode {
					d.errorf(it.file.pos(v), it.ref(), "exception values must be a list")
					eok = false
					continue
				}
				for _, vn := range v.Content {
					val, vok := decodeExValue(it, resolve(vn), 0, d)
					if !vok {
						eok = false
						continue
					}
					ex.values = append(ex.values, val)
				}
			default:
				d.warnf(it.file.pos(k), it.ref(), "unknown exception key %q, ignored", k.Value)
			}
		}
		if ex.name == "" && eok {
			d.errorf(ex.pos, it.ref(), "exception has no name")
			eok = false
		}
		if eok && seen[ex.name] {
			// Falco warns and keeps both: each adds its own clause.
			d.warnc(WarnExceptionNotUnique, ex.pos, it.ref(), "multiple definitions of exception %q in the same rule", ex.name)
			ex.dup = true
		}
		seen[ex.name] = true
		if !eok {
			ok = false
			continue
		}
		out = append(out, ex)
	}
	return out, ok
}

func decodeExValue(it *item, n *yaml.Node, depth int, d *diags) (exValue, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		return exValue{item: n.Value}, true
	case yaml.SequenceNode:
		if depth >= 2 {
			d.errorf(it.file.pos(n), it.ref(), "exception values nest too deep")
			return exValue{}, false
		}
		v := exValue{isList: true}
		for _, e := range n.Content {
			sub, ok := decodeExValue(it, resolve(e), depth+1, d)
			if !ok {
				return exValue{}, false
			}
			v.items = append(v.items, sub)
		}
		return v, true
	}
	d.errorf(it.file.pos(n), it.ref(), "exception value must be a string or a list")
	return exValue{}, false
}

// Engine version and plugin requirements.

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

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
