package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/providers"
)

// jsonlReader reads one JSON object per line. Top-level values are read by
// hand, straight from the line, with numbers kept as text until the field's
// type says how to read them; nested lists and maps go through
// encoding/json with UseNumber, so no int loses precision either way.
type jsonlReader struct {
	table string
	lines *lines
	line  int64

	lay   *providers.Layout
	typer typer
	key   int
}

func newJSONLReader(l *lines, table string, lay *providers.Layout, key string) *jsonlReader {
	j := &jsonlReader{table: table, lines: l, lay: lay, typer: newTyper(lay), key: -1}
	if key != "" {
		j.key = lay.Index(key)
	}
	return j
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func (j *jsonlReader) layout() *providers.Layout { return j.lay }

func (j *jsonlReader) next(vals []any) error {
	var line []byte
	for {
		var err error
		if line, err = j.lines.next(); err != nil {
			return err
		}
		j.line++
		if !blank(line) {
			break
		}
	}
	clear(vals)
	p := jparser{s: string(line)}
	typeErr, err := j.object(&p, vals)
	if err != nil {
		return &providers.RowError{Table: j.table, Row: j.line, Err: err}
	}
	if typeErr != nil {
		return typeErr
	}
	if j.key >= 0 && vals[j.key] == nil {
		return &providers.RowError{Table: j.table, Row: j.line, Column: j.lay.Names[j.key], Err: errNoKey}
	}
	return nil
}

// object reads the line's object into vals. A syntax error is err; a value
// of the wrong type is typeErr, the first one, reported only when the whole
// line is valid JSON.
func (j *jsonlReader) object(p *jparser, vals []any) (typeErr *providers.RowError, err error) {
	p.ws()
	if !p.eat('{') {
		if p.i < len(p.s) && (p.s[p.i] == '[' || p.s[p.i] == '"' || p.s[p.i] == '-' || isDigit(p.s[p.i]) || p.s[p.i] == 't' || p.s[p.i] == 'f' || p.s[p.i] == 'n') {
			return nil, errors.New("is not a JSON object: a JSONL table has one object per line")
		}
		return nil, p.fail("expected '{' at the start of the line")
	}
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			key, _, err := p.str()
			if err != nil {
				return nil, err
			}
			p.ws()
			if !p.eat(':') {
				return nil, p.fail("expected ':' after an object key")
			}
			p.ws()
			idx := j.lay.Index(key)
			if idx < 0 {
				if err := p.skip(0); err != nil {
					return nil, err
				}
			} else {
				v, bad, err := j.value(p, idx)
				if err != nil {
					return nil, err
				}
				if bad != nil && typeErr == nil {
					typeErr = bad
				}
				vals[idx] = v
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				break
			}
			return nil, p.fail("expected ',' or '}' after an object value")
		}
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, p.fail("text after the object (a JSONL table has one object per line)")
	}
	return typeErr, nil
}

// value reads the value of field idx.
func (j *jsonlReader) value(p *jparser, idx int) (v any, bad *providers.RowError, err error) {
	if p.i >= len(p.s) {
		return nil, nil, p.fail("expected a value")
	}
	k := j.typer.kinds[idx]
	t := j.lay.Types[idx]
	badValue := func(value string, err error) *providers.RowError {
		return &providers.RowError{Table: j.table, Row: j.line, Column: j.lay.Names[idx], Value: value, Err: err}
	}
	switch c := p.s[p.i]; {
	case c == '"':
		s, _, err := p.str()
		if err != nil {
			return nil, nil, err
		}
		if k == kNested {
			return nil, badValue(s, fmt.Errorf("is not a %s", t)), nil
		}
		v, err := j.typer.text(idx, s)
		if err != nil {
			return nil, badValue(s, err), nil
		}
		return v, nil, nil
	case c == '-' || isDigit(c):
		num, err := p.number()
		if err != nil {
			return nil, nil, err
		}
		switch k {
		case kString:
			return num, nil, nil
		case kInt:
			if n, err := strconv.ParseInt(num, 10, 64); err == nil {
				return n, nil, nil
			}
		case kDouble:
			if f, err := strconv.ParseFloat(num, 64); err == nil {
				return f, nil, nil
			}
		}
		v, err := providers.ConvertValue(t, json.Number(num))
		if err != nil {
			return nil, badValue(num, err), nil
		}
		return v, nil, nil
	case c == 't' || c == 'f' || c == 'n':
		lit, err := p.literal()
		if err != nil {
			return nil, nil, err
		}
		if lit == "null" {
			return nil, nil, nil
		}
		b := lit == "true"
		if k == kBool {
			return b, nil, nil
		}
		v, err := providers.ConvertValue(t, b)
		if err != nil {
			return nil, badValue(lit, err), nil
		}
		return v, nil, nil
	case c == '{' || c == '[':
		start := p.i
		if err := p.skip(0); err != nil {
			return nil, nil, err
		}
		raw := p.s[start:p.i]
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			return nil, nil, p.fail(err.Error())
		}
		v, err := providers.ConvertValue(t, x)
		if err != nil {
			return nil, badValue(raw, err), nil
		}
		return v, nil, nil
	}
	return nil, nil, p.fail("expected a value")
}

// jparser reads JSON from a string, validating as it goes.
type jparser struct {
	s string
	i int
}

func (p *jparser) fail(msg string) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", p.i+1, msg)
}

func (p *jparser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *jparser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// str reads a string and returns its value and its JSON text. A string
// without escapes is a part of p.s, with no copy.
func (p *jparser) str() (val, raw string, err error) {
	if !p.eat('"') {
		return "", "", p.fail("expected a string")
	}
	start := p.i
	plain := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			raw = p.s[start-1 : p.i+1]
			val = p.s[start:p.i]
			p.i++
			if !plain || !utf8.ValidString(val) {
				// Escapes, or bytes that are not UTF-8 (made U+FFFD as
				// encoding/json does).
				val, err = unquote(raw)
				if err != nil {
					return "", "", p.fail(err.Error())
				}
			}
			return val, raw, nil
		case c == '\\':
			plain = false
			if p.i+1 >= len(p.s) {
				p.i++
				return "", "", p.fail("string not closed")
			}
			switch p.s[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.s) || !isHex(p.s[p.i+2:p.i+6]) {
					return "", "", p.fail(`invalid \u escape in a string`)
				}
				p.i += 6
			default:
				return "", "", p.fail("invalid escape in a string")
			}
		case c < 0x20:
			return "", "", p.fail("control character in a string")
		default:
			p.i++
		}
	}
	return "", "", p.fail("string not closed")
}

// unquote decodes a JSON string; only its own variable escapes to the
// heap, so that the fast path of str allocates nothing.
func unquote(raw string) (string, error) {
	var v string
	err := json.Unmarshal([]byte(raw), &v)
	return v, err
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') {
			return false
		}
	}
	return true
}

// number reads a number as its text.
func (p *jparser) number() (string, error) {
	start := p.i
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.s) && p.s[p.i] >= '1' && p.s[p.i] <= '9':
		p.digits()
	default:
		return "", p.fail("invalid number")
	}
	if p.eat('.') {
		if p.digits() == 0 {
			return "", p.fail("invalid number: no digit after the decimal point")
		}
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return "", p.fail("invalid number: no digit in the exponent")
		}
	}
	return p.s[start:p.i], nil
}

func (p *jparser) digits() int {
	start := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	return p.i - start
}

func (p *jparser) literal() (string, error) {
	for _, lit := range [...]string{"true", "false", "null"} {
		if strings.HasPrefix(p.s[p.i:], lit) {
			p.i += len(lit)
			return lit, nil
		}
	}
	return "", p.fail("invalid literal (true, false or null)")
}

// maxDepth bounds the nesting of lists and maps.
const maxDepth = 1000

// skip reads over one value, checking that it is valid JSON.
func (p *jparser) skip(depth int) error {
	if depth > maxDepth {
		return p.fail("nested too deeply")
	}
	if p.i >= len(p.s) {
		return p.fail("expected a value")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		_, _, err := p.str()
		return err
	case c == '-' || isDigit(c):
		_, err := p.number()
		return err
	case c == 't' || c == 'f' || c == 'n':
		_, err := p.literal()
		return err
	case c == '[':
		p.i++
		p.ws()
		if p.eat(']') {
			return nil
		}
		for {
			p.ws()
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat(']') {
				return nil
			}
			return p.fail("expected ',' or ']' in a list")
		}
	case c == '{':
		p.i++
		p.ws()
		if p.eat('}') {
			return nil
		}
		for {
			p.ws()
			if _, _, err := p.str(); err != nil {
				return err
			}
			p.ws()
			if !p.eat(':') {
				return p.fail("expected ':' after an object key")
			}
			p.ws()
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				return nil
			}
			return p.fail("expected ',' or '}' in an object")
		}
	}
	return p.fail("expected a value")
}
