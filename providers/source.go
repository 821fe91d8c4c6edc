package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/lang"
)

// SourceRequest is everything needed to read one table.
type SourceRequest struct {
	// Dir is the project directory; files paths are relative to it.
	Dir string
	// Provider is the provider block (Type "files" or "postgres"), its
	// attribute values already evaluated (Attributes["dir"],
	// Attributes["url"] are cty strings).
	Provider *lang.Provider
	// Source says what to read: Table or Query, OnError ("fail" or
	// "skip"), Key, Cursor.
	Source *lang.Source
	// Layout is the fields to read and their types: NewLayout of the
	// source's schema, or NewLayoutOf for a table without one. A files CSV
	// source reads every column of the header as a string when it is nil.
	Layout *Layout
}

// ScanStats counts what a scan saw.
type ScanStats struct {
	// Rows is the number of records handed to the scan's callback.
	Rows int64
	// Skipped is the number of bad rows left out (on_error = "skip").
	Skipped int64
	// FirstSkipped is the message of the first skipped row, "" when none.
	FirstSkipped string
}

// A Source streams a table in batches. Profiles are never all held in
// memory: a scan reads the table from the start and hands fn one batch at a
// time. Scan may be called more than once, each call reading the table
// anew; fn is called from the goroutine that called Scan.
//
// fn may not keep the batch or its Records after it returns: they are
// reused for a later batch. The values in Record.Values are never changed
// after fn sees them, so fn may keep a value (a string, a time.Time…)
// without copying the record; a string value shares memory with the rest
// of its row, so strings.Clone it to keep a small part of many rows.
type Source interface {
	// Scan reads the whole table. A bad row makes it return a *RowError
	// (on_error = "fail"), or is left out and counted (on_error = "skip").
	// An error from fn stops the scan and is returned as it is.
	Scan(ctx context.Context, batchSize int, fn func(batch []Record) error) (ScanStats, error)
	// Close releases what the source holds (files, connections).
	Close() error
}

// SourceFactory opens a source of one provider type.
type SourceFactory func(ctx context.Context, req SourceRequest) (Source, error)

// DefaultBatchSize is the batch size a Scan uses when given zero or less.
const DefaultBatchSize = 1024

// RowError is a bad row: a value that does not have its field's type, or a
// line that cannot be read at all (Column is then "").
type RowError struct {
	// Table is the table as the source names it: "customers.csv", a
	// postgres table or "query".
	Table string
	// Row is 1-based: the record number counting a CSV header as row 1, the
	// line number in a JSONL file, the row number of a postgres result.
	Row    int64
	Column string
	Value  string
	Err    error
}

// Error says where the bad value is and why it is bad:
// `customers.csv row 12, column "ltv": "abc" is not a double`.
func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s row %d: %v", e.Table, e.Row, e.Err)
	}
	return fmt.Sprintf("%s row %d, column %q: %q %v", e.Table, e.Row, e.Column, shorten(e.Value), e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// shorten keeps an error message readable when a value is long.
func shorten(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max - 3
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// Errors of values that do not have their field's type. They read after
// the quoted value: `"abc" is not a double`.
var (
	errNotString    = errors.New("is not a string")
	errNotInt       = errors.New("is not an int")
	errNotDouble    = errors.New("is not a double")
	errNotBool      = errors.New("is not a bool (true, false, yes, no, 1 or 0)")
	errNotTimestamp = errors.New("is not a timestamp (RFC 3339 such as 2026-12-01T09:00:00Z, or 2026-12-01T09:00:00 or 2026-12-01 in UTC)")
	errNotDuration  = errors.New("is not a duration (such as 90m, 72h or 1h30m)")
)

// TextParser returns the function that types a text value (a CSV cell) as
// a field of type t: string as is; int, double and bool (true, false, yes,
// no, 1, 0 in any case) as int64, float64 and bool; timestamp as a UTC
// time.Time from RFC 3339, "2006-01-02T15:04:05" or "2006-01-02"; duration
// as a time.Duration from a Go duration; list and map from JSON text. An
// empty text is nil (the field is absent). A nil t is string.
func TextParser(t *lang.FieldType) func(s string) (any, error) {
	kind := "string"
	if t != nil {
		kind = t.Kind
	}
	switch kind {
	case "int":
		return func(s string) (any, error) {
			s = trimSpace(s)
			if s == "" {
				return nil, nil
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, errNotInt
			}
			return n, nil
		}
	case "double":
		return func(s string) (any, error) {
			s = trimSpace(s)
			if s == "" {
				return nil, nil
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, errNotDouble
			}
			return f, nil
		}
	case "bool":
		return func(s string) (any, error) {
			s = trimSpace(s)
			if s == "" {
				return nil, nil
			}
			b, ok := parseBool(s)
			if !ok {
				return nil, errNotBool
			}
			return b, nil
		}
	case "timestamp":
		return func(s string) (any, error) {
			s = trimSpace(s)
			if s == "" {
				return nil, nil
			}
			ts, err := ParseTimestamp(s)
			if err != nil {
				return nil, errNotTimestamp
			}
			return ts, nil
		}
	case "duration":
		return func(s string) (any, error) {
			s = trimSpace(s)
			if s == "" {
				return nil, nil
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return nil, errNotDuration
			}
			return d, nil
		}
	case "list", "map":
		return func(s string) (any, error) {
			if trimSpace(s) == "" {
				return nil, nil
			}
			v, err := decodeJSON(s)
			if err != nil {
				return nil, fmt.Errorf("is not a %s: %v", t, err)
			}
			if v == nil {
				return nil, nil
			}
			return ConvertValue(t, v)
		}
	}
	return func(s string) (any, error) {
		if s == "" {
			return nil, nil
		}
		return s, nil
	}
}

// ParseText types one text value as a field of type t (see TextParser).
func ParseText(t *lang.FieldType, s string) (any, error) { return TextParser(t)(s) }

// decodeJSON decodes one JSON value, keeping numbers as json.Number so that
// no int loses precision.
func decodeJSON(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: text after the value")
	}
	return v, nil
}

// trimSpace trims ASCII blanks, cheaply when there are none.
func trimSpace(s string) string {
	if s == "" || (s[0] > ' ' && s[len(s)-1] > ' ') {
		return s
	}
	return strings.Trim(s, " \t\r\n")
}

func parseBool(s string) (v, ok bool) {
	switch len(s) {
	case 1:
		switch s[0] {
		case '1':
			return true, true
		case '0':
			return false, true
		}
	case 2:
		return false, strings.EqualFold(s, "no")
	case 3:
		return true, strings.EqualFold(s, "yes")
	case 4:
		return true, strings.EqualFold(s, "true")
	case 5:
		return false, strings.EqualFold(s, "false")
	}
	return false, false
}

// ParseTimestamp reads a timestamp as RFC 3339 ("2006-01-02T15:04:05Z",
// with an optional fraction and any offset), or as "2006-01-02T15:04:05" or
// "2006-01-02" in UTC. The result is always in UTC.
//
// The common shapes are read by hand: time.Parse is several times slower,
// and a million-row table has a timestamp on every row.
func ParseTimestamp(s string) (time.Time, error) {
	switch {
	case len(s) == 20 && (s[19] == 'Z') && s[10] == 'T':
		if t, ok := fastTime(s[:19]); ok {
			return t, nil
		}
	case len(s) == 19 && s[10] == 'T':
		if t, ok := fastTime(s); ok {
			return t, nil
		}
	case len(s) == 10:
		if t, ok := fastDate(s); ok {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// fastTime reads "2006-01-02T15:04:05" as UTC; ok is false for anything
// time.Parse should judge instead.
func fastTime(s string) (time.Time, bool) {
	if s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	days, ok := civilDays(s[:10])
	if !ok {
		return time.Time{}, false
	}
	h, ok1 := num2(s[11], s[12])
	m, ok2 := num2(s[14], s[15])
	sec, ok3 := num2(s[17], s[18])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Unix(days*86400+int64(h*3600+m*60+sec), 0).UTC(), true
}

func fastDate(s string) (time.Time, bool) {
	days, ok := civilDays(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(days*86400, 0).UTC(), true
}

// civilDays reads "2006-01-02" as days since 1970-01-01 (Howard Hinnant's
// days_from_civil), for years 0001 to 9999.
func civilDays(s string) (int64, bool) {
	if s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y1, ok1 := num2(s[0], s[1])
	y2, ok2 := num2(s[2], s[3])
	mo, ok3 := num2(s[5], s[6])
	d, ok4 := num2(s[8], s[9])
	y := y1*100 + y2
	if !ok1 || !ok2 || !ok3 || !ok4 || y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) {
		return 0, false
	}
	if mo <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (mo + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 719468, true
}

func num2(a, b byte) (int, bool) {
	a -= '0'
	b -= '0'
	if a > 9 || b > 9 {
		return 0, false
	}
	return int(a)*10 + int(b), true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// ConvertValue types a decoded value as a field of type t. v is what
// encoding/json decodes with UseNumber (string, json.Number, bool, []any,
// map[string]any, nil) or a Go value a database driver returns (ints,
// floats, time.Time, time.Duration, slices, maps with string keys). Strings
// are read as TextParser reads them, so "12" is an int and "" is nil.
func ConvertValue(t *lang.FieldType, v any) (any, error) {
	return convert(t, v, false)
}

// convert is ConvertValue; elem says v is an element of a list or map,
// where an empty string is a string and null is not allowed.
func convert(t *lang.FieldType, v any, elem bool) (any, error) {
	if v == nil {
		if elem {
			return nil, errors.New("is null")
		}
		return nil, nil
	}
	if s, ok := v.(string); ok {
		if elem && (t == nil || t.Kind == "string") {
			return s, nil
		}
		if t != nil && (t.Kind == "list" || t.Kind == "map") {
			return nil, fmt.Errorf("is not a %s", t)
		}
		return TextParser(t)(s)
	}
	kind := "string"
	if t != nil {
		kind = t.Kind
	}
	switch kind {
	case "string":
		switch x := v.(type) {
		case json.Number:
			return string(x), nil
		case bool:
			return strconv.FormatBool(x), nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		}
		if f, ok := toFloat(v); ok {
			return strconv.FormatFloat(f, 'g', -1, 64), nil
		}
		return nil, errNotString
	case "int":
		if n, ok := toInt(v); ok {
			return n, nil
		}
		return nil, errNotInt
	case "double":
		if f, ok := toFloat(v); ok {
			return f, nil
		}
		return nil, errNotDouble
	case "bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case json.Number:
			if b, ok := parseBool(string(x)); ok {
				return b, nil
			}
		}
		return nil, errNotBool
	case "timestamp":
		if ts, ok := v.(time.Time); ok {
			return ts.UTC(), nil
		}
		return nil, errNotTimestamp
	case "duration":
		if d, ok := v.(time.Duration); ok {
			return d, nil
		}
		return nil, errNotDuration
	case "list":
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return nil, fmt.Errorf("is not a %s", t)
		}
		out := make([]any, rv.Len())
		for i := range out {
			e, err := convert(t.Elem, rv.Index(i).Interface(), true)
			if err == nil && e == nil {
				err = errors.New("is empty")
			}
			if err != nil {
				return nil, fmt.Errorf("is not a %s: element %d: %s %v", t, i, quoteValue(rv.Index(i).Interface()), err)
			}
			out[i] = e
		}
		return out, nil
	case "map":
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("is not a %s", t)
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().String()
			e, err := convert(t.Elem, it.Value().Interface(), true)
			if err == nil && e == nil {
				err = errors.New("is empty")
			}
			if err != nil {
				return nil, fmt.Errorf("is not a %s: key %q: %s %v", t, k, quoteValue(it.Value().Interface()), err)
			}
			out[k] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown field type %s", t)
}

// quoteValue shows a decoded value in an error message.
func quoteValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(shorten(x))
	case nil:
		return "null"
	case json.Number:
		return string(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return shorten(string(b))
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, true
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, false
		}
		return floatInt(f)
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case uint:
		if uint64(x) > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case float64:
		return floatInt(x)
	case float32:
		return floatInt(float64(x))
	}
	return 0, false
}

// floatInt accepts a float that is exactly an int (12.0, 1e3).
func floatInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < -(1<<53) || f > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int16:
		return float64(x), true
	case int8:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint:
		return float64(x), true
	}
	return 0, false
}
