package filter

import (
	"fmt"
	"strings"
)

// MaxDepth caps the nesting of parentheses, not and transformers, so that a
// hostile condition cannot exhaust the stack.
const MaxDepth = 100

// Parse parses one condition. Syntax errors are *Error.
func Parse(cond string) (Expr, error) { return ParseWith(cond, ParseOptions{}) }

// ParseOptions adapt the grammar to a caller whose fields are not all
// dotted names.
type ParseOptions struct {
	// BareField reports whether a name without a dot is a field rather
	// than a macro (the router's alert fields: rule, priority, tags...).
	BareField func(name string) bool
}

// ParseWith is Parse with options.
func ParseWith(cond string, o ParseOptions) (Expr, error) {
	p := &parser{src: cond, bareField: o.BareField}
	p.blank()
	if p.pos == len(p.src) {
		return nil, p.errAt(0, "empty condition")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.blank()
	if p.pos != len(p.src) {
		return nil, p.errf("unexpected %s, expecting 'and', 'or' or the end of the condition", p.near())
	}
	return e, nil
}

type parser struct {
	src       string
	pos       int
	depth     int
	bareField func(string) bool
}

func (p *parser) errAt(off int, msg string) *Error { return newError(p.src, off, msg, nil) }

func (p *parser) errf(format string, args ...any) *Error {
	return newError(p.src, p.pos, fmt.Sprintf(format, args...), nil)
}

// near describes the text at the current position for error messages.
func (p *parser) near() string {
	if p.pos >= len(p.src) {
		return "end of condition"
	}
	rest := p.src[p.pos:]
	end := 0
	for end < len(rest) && end < 20 && !isBlank(rest[end]) {
		end++
	}
	if end == 0 {
		end = 1
	}
	return fmt.Sprintf("%q", rest[:end])
}

func (p *parser) push() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errf("condition nested deeper than %d levels", MaxDepth)
	}
	return nil
}

func (p *parser) pop() { p.depth-- }

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\b' || c == '\f' || c == '\v'
}

func (p *parser) blank() bool {
	start := p.pos
	for p.pos < len(p.src) && isBlank(p.src[p.pos]) {
		p.pos++
	}
	return p.pos > start
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) lit(s string) bool {
	if strings.HasPrefix(p.src[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

func isIdentChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }

// keyword consumes word when it stands alone (not followed by an identifier
// character or a dot).
func (p *parser) keyword(word string) bool {
	if !strings.HasPrefix(p.src[p.pos:], word) {
		return false
	}
	if n := p.pos + len(word); n < len(p.src) && (isIdentChar(p.src[n]) || p.src[n] == '.') {
		return false
	}
	p.pos += len(word)
	return true
}

func (p *parser) parseOr() (Expr, error) {
	if err := p.push(); err != nil {
		return nil, err
	}
	defer p.pop()
	start := p.pos
	terms, err := p.parseChain("or", p.parseAnd)
	if err != nil || len(terms) == 1 {
		return first(terms), err
	}
	return &Or{src: &p.src, Offset: start, Terms: terms}, nil
}

func (p *parser) parseAnd() (Expr, error) {
	p.blank()
	start := p.pos
	terms, err := p.parseChain("and", p.parseNot)
	if err != nil || len(terms) == 1 {
		return first(terms), err
	}
	return &And{src: &p.src, Offset: start, Terms: terms}, nil
}

// parseChain parses term (keyword term)*, the shape of both "or" and "and".
func (p *parser) parseChain(keyword string, term func() (Expr, error)) ([]Expr, error) {
	t, err := term()
	if err != nil {
		return nil, err
	}
	terms := []Expr{t}
	for {
		save := p.pos
		p.blank()
		if !p.keyword(keyword) {
			p.pos = save
			return terms, nil
		}
		if t, err = term(); err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
}

func first(terms []Expr) Expr {
	if len(terms) == 0 {
		return nil
	}
	return terms[0]
}

func (p *parser) parseNot() (Expr, error) {
	p.blank()
	start := p.pos
	if p.keyword("not") {
		if err := p.push(); err != nil {
			return nil, err
		}
		defer p.pop()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &Not{src: &p.src, Offset: start, X: x}, nil
	}
	return p.parseCheck()
}

func (p *parser) parseCheck() (Expr, error) {
	p.blank()
	start := p.pos
	if p.lit("(") {
		if err := p.push(); err != nil {
			return nil, err
		}
		defer p.pop()
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.blank()
		if !p.lit(")") {
			return nil, p.errf("expected ')' to close the '(' at offset %d, found %s", start, p.near())
		}
		return e, nil
	}
	if p.pos >= len(p.src) {
		return nil, p.errf("unexpected end of condition, expecting a field check, a macro or '('")
	}
	if name, ok := p.transformerAhead(); ok {
		f, err := p.parseTransformer(name)
		if err != nil {
			return nil, err
		}
		return p.parseCondition(start, f)
	}
	word := p.scanName()
	switch {
	case word == "":
		return nil, p.errf("unexpected %s, expecting a field check, a macro or '('", p.near())
	case word == "and" || word == "or" || word == "not":
		p.pos = start
		return nil, p.errf("unexpected '%s', expecting a field check, a macro or '('", word)
	case !p.isFieldName(word):
		if !isIdentifier(word) {
			return nil, p.errAt(start, fmt.Sprintf("invalid identifier %q", word))
		}
		return &Ident{src: &p.src, Offset: start, Name: word}, nil
	}
	f, err := p.finishField(start, word)
	if err != nil {
		return nil, err
	}
	return p.parseCondition(start, f)
}

// isFieldName tells a field from a macro name: fields are dotted, or bare
// names the caller declared.
func (p *parser) isFieldName(word string) bool {
	return strings.Contains(word, ".") || (p.bareField != nil && p.bareField(word))
}

// scanName consumes a field name or identifier: letters, digits, '_' and
// dots, starting with a letter.
func (p *parser) scanName() string {
	start := p.pos
	if p.pos >= len(p.src) || !isLetter(p.src[p.pos]) {
		return ""
	}
	for p.pos < len(p.src) && (isIdentChar(p.src[p.pos]) || p.src[p.pos] == '.') {
		p.pos++
	}
	return p.src[start:p.pos]
}

// finishField validates a scanned field name and parses its optional
// bracketed argument.
func (p *parser) finishField(start int, name string) (*FieldRef, error) {
	for _, part := range strings.Split(name, ".") {
		if part == "" || !isLetter(part[0]) {
			return nil, p.errAt(start, fmt.Sprintf("invalid field name %q", name))
		}
	}
	f := &FieldRef{src: &p.src, Offset: start, Name: name}
	if err := p.fieldArg(f); err != nil {
		return nil, err
	}
	return f, nil
}

func (p *parser) fieldArg(f *FieldRef) error {
	if !p.lit("[") {
		return nil
	}
	argStart := p.pos
	if c := p.peek(); c == '"' || c == '\'' {
		s, err := p.quoted()
		if err != nil {
			return err
		}
		f.Arg = s
	} else {
		for p.pos < len(p.src) && isBareArgChar(p.src[p.pos]) {
			p.pos++
		}
		if p.pos == argStart {
			return p.errf("expected a field argument after '['")
		}
		f.Arg = p.src[argStart:p.pos]
	}
	if !p.lit("]") {
		return p.errf("expected ']' after the field argument, found %s", p.near())
	}
	f.HasArg = true
	return nil
}

func isBareArgChar(c byte) bool {
	return !isBlank(c) && c != '[' && c != ']' && c != '"' && c != '\''
}

var transformers = []string{"tolower", "toupper", "b64", "basename", "len", "join", "concat", "getopt", "val"}

// transformerAhead reports whether a transformer call ("tolower(") starts
// at the current position.
func (p *parser) transformerAhead() (string, bool) {
	rest := p.src[p.pos:]
	for _, t := range transformers {
		if strings.HasPrefix(rest, t) && len(rest) > len(t) && rest[len(t)] == '(' {
			return t, true
		}
	}
	return "", false
}

// parseTransformer parses name(arg, ...)[selector].
func (p *parser) parseTransformer(name string) (*FieldRef, error) {
	if err := p.push(); err != nil {
		return nil, err
	}
	defer p.pop()
	f := &FieldRef{src: &p.src, Offset: p.pos, Func: name}
	p.pos += len(name) + 1
	for {
		p.blank()
		a, err := p.transformerArg()
		if err != nil {
			return nil, err
		}
		f.Args = append(f.Args, a)
		p.blank()
		if p.lit(",") {
			continue
		}
		if p.lit(")") {
			break
		}
		return nil, p.errf("expected ',' or ')' in the arguments of %s(), found %s", name, p.near())
	}
	if err := p.fieldArg(f); err != nil {
		return nil, err
	}
	return f, nil
}

func (p *parser) transformerArg() (*Operand, error) {
	start := p.pos
	if p.peek() == '(' {
		return p.tupleArg()
	}
	if name, ok := p.transformerAhead(); ok {
		f, err := p.parseTransformer(name)
		if err != nil {
			return nil, err
		}
		return &Operand{src: &p.src, Offset: start, Field: f}, nil
	}
	if c := p.peek(); c == '"' || c == '\'' {
		s, err := p.quoted()
		if err != nil {
			return nil, err
		}
		return &Operand{src: &p.src, Offset: start, Text: s, Quoted: true}, nil
	}
	if isLetter(p.peek()) {
		word := p.scanName()
		if p.isFieldName(word) {
			f, err := p.finishField(start, word)
			if err != nil {
				return nil, err
			}
			return &Operand{src: &p.src, Offset: start, Field: f}, nil
		}
		p.pos = start
	}
	s := p.bare()
	if s == "" {
		return nil, p.errf("expected a field or a value, found %s", p.near())
	}
	return &Operand{src: &p.src, Offset: start, Text: s}, nil
}

// tupleArg parses a parenthesised list of transformer arguments, as
// join's second argument may be: join(",", (proc.name, proc.pname)).
func (p *parser) tupleArg() (*Operand, error) {
	if err := p.push(); err != nil {
		return nil, err
	}
	defer p.pop()
	op := &Operand{src: &p.src, Offset: p.pos, Tuple: []*Operand{}}
	p.pos++
	for {
		p.blank()
		a, err := p.transformerArg()
		if err != nil {
			return nil, err
		}
		op.Tuple = append(op.Tuple, a)
		p.blank()
		if p.lit(",") {
			continue
		}
		if p.lit(")") {
			return op, nil
		}
		return nil, p.errf("expected ',' or ')' in a list of arguments, found %s", p.near())
	}
}

// Operators, longest first where one is a prefix of another.
var symbolOps = []string{"<=", "<", ">=", ">", "==", "=", "!="}

var wordOps = []string{"exists", "contains", "icontains", "bcontains", "startswith", "bstartswith",
	"endswith", "glob", "iglob", "regex", "intersects", "in", "pmatch"}

// Modifiers accepted after a string operator.
var modifiers = []string{"oneof", "anyof", "allof"}

func isListOp(op string) bool { return op == "in" || op == "intersects" || op == "pmatch" }

func (p *parser) parseCondition(start int, f *FieldRef) (Expr, error) {
	p.blank()
	c := &Check{src: &p.src, Offset: start, Field: f, OpOffset: p.pos}
	for _, op := range symbolOps {
		if p.lit(op) {
			c.Op = op
			if op == "==" {
				c.Op = "="
			}
			break
		}
	}
	if c.Op == "" {
		for _, op := range wordOps {
			if p.keyword(op) {
				c.Op = op
				break
			}
		}
	}
	if c.Op == "" {
		return nil, p.errf("expected an operator after %s, found %s", f.String(), p.near())
	}
	if c.Op == "exists" {
		return c, nil
	}
	p.blank()
	if !isListOp(c.Op) {
		for _, m := range modifiers {
			save := p.pos
			if p.keyword(m) {
				p.blank()
				if p.peek() == '(' || isLetter(p.peek()) {
					c.Modifier = m
					break
				}
			}
			p.pos = save
		}
	}
	vstart := p.pos
	if name, ok := p.transformerAhead(); ok {
		tf, err := p.parseTransformer(name)
		if err != nil {
			return nil, err
		}
		c.Values = []*Operand{{src: &p.src, Offset: vstart, Field: tf}}
		return c, nil
	}
	if isListOp(c.Op) || c.Modifier != "" {
		c.List = true
		if p.lit("(") {
			return c, p.listItems(c)
		}
		if name := p.scanName(); name != "" && isIdentifier(name) {
			c.Values = []*Operand{{src: &p.src, Offset: vstart, Text: name}}
			c.bareList = true
			return c, nil
		}
		p.pos = vstart
		return nil, p.errf("expected a list such as (a, b) or a list name after %q, found %s", c.Op, p.near())
	}
	if q := p.peek(); q == '"' || q == '\'' {
		s, err := p.quoted()
		if err != nil {
			return nil, err
		}
		c.Values = []*Operand{{src: &p.src, Offset: vstart, Text: s, Quoted: true}}
		return c, nil
	}
	s := p.bare()
	if s == "" {
		return nil, p.errf("expected a value after %q, found %s", c.Op, p.near())
	}
	c.Values = []*Operand{{src: &p.src, Offset: vstart, Text: s}}
	return c, nil
}

func (p *parser) listItems(c *Check) error {
	open := p.pos - 1
	p.blank()
	if p.lit(")") {
		return nil
	}
	for {
		p.blank()
		start := p.pos
		var op *Operand
		if q := p.peek(); q == '"' || q == '\'' {
			s, err := p.quoted()
			if err != nil {
				return err
			}
			op = &Operand{src: &p.src, Offset: start, Text: s, Quoted: true}
		} else {
			s := p.bare()
			if s == "" {
				if p.pos >= len(p.src) {
					return p.errAt(open, "unterminated list: missing ')'")
				}
				return p.errf("expected a list item, found %s", p.near())
			}
			op = &Operand{src: &p.src, Offset: start, Text: s}
		}
		c.Values = append(c.Values, op)
		p.blank()
		if p.lit(",") {
			continue
		}
		if p.lit(")") {
			return nil
		}
		if p.pos >= len(p.src) {
			return p.errAt(open, "unterminated list: missing ')'")
		}
		return p.errf("expected ',' or ')' in list, found %s", p.near())
	}
}

// bare consumes a bare (unquoted) value.
func (p *parser) bare() string {
	start := p.pos
	for p.pos < len(p.src) && isBareValueChar(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

func isBareValueChar(c byte) bool {
	switch c {
	case '(', ')', ',', '=', '"', '\'':
		return false
	}
	return !isBlank(c)
}

// quoted consumes a '...' or "..." string and returns its unescaped text.
func (p *parser) quoted() (string, error) {
	start := p.pos
	q := p.src[p.pos]
	p.pos++
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case '\\':
			p.pos += 2
			continue
		case q:
			p.pos++
			s, off, msg := unescape(p.src[start:p.pos])
			if msg != "" {
				return "", p.errAt(start+off, msg)
			}
			return s, nil
		}
		p.pos++
	}
	p.pos = start
	return "", p.errAt(start, "unterminated quoted string")
}

// unescape decodes a quoted string including its quotes, with libsinsp's
// escapes: \b \f \n \r \t \\ \/ and the quote character itself. On error it
// returns the offset of the bad escape within s and a message.
func unescape(s string) (string, int, string) {
	q := s[0]
	body := s[1 : len(s)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body, 0, ""
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(body) {
			return "", i, "backslash at the end of a quoted string"
		}
		switch e := body[i]; e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\', '/':
			b.WriteByte(e)
		case ' ':
			// libsinsp reads "\ " as a backslash (kept for old rules).
			b.WriteByte('\\')
		case '"', '\'':
			if e != q {
				return "", i, fmt.Sprintf("invalid \\%c escape in a %c-quoted string", e, q)
			}
			b.WriteByte(e)
		default:
			return "", i, fmt.Sprintf("unsupported escape sequence \\%c", e)
		}
	}
	return b.String(), 0, ""
}

// newError builds an *Error at byte offset off of src.
func newError(src string, off int, msg string, err error) *Error {
	if off < 0 {
		off = 0
	}
	if off > len(src) {
		off = len(src)
	}
	line, col := 1, 1
	for i := 0; i < off; i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &Error{Offset: off, Line: line, Col: col, Msg: msg, Err: err}
}
