// Package providers is the one interface herald has to the outside world:
// data sources that stream tables (files, postgres) and, in later issues,
// channels that send and audiences that sync. Each provider type lives in
// providers/<name> and registers itself here.
package providers

import (
	"github.com/heraldhq/herald/lang"
)

// Layout maps a schema's field names to positions in a Record, so a hot loop
// reads a field by index instead of by name.
type Layout struct {
	Names []string
	Types []*lang.FieldType
	index map[string]int
}

// NewLayout returns the layout of s.
func NewLayout(s *lang.Schema) *Layout {
	l := &Layout{index: map[string]int{}}
	for _, f := range s.Fields {
		l.add(f.Name, f.Type)
	}
	return l
}

// NewLayoutOf returns a layout of the given fields, all of type string
// unless types says otherwise (for tables without a declared schema, such as
// consent records).
func NewLayoutOf(names []string, types map[string]*lang.FieldType) *Layout {
	l := &Layout{index: map[string]int{}}
	for _, n := range names {
		t := types[n]
		if t == nil {
			t = &lang.FieldType{Kind: "string"}
		}
		l.add(n, t)
	}
	return l
}

func (l *Layout) add(name string, t *lang.FieldType) {
	l.index[name] = len(l.Names)
	l.Names = append(l.Names, name)
	l.Types = append(l.Types, t)
}

// Index returns the position of a field, or -1.
func (l *Layout) Index(name string) int {
	if i, ok := l.index[name]; ok {
		return i
	}
	return -1
}

// Record is one row of a table, typed by its layout. Values[i] holds field
// i as string, int64, float64, bool, time.Time, time.Duration, []any or
// map[string]any; nil means the field is empty or absent.
type Record struct {
	Layout *Layout
	Values []any
}

// Field returns the value of the named field and whether it is set; it
// makes a Record usable as a CEL object (lang.Record).
func (r *Record) Field(name string) (any, bool) {
	i := r.Layout.Index(name)
	if i < 0 || r.Values[i] == nil {
		return nil, false
	}
	return r.Values[i], true
}

// String returns a string field, or "" when it is unset or not a string.
func (r *Record) String(name string) string {
	v, _ := r.Field(name)
	s, _ := v.(string)
	return s
}

var _ lang.Record = (*Record)(nil)
