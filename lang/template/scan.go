package template

import "strings"

// holeScan is what scanHole found in a hole.
type holeScan struct {
	close    int // offset of the "}}" that closes the hole, or -1
	fallback int // offset of the first "??" outside strings and brackets, or -1
	quote    int // offset of the opening quote of an unterminated string, or -1
}

// scanHole scans the contents of a hole from offset from (just after its
// "{{") the way CEL reads them: a "}}" closes the hole only outside string
// literals and outside braces that the expression opened. Inside a //
// comment, quotes mean nothing but "}}" still closes the hole.
func scanHole(src string, from int) holeScan {
	h := holeScan{close: -1, fallback: -1, quote: -1}
	braces := 0 // open { of the expression
	nest := 0   // open (, [ and {
	for i := from; i < len(src); {
		switch c := src[i]; {
		case c == '"' || c == '\'':
			end, ok := skipString(src, from, i)
			if !ok {
				h.quote = i
				return h
			}
			i = end
			continue
		case c == '/' && strings.HasPrefix(src[i:], "//"):
			i += 2
			for i < len(src) && src[i] != '\n' && (braces > 0 || !strings.HasPrefix(src[i:], "}}")) {
				i++
			}
			continue
		case c == '{':
			braces++
			nest++
		case c == '(' || c == '[':
			nest++
		case c == ')' || c == ']':
			nest = max(nest-1, 0)
		case c == '}':
			if braces > 0 {
				braces--
				nest = max(nest-1, 0)
			} else if strings.HasPrefix(src[i:], "}}") {
				h.close = i
				return h
			}
		case c == '?' && nest == 0 && h.fallback < 0 && strings.HasPrefix(src[i:], "??"):
			h.fallback = i
			i += 2
			continue
		}
		i++
	}
	return h
}

// skipString returns the offset just after the CEL string literal whose
// opening quote is at src[i], and false when it is not closed. A literal
// is '…' or "…" on one line, or triple-quoted (three ' or three ") over
// several lines; a prefix r or R (after an optional bytes prefix b or B)
// makes it raw, without backslash escapes. The prefix is looked for back
// to offset from.
func skipString(src string, from, i int) (int, bool) {
	w := i
	for w > from && isIdent(src[w-1]) {
		w--
	}
	raw := false
	switch strings.ToLower(src[w:i]) {
	case "r", "br":
		raw = true
	}
	q := src[i]
	if triple := src[i:i+1] + src[i:i+1] + src[i:i+1]; strings.HasPrefix(src[i:], triple) {
		for j := i + 3; j < len(src); j++ {
			switch {
			case src[j] == '\\' && !raw:
				j++
			case strings.HasPrefix(src[j:], triple):
				return j + 3, true
			}
		}
		return len(src), false
	}
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			if !raw && j+1 < len(src) && src[j+1] != '\n' && src[j+1] != '\r' {
				j++
			}
		case '\n', '\r':
			return j, false
		case q:
			return j + 1, true
		}
	}
	return len(src), false
}
