// Package srcmap maps byte offsets in a decoded string back to positions in
// the file the string came from.
//
// A CEL expression or a message template reaches herald as a Go string: the
// value of an HCL string literal or heredoc after HCL has resolved escapes and
// stripped indentation, or the contents of a file read with file("…"). When
// something inside that string is wrong, the diagnostic must point at the
// file, line and column where the user typed it. A Map does that translation.
//
// Positions follow hcl.Pos: Line and Column start at 1, Column counts
// grapheme clusters (as HCL's own scanner does, so that a position computed
// here and one computed by HCL agree), and Byte is the 0-based offset in the
// whole file.
package srcmap

import (
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/apparentlymart/go-textseg/v15/textseg"
	"github.com/hashicorp/hcl/v2"
)

// Map maps byte offsets in a decoded string to positions in a file. A Map is
// immutable once built and safe for concurrent use.
type Map struct {
	// Filename is the file the string came from; it is the Filename of every
	// position and range the Map returns.
	Filename string

	// base is the file position of src[0].
	base hcl.Pos
	// src is the part of the file the string came from, starting at base.
	src string
	// lines holds the offsets in src at which a new line starts (the byte
	// after each '\n').
	lines []int
	// segs maps decoded offsets to offsets in src, in decoded order and
	// covering the decoded string without gaps. Nil means the identity.
	segs []seg
	// size is the length of the whole decoded string.
	size int
	// end is the offset in src that the end of the decoded string maps to.
	end int
	// lo and hi bound the part of the decoded string this Map covers (see
	// Sub); offsets given to Pos and Range are relative to lo.
	lo, hi int
	// cols indexes the columns of src's long lines; shared by Sub's maps.
	cols *colIndex
}

// colIndex holds, for every line of src longer than colStride, the column
// at a cluster boundary about every colStride bytes. Counting columns is a
// walk from the start of the line, so without it a template of many holes
// on one line (minified HTML, say) costs time quadratic in its length.
// It is built on first use, only for maps that are asked about long lines.
type colIndex struct {
	once sync.Once
	offs []int // offsets in src, ascending, each at a cluster boundary
	cols []int // the column advance from the start of its line to offs[i]
}

const colStride = 256

// seg maps decoded bytes [dec, dec+n) to the file text src[raw:raw+rawN].
// When linear, decoded byte dec+i comes from src[raw+i] (and n == rawN);
// otherwise the decoded bytes came from an escape or were changed by
// normalization, and all of them map to src[raw].
type seg struct {
	dec, n    int
	raw, rawN int
	linear    bool
}

// Identity returns the Map of a whole file's contents, such as a template
// read by file("templates/x.html"): offset 0 is line 1, column 1 of filename.
func Identity(filename string, src string) *Map {
	return &Map{
		Filename: filename,
		base:     hcl.InitialPos,
		src:      src,
		lines:    lineStarts(src),
		size:     len(src),
		end:      len(src),
		hi:       len(src),
		cols:     &colIndex{},
	}
}

// Len returns the length of the decoded string the Map covers.
func (m *Map) Len() int { return m.hi - m.lo }

// Sub returns the Map of decoded[start:end]: offset 0 of the result is offset
// start of m. It lets an expression cut out of a template keep its
// positions. Out-of-range bounds are clamped.
func (m *Map) Sub(start, end int) *Map {
	start, end = m.clamp(start), m.clamp(end)
	if end < start {
		end = start
	}
	sub := *m
	sub.lo, sub.hi = m.lo+start, m.lo+end
	return &sub
}

// Pos returns the file position of the decoded byte at offset. Offset
// Len() is the position just after the string's last byte; offsets outside
// [0, Len()] are clamped.
func (m *Map) Pos(offset int) hcl.Pos {
	return m.posAt(m.rawAt(m.lo + m.clamp(offset)))
}

// Range returns the file range covering decoded bytes [start, end). The
// bounds are clamped as by Pos; an end before start is taken as start.
func (m *Map) Range(start, end int) hcl.Range {
	start, end = m.clamp(start), m.clamp(end)
	rng := hcl.Range{Filename: m.Filename, Start: m.posAt(m.rawAt(m.lo + start))}
	if end <= start {
		rng.End = rng.Start
		return rng
	}
	rng.End = m.posAt(m.rawEndAt(m.lo + end - 1))
	if rng.End.Byte < rng.Start.Byte {
		rng.End = rng.Start
	}
	return rng
}

func (m *Map) clamp(offset int) int {
	return max(0, min(offset, m.hi-m.lo))
}

// segAt returns the index of the segment holding decoded byte i, or
// len(m.segs) when there is none.
func (m *Map) segAt(i int) int {
	return sort.Search(len(m.segs), func(k int) bool { return m.segs[k].dec+m.segs[k].n > i })
}

// rawAt returns the offset in src that decoded offset i maps to.
func (m *Map) rawAt(i int) int {
	if m.segs == nil {
		return min(i, len(m.src))
	}
	k := m.segAt(i)
	if i >= m.size || k >= len(m.segs) {
		return m.end
	}
	s := m.segs[k]
	if s.linear {
		return s.raw + i - s.dec
	}
	return s.raw
}

// rawEndAt returns the offset in src just after the file text that decoded
// byte i came from.
func (m *Map) rawEndAt(i int) int {
	if m.segs == nil {
		return min(i+1, len(m.src))
	}
	k := m.segAt(i)
	if i >= m.size || k >= len(m.segs) {
		return m.end
	}
	s := m.segs[k]
	if s.linear {
		return s.raw + i - s.dec + 1
	}
	return s.raw + s.rawN
}

// posAt returns the file position of src[r:].
func (m *Map) posAt(r int) hcl.Pos {
	r = max(0, min(r, len(m.src)))
	idx := sort.SearchInts(m.lines, r+1) // lines starting at or before r
	pos := hcl.Pos{Line: m.base.Line + idx, Column: 1, Byte: m.base.Byte + r}
	start := 0
	if idx == 0 {
		pos.Column = m.base.Column
	} else {
		start = m.lines[idx-1]
	}
	if r-start > colStride && m.cols != nil {
		// Carry on from the last checkpoint on this line at or before r.
		m.cols.once.Do(func() { m.cols.build(m.src, m.lines) })
		if k := sort.SearchInts(m.cols.offs, r+1) - 1; k >= 0 && m.cols.offs[k] > start {
			pos.Column += m.cols.cols[k] + columns(m.src[m.cols.offs[k]:], r-m.cols.offs[k])
			return pos
		}
	}
	pos.Column += columns(m.src[start:], r-start)
	return pos
}

// build walks src's lines as columns does, recording a checkpoint about
// every colStride bytes of each long line.
func (x *colIndex) build(src string, lines []int) {
	start := 0
	for i := 0; i <= len(lines); i++ {
		end := len(src)
		if i < len(lines) {
			end = lines[i]
		}
		if end-start > colStride {
			line := src[start:end]
			cols, off := 0, 0
			for next := colStride; next < len(line); next += colStride {
				// Advance cluster by cluster up to next; columns from a
				// boundary are the same as from the start of the line.
				n, adv := advance(line[off:], next-off)
				if adv == 0 {
					continue
				}
				cols += n
				off += adv
				x.offs = append(x.offs, start+off)
				x.cols = append(x.cols, cols)
			}
		}
		start = end
	}
}

// columns counts the grapheme clusters of line that end at or before byte
// n: the column advance from the start of line to byte n. When n falls
// inside a cluster, the position is on that cluster.
func columns(line string, n int) int {
	cols, _ := advance(line, n)
	return cols
}

// advance is columns, and the offset in line just after the last cluster
// it counted.
func advance(line string, n int) (cols, off int) {
	n = min(n, len(line))
	var b []byte // line as bytes, made when first needed
	for off < n {
		// An ASCII character followed by another (or by nothing) is a
		// cluster of its own, except CR LF: no need for textseg.
		if c := line[off]; c < utf8.RuneSelf && (off+1 == len(line) || line[off+1] < utf8.RuneSelf) {
			adv := 1
			if c == '\r' && off+1 < len(line) && line[off+1] == '\n' {
				adv = 2
			}
			if off+adv > n {
				break
			}
			cols++
			off += adv
			continue
		}
		if b == nil {
			// The clusters that end by n only depend on a few bytes after n.
			b = []byte(line[:min(len(line), n+64)])
		}
		adv, _, err := textseg.ScanGraphemeClusters(b[off:], true)
		if err != nil || adv <= 0 || off+adv > n {
			break
		}
		cols++
		off += adv
	}
	return cols, off
}

func lineStarts(s string) []int {
	var lines []int
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = append(lines, i+1)
		}
	}
	return lines
}
