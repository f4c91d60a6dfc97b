package filter

import "strings"

func (e *And) String() string {
	return joinTerms(e.Terms, " and ", func(t Expr) bool { _, or := t.(*Or); return or })
}
func (e *Or) String() string { return joinTerms(e.Terms, " or ", func(Expr) bool { return false }) }

func (e *Not) String() string {
	switch e.X.(type) {
	case *And, *Or:
		return "not (" + e.X.String() + ")"
	}
	return "not " + e.X.String()
}

func (e *Ident) String() string { return e.Name }

func (e *Check) String() string {
	var b strings.Builder
	b.WriteString(e.Field.String())
	b.WriteByte(' ')
	if e.Op == "==" {
		b.WriteByte('=')
	} else {
		b.WriteString(e.Op)
	}
	if e.Op == "exists" {
		return b.String()
	}
	b.WriteByte(' ')
	if e.Modifier != "" {
		b.WriteString(e.Modifier)
		b.WriteByte(' ')
	}
	if len(e.Values) == 1 && e.Values[0].Field != nil {
		b.WriteString(e.Values[0].String())
		return b.String()
	}
	if e.List {
		if len(e.Values) == 1 && e.Values[0].Field == nil && !e.Values[0].Quoted && isIdentifier(e.Values[0].Text) && !e.listParen() {
			b.WriteString(e.Values[0].Text)
			return b.String()
		}
		b.WriteByte('(')
		for i, v := range e.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.String())
		}
		b.WriteByte(')')
		return b.String()
	}
	for _, v := range e.Values {
		b.WriteString(v.String())
	}
	return b.String()
}

// listParen reports whether the list was written in parentheses; a bare
// list name is stored as a single unquoted identifier with parens false.
func (e *Check) listParen() bool { return !e.bareList }

func (f *FieldRef) String() string {
	if f == nil {
		return "<nil>"
	}
	var b strings.Builder
	if f.Func != "" {
		b.WriteString(f.Func)
		b.WriteByte('(')
		for i, a := range f.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.String())
		}
		b.WriteByte(')')
	} else {
		b.WriteString(f.Name)
	}
	if f.HasArg {
		b.WriteByte('[')
		if isBareArg(f.Arg) {
			b.WriteString(f.Arg)
		} else {
			b.WriteString(quote(f.Arg))
		}
		b.WriteByte(']')
	}
	return b.String()
}

func (o *Operand) String() string {
	if o == nil {
		return "<nil>"
	}
	if o.Field != nil {
		return o.Field.String()
	}
	if o.Tuple != nil {
		var b strings.Builder
		b.WriteByte('(')
		for i, t := range o.Tuple {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(t.String())
		}
		b.WriteByte(')')
		return b.String()
	}
	if !o.Quoted && isBareValue(o.Text) {
		return o.Text
	}
	return quote(o.Text)
}

func joinTerms(terms []Expr, sep string, paren func(Expr) bool) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		if paren(t) {
			b.WriteByte('(')
			b.WriteString(t.String())
			b.WriteByte(')')
		} else {
			b.WriteString(t.String())
		}
	}
	return b.String()
}

// quote renders s as a double-quoted string that the lexer reads back as s.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLetter(c) || (i > 0 && (isDigit(c) || c == '_'))) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// isBareValue reports whether s can be written without quotes as a value.
func isBareValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareChar(s[i]) {
			return false
		}
	}
	return true
}

func isBareChar(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\b', '\f', '\v', '(', ')', ',', '=', '"', '\'', '<', '>', '!':
		return false
	}
	return true
}

func isBareArg(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\b', '[', ']', '"', '\'':
			return false
		}
	}
	return true
}
