package srcmap

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apparentlymart/go-textseg/v15/textseg"
	"github.com/hashicorp/hcl/v2"
	"golang.org/x/text/unicode/norm"
)

// ForLiteral returns the Map of decoded, the value HCL produced for the
// string literal or heredoc at rng in fileSrc (the whole file). rng is the
// expression's range: the quoted string including its quotes, or the whole
// heredoc from "<<EOT" to the closing marker.
//
// ForLiteral re-reads the literal the way HCL does — escapes in quoted
// strings (\n \r \t \" \\ \uXXXX \UXXXXXXXX, $${ and %%{), the header line of
// a heredoc, the indentation that <<- strips, the NFC normalization of every
// string — and lines the result up with decoded, so every decoded byte maps
// to the characters the user typed for it. Bytes that came from an escape
// all map to the start of the escape.
//
// ok is false when decoded is not exactly what the literal says, as when
// rng is not a literal or the string interpolates ${…} or uses %{…}
// directives. The Map is then still usable: the longest common prefix and
// suffix of the two map exactly, and the bytes between them map to where
// they differ. When nothing lines up at all, every offset maps to
// rng.Start and Range(0, len(decoded)) is rng. ForLiteral never panics.
func ForLiteral(filename string, fileSrc []byte, rng hcl.Range, decoded string) (m *Map, ok bool) {
	start, end := rng.Start.Byte, rng.End.Byte
	if start < 0 || end > len(fileSrc) || end < start {
		start, end = 0, 0
	}
	src := string(fileSrc[start:end])
	m = &Map{
		Filename: filename,
		base:     rng.Start,
		src:      src,
		lines:    lineStarts(src),
		size:     len(decoded),
		hi:       len(decoded),
		cols:     &colIndex{},
	}

	var b builder
	var read bool
	switch {
	case strings.HasPrefix(src, `"`):
		read = b.quoted(src)
	case strings.HasPrefix(src, "<<"):
		read = b.heredoc(src)
	}
	if !read {
		m.segs = []seg{{dec: 0, n: len(decoded), raw: 0, rawN: len(src)}}
		m.end = 0
		return m, false
	}
	m.end = b.end
	raw := b.mapping()
	got := string(b.out)

	switch {
	case got == decoded:
		m.segs = raw.segs
		ok = true
	case norm.NFC.String(got) == decoded:
		m.segs = normalized(raw, got)
		ok = true
	default:
		m.segs = partial(raw, got, decoded)
	}
	if len(m.segs) == 0 {
		// An empty string: keep segs non-nil so that the Map is not taken
		// for an identity.
		m.segs = []seg{{dec: 0, n: 0, raw: m.end, rawN: 0}}
	}
	return m, ok
}

// builder reads a literal, collecting the string it stands for (out) and
// the segments that map out's bytes back to the literal.
type builder struct {
	out  []byte
	segs []seg
	end  int // offset in the literal where its contents end
}

// lit records that src[raw:raw+len(s)] is s, copied as is.
func (b *builder) lit(raw int, s string) {
	if s == "" {
		return
	}
	b.add(seg{dec: len(b.out), n: len(s), raw: raw, rawN: len(s), linear: true})
	b.out = append(b.out, s...)
}

// esc records that src[raw:raw+rawN], an escape, stands for s.
func (b *builder) esc(raw, rawN int, s string) {
	if s == "" {
		return
	}
	b.add(seg{dec: len(b.out), n: len(s), raw: raw, rawN: rawN})
	b.out = append(b.out, s...)
}

func (b *builder) add(s seg) {
	b.segs = appendSeg(b.segs, s)
}

// appendSeg appends s to segs, joining it to the last segment when both are
// linear and contiguous.
func appendSeg(segs []seg, s seg) []seg {
	if s.n == 0 {
		return segs
	}
	if k := len(segs) - 1; k >= 0 && s.linear && segs[k].linear &&
		segs[k].dec+segs[k].n == s.dec && segs[k].raw+segs[k].rawN == s.raw {
		segs[k].n += s.n
		segs[k].rawN += s.rawN
		return segs
	}
	return append(segs, s)
}

// mapping returns the Map from out to the literal, for composing.
func (b *builder) mapping() *Map {
	m := &Map{segs: b.segs, size: len(b.out), end: b.end, hi: len(b.out)}
	if m.segs == nil {
		m.segs = []seg{}
	}
	return m
}

// quoted reads a quoted string literal, src being the literal with its
// quotes.
func (b *builder) quoted(src string) bool {
	if len(src) < 2 || src[len(src)-1] != '"' {
		return false
	}
	body := src[:len(src)-1]
	i, litStart := 1, 1
	flush := func() { b.lit(litStart, body[litStart:i]) }
	for i < len(body) {
		switch c := body[i]; c {
		case '\\':
			flush()
			n, s := quotedEscape(body[i:])
			b.esc(i, n, s)
			i += n
			litStart = i
		case '$', '%':
			if strings.HasPrefix(body[i+1:], string(c)+"{") {
				flush()
				b.esc(i, 3, string(c)+"{")
				i += 3
				litStart = i
			} else {
				i++
			}
		default:
			i++
		}
	}
	flush()
	b.end = len(body)
	return true
}

// quotedEscape decodes the backslash escape at the start of s, returning its
// length in s and what it stands for. Escapes HCL rejects come out as they
// are (HCL never produces a value for them).
func quotedEscape(s string) (int, string) {
	if len(s) < 2 {
		return len(s), s
	}
	switch s[1] {
	case 'n':
		return 2, "\n"
	case 'r':
		return 2, "\r"
	case 't':
		return 2, "\t"
	case '"':
		return 2, `"`
	case '\\':
		return 2, `\`
	case 'u', 'U':
		digits := 4
		if s[1] == 'U' {
			digits = 8
		}
		if len(s) < 2+digits {
			return 2, s[:2]
		}
		v, err := strconv.ParseUint(s[2:2+digits], 16, 32)
		if err != nil || !utf8.ValidRune(rune(v)) {
			return 2, s[:2]
		}
		return 2 + digits, string(rune(v))
	}
	_, size := utf8.DecodeRuneInString(s[1:])
	return 1 + size, s[1 : 1+size]
}

// heredoc reads a heredoc, src running from "<<" to the end of the closing
// marker.
func (b *builder) heredoc(src string) bool {
	flush := strings.HasPrefix(src, "<<-")
	nl := strings.IndexByte(src, '\n')
	last := strings.LastIndexByte(src, '\n')
	if nl < 0 {
		return false
	}
	body := src[:last+1] // the body is src[nl+1 : last+1]
	b.end = last + 1

	var lines []int // offsets of the body's lines in src
	for i := nl + 1; i < len(body); {
		lines = append(lines, i)
		j := strings.IndexByte(body[i:], '\n')
		i += j + 1
	}
	strip := 0
	if flush {
		strip = minIndent(body, lines)
	}
	for _, start := range lines {
		line := body[start : start+strings.IndexByte(body[start:], '\n')+1]
		skip := 0
		if flush && !blank(line) {
			skip = clusterBytes(line, strip)
		}
		b.template(start+skip, line[skip:])
	}
	return true
}

// template records text from a heredoc, where only $${ and %%{ are escapes.
func (b *builder) template(raw int, text string) {
	i, litStart := 0, 0
	for i < len(text) {
		c := text[i]
		if (c == '$' || c == '%') && strings.HasPrefix(text[i+1:], string(c)+"{") {
			b.lit(raw+litStart, text[litStart:i])
			b.esc(raw+i, 3, string(c)+"{")
			i += 3
			litStart = i
			continue
		}
		i++
	}
	b.lit(raw+litStart, text[litStart:])
}

// minIndent is the indentation a flush heredoc strips, as HCL computes it:
// the fewest leading white-space characters (grapheme clusters) of any line
// that is not blank.
func minIndent(body string, lines []int) int {
	least := -1
	for _, start := range lines {
		line := body[start : start+strings.IndexByte(body[start:], '\n')+1]
		if blank(line) {
			continue
		}
		prefix := line[:len(line)-len(strings.TrimLeftFunc(line, unicode.IsSpace))]
		n := clusters(prefix)
		if least < 0 || n < least {
			least = n
		}
	}
	return max(least, 0)
}

// blank reports whether a heredoc line, which ends in '\n', is only white
// space; HCL neither counts nor strips the indentation of such lines.
func blank(line string) bool {
	return strings.TrimLeftFunc(line, unicode.IsSpace) == ""
}

// clusters counts the grapheme clusters of s.
func clusters(s string) int {
	n := 0
	b := []byte(s)
	for len(b) > 0 {
		adv, _, err := textseg.ScanGraphemeClusters(b, true)
		if err != nil || adv <= 0 {
			break
		}
		n++
		b = b[adv:]
	}
	return n
}

// clusterBytes is the length in bytes of the first n grapheme clusters of s.
func clusterBytes(s string, n int) int {
	b := []byte(s)
	off := 0
	for ; n > 0 && off < len(b); n-- {
		adv, _, err := textseg.ScanGraphemeClusters(b[off:], true)
		if err != nil || adv <= 0 {
			break
		}
		off += adv
	}
	return off
}

// normalized composes the mapping of got, the literal as read, with NFC
// normalization: a normalization segment left as it was maps byte for byte;
// one that changed maps as a whole to where it starts.
func normalized(raw *Map, got string) []seg {
	var segs []seg
	var it norm.Iter
	it.InitString(norm.NFC, got)
	dec := 0
	for !it.Done() {
		from := it.Pos()
		out := it.Next()
		to := it.Pos()
		if string(out) == got[from:to] {
			segs = raw.copyTo(segs, dec, from, to-from)
		} else {
			segs = raw.spanTo(segs, dec, len(out), from, to-from)
		}
		dec += len(out)
	}
	return segs
}

// partial maps decoded, which differs from got, the literal as read,
// through their common prefix and suffix; what lies between maps as a whole
// to where the difference starts.
func partial(raw *Map, got, decoded string) []seg {
	p := 0
	for p < len(got) && p < len(decoded) && got[p] == decoded[p] {
		p++
	}
	s := 0
	for s < len(got)-p && s < len(decoded)-p && got[len(got)-1-s] == decoded[len(decoded)-1-s] {
		s++
	}
	segs := raw.copyTo(nil, 0, 0, p)
	segs = raw.spanTo(segs, p, len(decoded)-p-s, p, len(got)-p-s)
	return raw.copyTo(segs, len(decoded)-s, len(got)-s, s)
}

// copyTo appends to segs the mapping of n decoded bytes at dec that are the
// same as the n bytes at from in m's string.
func (m *Map) copyTo(segs []seg, dec, from, n int) []seg {
	for n > 0 {
		k := m.segAt(from)
		if k >= len(m.segs) {
			break
		}
		s := m.segs[k]
		take := min(n, s.dec+s.n-from)
		piece := seg{dec: dec, n: take, raw: s.raw, rawN: s.rawN}
		if s.linear {
			piece.raw += from - s.dec
			piece.rawN = take
			piece.linear = true
		}
		segs = appendSeg(segs, piece)
		dec, from, n = dec+take, from+take, n-take
	}
	return segs
}

// spanTo appends to segs the mapping of n decoded bytes at dec that stand
// for the fromN bytes at from in m's string, as a whole.
func (m *Map) spanTo(segs []seg, dec, n, from, fromN int) []seg {
	if n <= 0 {
		return segs
	}
	start := m.rawAt(from)
	end := start
	if fromN > 0 {
		end = max(start, m.rawEndAt(from+fromN-1))
	}
	return appendSeg(segs, seg{dec: dec, n: n, raw: start, rawN: end - start})
}
