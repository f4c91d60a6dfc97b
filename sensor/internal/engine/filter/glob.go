package filter

// globMatch reports whether s matches the shell pattern, with fnmatch(3)
// semantics and no flags (as libsinsp's glob): '*' matches any run of bytes
// including '/', '?' one byte, '[...]' a class ('!' or '^' negates, ranges
// allowed), '\' quotes the next byte. fold makes the match ASCII
// case-insensitive (iglob). It runs in O(len(pattern)*len(s)) without
// allocating.
func globMatch(pattern, s string, fold bool) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if sx < len(s) {
					if ok, width, valid := matchClass(pattern[px:], s[sx], fold); valid {
						if ok {
							px += width
							sx++
							continue
						}
					} else if eqByte('[', s[sx], fold) { // unterminated class: literal '['
						px++
						sx++
						continue
					}
				}
			case '\\':
				if px+1 < len(pattern) {
					if sx < len(s) && eqByte(pattern[px+1], s[sx], fold) {
						px += 2
						sx++
						continue
					}
				} else if sx < len(s) && s[sx] == '\\' {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && eqByte(c, s[sx], fold) {
					px++
					sx++
					continue
				}
			}
		}
		// Mismatch: let the last '*' swallow one more byte.
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

func eqByte(a, b byte, fold bool) bool {
	if fold {
		return lowerASCII(a) == lowerASCII(b)
	}
	return a == b
}

// matchClass matches c against the class at the start of p ("[...]"). It
// returns whether c matches, the width of the class in p, and whether the
// class is well-formed (terminated).
func matchClass(p string, c byte, fold bool) (match bool, width int, valid bool) {
	i := 1
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return match != neg, i + 1, true
		}
		first = false
		lo := p[i]
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			if hi == '\\' && i+2 < len(p) {
				hi = p[i+2]
				i++
			}
			i += 2
		}
		if inRange(c, lo, hi) || (fold && (inRange(lowerASCII(c), lowerASCII(lo), lowerASCII(hi)) || inRange(upperASCII(c), lo, hi))) {
			match = true
		}
	}
	return false, 0, false
}

func inRange(c, lo, hi byte) bool { return lo <= c && c <= hi }

func upperASCII(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
