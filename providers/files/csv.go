package files

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"

	"github.com/heraldhq/herald/providers"
)

// readBuffer is the size of the buffer a table is read through, at most.
const readBuffer = 1 << 20

// lines reads a file line by line through a large buffer.
type lines struct {
	br   *bufio.Reader
	long []byte // a line longer than the buffer, assembled
	bom  bool   // the first line is still to come: drop a UTF-8 BOM
}

// newLines reads r through a buffer of size bytes (bufio's minimum of 16
// when smaller).
func newLines(r io.Reader, size int) *lines {
	return &lines{br: bufio.NewReaderSize(r, size), bom: true}
}

// next returns the next line without its line ending ("\n" or "\r\n"),
// valid until the following call, or io.EOF after the last line.
func (l *lines) next() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = l.br.ReadSlice('\n')
			l.long = append(l.long, line...)
		}
		line = l.long
	}
	if err == io.EOF {
		if len(line) == 0 {
			return nil, io.EOF
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if l.bom {
		l.bom = false
		line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
	}
	return line, nil
}

// csvReader reads an RFC 4180 table: fields separated by commas, quoted
// with double quotes where they hold a comma, a quote ("") or a line break.
type csvReader struct {
	table   string
	lines   *lines
	rec     int64 // number of the last record read; the header is 1
	scratch []byte
	bounds  []int // start and end of each field of the last record
	header  []string

	lay   *providers.Layout
	cols  []int // per layout field: its column in the header, or -1
	typer typer
	key   int // layout index of the source's key, or -1

	// The layout's fields by how they are read.
	strFields, otherFields, absent []int
	text                           []byte // the new text of the last row
	pend                           []span
}

func newCSVReader(l *lines, table string, lay *providers.Layout, key string) (*csvReader, error) {
	c := &csvReader{table: table, lines: l, key: -1}
	row, err := c.record()
	if err == io.EOF {
		return nil, errors.New("the file is empty: a CSV table starts with a header row naming its columns")
	}
	var re *providers.RowError
	if errors.As(err, &re) {
		return nil, fmt.Errorf("header: %v", re.Err)
	}
	if err != nil {
		return nil, err
	}
	at := map[string]int{}
	for i := 0; i < len(c.bounds); i += 2 {
		name := strings.TrimSpace(string(row[c.bounds[i]:c.bounds[i+1]]))
		if _, dup := at[name]; dup && name != "" {
			return nil, fmt.Errorf("header: column %q appears twice", name)
		}
		at[name] = i / 2
		c.header = append(c.header, name)
	}
	if lay == nil {
		lay = providers.NewLayoutOf(c.header, nil)
	}
	c.lay = lay
	c.typer = newTyper(lay)
	for i, name := range lay.Names {
		col, ok := at[name]
		switch {
		case !ok:
			col = -1
			c.absent = append(c.absent, i)
		case c.typer.kinds[i] == kString:
			c.strFields = append(c.strFields, i)
		default:
			c.otherFields = append(c.otherFields, i)
		}
		c.cols = append(c.cols, col)
	}
	if key != "" {
		if c.key = lay.Index(key); c.key >= 0 && c.cols[c.key] < 0 {
			return nil, fmt.Errorf("header: no column %q, the source's key; the columns are %s", key, strings.Join(c.header, ", "))
		}
	}
	return c, nil
}

func (c *csvReader) layout() *providers.Layout { return c.lay }

func (c *csvReader) next(vals []any) error {
	row, err := c.record()
	if err != nil {
		return err
	}
	if n := len(c.bounds) / 2; n != len(c.header) {
		return &providers.RowError{Table: c.table, Row: c.rec,
			Err: fmt.Errorf("has %d fields, but the header has %d", n, len(c.header))}
	}
	t := &c.typer
	// String fields: the cells not already known are copied into one new
	// string, which their values are parts of.
	text, pend := c.text[:0], c.pend[:0]
	for _, i := range c.strFields {
		col := c.cols[i]
		cell := row[c.bounds[2*col]:c.bounds[2*col+1]]
		if len(cell) == 0 {
			vals[i] = nil
			continue
		}
		if v, ok := t.cached(i, view(cell)); ok {
			vals[i] = v
			continue
		}
		pend = append(pend, span{i, len(text), len(text) + len(cell)})
		text = append(text, cell...)
	}
	if len(pend) > 0 {
		s := string(text)
		for _, p := range pend {
			vals[p.field] = t.str(p.field, s[p.start:p.end])
		}
	}
	c.text, c.pend = text, pend
	// The other fields are read in place.
	for _, i := range c.otherFields {
		col := c.cols[i]
		cell := row[c.bounds[2*col]:c.bounds[2*col+1]]
		v, err := t.parse(i, view(cell))
		if err != nil {
			return &providers.RowError{Table: c.table, Row: c.rec, Column: c.lay.Names[i], Value: string(cell), Err: err}
		}
		vals[i] = v
	}
	for _, i := range c.absent {
		vals[i] = nil
	}
	if c.key >= 0 && vals[c.key] == nil {
		return &providers.RowError{Table: c.table, Row: c.rec, Column: c.lay.Names[c.key], Err: errNoKey}
	}
	return nil
}

// span is where a field's text is in a row's new string.
type span struct{ field, start, end int }

var errNoKey = errors.New("is empty, but it is the source's key and must be set on every row")

// record reads the next record, skipping blank lines, and sets c.bounds.
// The bytes are valid until the next call.
func (c *csvReader) record() ([]byte, error) {
	var line []byte
	for {
		var err error
		if line, err = c.lines.next(); err != nil {
			return nil, err
		}
		if len(line) > 0 {
			break
		}
	}
	c.rec++
	if bytes.IndexByte(line, '"') >= 0 {
		return c.quoted(line)
	}
	c.bounds = split(line, c.bounds[:0])
	return line, nil
}

// split appends the start and end of each comma-separated field of line
// (which has no quote) to b. It looks at eight bytes at a time: a third
// faster than a loop over the bytes or bytes.IndexByte per field, on rows
// of short fields.
func split(line []byte, b []int) []int {
	const (
		low7   = 0x7f7f7f7f7f7f7f7f
		commas = 0x2c2c2c2c2c2c2c2c
	)
	start, i := 0, 0
	for ; i+8 <= len(line); i += 8 {
		x := binary.LittleEndian.Uint64(line[i:]) ^ commas
		// The high bit of each byte of t is set where x is zero, that
		// is where line has a comma.
		t := ^(((x & low7) + low7) | x | low7)
		for t != 0 {
			j := i + bits.TrailingZeros64(t)>>3
			b = append(b, start, j)
			start = j + 1
			t &= t - 1
		}
	}
	for ; i < len(line); i++ {
		if line[i] == ',' {
			b = append(b, start, i)
			start = i + 1
		}
	}
	return append(b, start, len(line))
}

// quoted reads a record with quoted fields, which may go on over several
// lines, unquoting the fields into c.scratch.
func (c *csvReader) quoted(line []byte) ([]byte, error) {
	out := c.scratch[:0]
	b := c.bounds[:0]
	bad := func(value []byte, msg string) error {
		c.scratch, c.bounds = out, b
		col := ""
		if f := len(b) / 2; f < len(c.header) {
			col = c.header[f]
		}
		return &providers.RowError{Table: c.table, Row: c.rec, Column: col, Value: string(value), Err: errors.New(msg)}
	}
	pos := 0
	for {
		start := len(out)
		if pos < len(line) && line[pos] == '"' {
			raw := pos // where the field starts on its last line
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					// The quoted field holds a line break.
					out = append(out, line[pos:]...)
					out = append(out, '\n')
					var err error
					line, err = c.lines.next()
					if err == io.EOF {
						return nil, bad(append([]byte{'"'}, out[start:]...), "has a quote that is not closed before the end of the file")
					}
					if err != nil {
						return nil, err
					}
					pos, raw = 0, 0
					continue
				}
				out = append(out, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					out = append(out, '"')
					pos++
					continue
				}
				break
			}
			if pos < len(line) && line[pos] != ',' {
				end := len(line)
				if i := bytes.IndexByte(line[pos:], ','); i >= 0 {
					end = pos + i
				}
				return nil, bad(line[raw:end], `has text after the closing quote (write a quote inside a quoted field as "")`)
			}
		} else {
			end := len(line)
			if i := bytes.IndexByte(line[pos:], ','); i >= 0 {
				end = pos + i
			}
			if bytes.IndexByte(line[pos:end], '"') >= 0 {
				return nil, bad(line[pos:end], `has a quote in a field that is not quoted (quote the field, and write a quote inside it as "")`)
			}
			out = append(out, line[pos:end]...)
			pos = end
		}
		b = append(b, start, len(out))
		if pos >= len(line) {
			break
		}
		pos++ // the comma
		if pos == len(line) {
			b = append(b, len(out), len(out))
			break
		}
	}
	c.scratch, c.bounds = out, b
	return out, nil
}
