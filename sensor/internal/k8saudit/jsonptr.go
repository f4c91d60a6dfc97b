package k8saudit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// parsePointer splits a JSON pointer (RFC 6901) into its unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q must start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if strings.Contains(t, "~") {
			for j := 0; j < len(t); j++ {
				if t[j] == '~' && (j+1 >= len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
					return nil, fmt.Errorf("JSON pointer %q: bad escape in %q", p, t)
				}
			}
			t = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		}
		toks[i] = t
	}
	return toks, nil
}

// lookupPointer returns the raw JSON value at the pointer tokens in doc, a
// valid JSON text. It scans the bytes without building a tree, so a lookup
// costs one pass over the part of the document before the value.
func lookupPointer(doc []byte, toks []string) ([]byte, bool) {
	i := skipSpace(doc, 0)
	for _, tok := range toks {
		if i >= len(doc) {
			return nil, false
		}
		switch doc[i] {
		case '{':
			j, ok := findMember(doc, i, tok)
			if !ok {
				return nil, false
			}
			i = j
		case '[':
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			j, ok := findElement(doc, i, n)
			if !ok {
				return nil, false
			}
			i = j
		default:
			return nil, false
		}
	}
	end := skipValue(doc, i)
	if end <= i || end > len(doc) {
		return nil, false
	}
	return doc[i:end], true
}

// findMember returns the offset of the value of key in the object at i.
func findMember(doc []byte, i int, key string) (int, bool) {
	i = skipSpace(doc, i+1)
	for i < len(doc) && doc[i] != '}' {
		if doc[i] != '"' {
			return 0, false
		}
		kend := skipString(doc, i)
		if kend > len(doc) {
			return 0, false
		}
		k := doc[i+1 : kend-1]
		match := false
		if bytes.IndexByte(k, '\\') < 0 {
			match = string(k) == key
		} else {
			var s string
			if json.Unmarshal(doc[i:kend], &s) == nil {
				match = s == key
			}
		}
		i = skipSpace(doc, kend)
		if i >= len(doc) || doc[i] != ':' {
			return 0, false
		}
		i = skipSpace(doc, i+1)
		if match {
			return i, true
		}
		i = skipSpace(doc, skipValue(doc, i))
		if i < len(doc) && doc[i] == ',' {
			i = skipSpace(doc, i+1)
		}
	}
	return 0, false
}

// findElement returns the offset of element n of the array at i.
func findElement(doc []byte, i, n int) (int, bool) {
	i = skipSpace(doc, i+1)
	for k := 0; i < len(doc) && doc[i] != ']'; k++ {
		if k == n {
			return i, true
		}
		i = skipSpace(doc, skipValue(doc, i))
		if i < len(doc) && doc[i] == ',' {
			i = skipSpace(doc, i+1)
		}
	}
	return 0, false
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the offset just past the string starting at i.
func skipString(doc []byte, i int) int {
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(doc) + 1 // unterminated
}

// skipValue returns the offset just past the value starting at i.
func skipValue(doc []byte, i int) int {
	if i >= len(doc) {
		return len(doc) + 1
	}
	switch doc[i] {
	case '"':
		return skipString(doc, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(doc); j++ {
			switch doc[j] {
			case '"':
				j = skipString(doc, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(doc) + 1
	default:
		j := i
		for j < len(doc) && !strings.ContainsRune(",}] \t\r\n", rune(doc[j])) {
			j++
		}
		return j
	}
}

// rawText renders a raw JSON value as the json plugin does: a string is
// its value, anything else its compact JSON text; null is no value.
func rawText(raw []byte) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	if raw[0] == '"' {
		if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1]), true
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	}
	return compactText(raw), true
}
