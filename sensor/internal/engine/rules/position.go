package rules

// Positions in the source text: from YAML nodes and from offsets inside
// (possibly folded or quoted) scalars, for diagnostics at file:line:col.

import (
	"bytes"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

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
