package files

import (
	"hash/maphash"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// Kinds of field, switched over on the hot path instead of FieldType.Kind.
const (
	kString = iota
	kInt
	kDouble
	kBool
	kTimestamp
	kDuration
	kNested // list or map
)

func kindOf(t *lang.FieldType) int {
	if t == nil {
		return kString
	}
	switch t.Kind {
	case "int":
		return kInt
	case "double":
		return kDouble
	case "bool":
		return kBool
	case "timestamp":
		return kTimestamp
	case "duration":
		return kDuration
	case "list", "map":
		return kNested
	}
	return kString
}

// A typer turns text into the values of a layout's fields.
type typer struct {
	kinds   []int
	parsers []func(string) (any, error) // the slow path, and error messages
	caches  []*strCache                 // per string field, nil once it stops paying
}

func newTyper(lay *providers.Layout) typer {
	var t typer
	for _, ft := range lay.Types {
		k := kindOf(ft)
		t.kinds = append(t.kinds, k)
		t.parsers = append(t.parsers, providers.TextParser(ft))
		var c *strCache
		if k == kString {
			c = new(strCache)
		}
		t.caches = append(t.caches, c)
	}
	return t
}

// A strCache remembers the values of a string field that takes few
// distinct values (a country, a time zone, an event type), so that a row
// copies and boxes only what is new. It is a direct-mapped table: a value
// that collides with another is read again, never wrong. It gives up on a
// field whose values are mostly distinct, and is dropped with its scan.
type strCache struct {
	slots [cacheSlots]struct {
		s string
		v any
	}
	lookups, found int
}

const cacheSlots = 1024 // a power of two

var cacheSeed = maphash.MakeSeed()

func slot(s string) int { return int(maphash.String(cacheSeed, s) & (cacheSlots - 1)) }

// cached returns the value of string field i whose text is s, if it is
// known. s may be a view of a buffer: the cache does not keep it.
func (t *typer) cached(i int, s string) (any, bool) {
	c := t.caches[i]
	if c == nil {
		return nil, false
	}
	e := &c.slots[slot(s)]
	c.lookups++
	if e.v != nil && e.s == s {
		c.found++
		return e.v, true
	}
	if c.lookups == 1024 && c.found < c.lookups/2 {
		t.caches[i] = nil // mostly distinct values: ids, e-mail addresses
	}
	return nil, false
}

// str returns the value of string field i, s (not empty), remembering it.
func (t *typer) str(i int, s string) any {
	v := any(s)
	if c := t.caches[i]; c != nil {
		e := &c.slots[slot(s)]
		e.s, e.v = s, v
	}
	return v
}

// parse types s as field i, which is not a string field. s may be a view
// of a buffer that changes later: no value keeps it.
func (t *typer) parse(i int, s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	switch t.kinds[i] {
	case kInt:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	case kDouble:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
	case kTimestamp:
		if ts, err := providers.ParseTimestamp(s); err == nil {
			return ts, nil
		}
	case kDuration:
		if d, err := time.ParseDuration(s); err == nil {
			return d, nil
		}
	case kBool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	// Blanks around a value, other spellings, lists and maps; and the
	// error messages.
	return t.parsers[i](strings.Clone(s))
}

// text types s as field i; a string value is s itself.
func (t *typer) text(i int, s string) (any, error) {
	if t.kinds[i] != kString {
		return t.parse(i, s)
	}
	if s == "" {
		return nil, nil
	}
	if v, ok := t.cached(i, s); ok {
		return v, nil
	}
	return t.str(i, s), nil
}

// view returns b as a string without copying it; the string is valid while
// b is unchanged and must not be kept.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
