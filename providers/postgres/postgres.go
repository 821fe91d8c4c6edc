// Package postgres is the "postgres" data provider: a table or a query of a
// PostgreSQL database, streamed row by row with pgx and typed by the
// source's schema.
//
// A source selects only the layout's columns. ScanWhere runs the same
// select with a WHERE clause, for segments the planner compiles from CEL to
// parameterised SQL so that they run where the data lives.
package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func init() { providers.RegisterSource("postgres", Factory) }

// Factory is the providers.SourceFactory of the postgres provider.
func Factory(ctx context.Context, req providers.SourceRequest) (providers.Source, error) {
	s, err := Open(ctx, req)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Source is one table or query of a PostgreSQL database. It holds a small
// pool of connections, so that several scans may run at once.
type Source struct {
	pool  *pgxpool.Pool
	name  string // "source.NAME", for messages
	from  string // the FROM clause: a quoted table name, or (query) AS q
	table string // the table as row errors name it
	lay   *providers.Layout
	// fields are the layout indexes of the columns selected, in order;
	// the layout's other fields are not columns of the table, and are nil.
	fields []int
	list   string // the select list
	skip   bool
	key    int // layout index of the source's key, or -1
}

// Open connects to the provider's database and checks that the source's
// table or query can be read: it asks for its columns, and selects those of
// the layout that it has.
func Open(ctx context.Context, req providers.SourceRequest) (*Source, error) {
	if req.Provider == nil || req.Source == nil {
		return nil, errors.New("postgres: source request without a provider or a source")
	}
	src, prov := req.Source, req.Provider
	s := &Source{name: "source." + src.Name, lay: req.Layout, skip: src.OnError == "skip", key: -1}
	if s.lay == nil {
		return nil, fmt.Errorf("%s: a postgres source needs a schema to say which columns to read: set schema = schema.NAME", s.name)
	}
	url, err := stringAttr(prov, "url")
	if err != nil || url == "" {
		hint := "set url = \"postgres://…\""
		if h := prov.Unset["url"].Hint(); h != "" {
			hint = h
		}
		return nil, fmt.Errorf("%s: provider.%s has no url: %s", s.name, prov.Address(), hint)
	}
	schema, err := stringAttr(prov, "schema")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	switch {
	case src.Query != "" && src.Table != "":
		return nil, fmt.Errorf("%s: both table and query are set; remove one of them", s.name)
	case src.Query != "":
		q := strings.TrimRight(strings.TrimSpace(src.Query), "; \t\r\n")
		s.from, s.table = "("+q+") AS q", "query"
	case src.Table != "":
		id := pgx.Identifier{src.Table}
		if schema != "" {
			id = pgx.Identifier{schema, src.Table}
		} else if strings.Contains(src.Table, ".") {
			id = strings.Split(src.Table, ".")
		}
		s.from, s.table = id.Sanitize(), src.Table
	default:
		return nil, fmt.Errorf("%s: no table: set table = \"%s\" or query = \"SELECT …\"", s.name, src.Name)
	}

	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: say what is wrong without it.
		return nil, fmt.Errorf("%s: the url of provider.%s is not a PostgreSQL connection URL", s.name, prov.Address())
	}
	if cfg.MaxConns > 4 {
		cfg.MaxConns = 4
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: connecting to provider.%s: %w", s.name, prov.Address(), err)
	}
	if err := s.columns(ctx, src.Key); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return s, nil
}

// columns finds which of the layout's fields the table has.
func (s *Source) columns(ctx context.Context, key string) error {
	rows, err := s.pool.Query(ctx, "SELECT * FROM "+s.from+" LIMIT 0")
	if err != nil {
		return fmt.Errorf("reading %s: %w", s.table, err)
	}
	have := map[string]bool{}
	var names []string
	for _, fd := range rows.FieldDescriptions() {
		have[fd.Name] = true
		names = append(names, fd.Name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", s.table, err)
	}
	var list []string
	for i, n := range s.lay.Names {
		if have[n] {
			s.fields = append(s.fields, i)
			list = append(list, pgx.Identifier{n}.Sanitize())
		}
	}
	s.list = strings.Join(list, ", ")
	if key != "" {
		if s.key = s.lay.Index(key); s.key >= 0 && !have[key] {
			return fmt.Errorf("%s has no column %q, the source's key; its columns are %s", s.table, key, strings.Join(names, ", "))
		}
	}
	return nil
}

func stringAttr(p *lang.Provider, name string) (string, error) {
	v, ok := p.Attributes[name]
	if !ok || v == cty.NilVal || v.IsNull() {
		return "", nil
	}
	if !v.IsWhollyKnown() || v.Type() != cty.String {
		return "", fmt.Errorf("the %s of provider.%s is not a known string", name, p.Address())
	}
	return v.AsString(), nil
}

// Close closes the source's connections.
func (s *Source) Close() error {
	s.pool.Close()
	return nil
}

// SelectSQL returns the statement Scan runs: the layout's columns of the
// table or query.
func (s *Source) SelectSQL() string { return "SELECT " + s.list + " FROM " + s.from }

// Scan streams the whole table or query.
func (s *Source) Scan(ctx context.Context, batchSize int, fn func([]providers.Record) error) (providers.ScanStats, error) {
	return s.ScanWhere(ctx, "", nil, batchSize, fn)
}

// ScanWhere streams the rows of the table or query for which where holds:
// it runs SELECT cols FROM table WHERE where, with args as the values of
// the parameters $1, $2… in where. An empty where selects every row.
//
// where is SQL put into the statement as it is: it must come from herald's
// CEL-to-SQL compiler, with every value of the project passed in args.
func (s *Source) ScanWhere(ctx context.Context, where string, args []any, batchSize int, fn func([]providers.Record) error) (providers.ScanStats, error) {
	var stats providers.ScanStats
	if batchSize <= 0 {
		batchSize = providers.DefaultBatchSize
	}
	sql := s.SelectSQL()
	if where != "" {
		sql += " WHERE " + where
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return stats, fmt.Errorf("%s: reading %s: %w", s.name, s.table, err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	if len(fds) != len(s.fields) {
		return stats, fmt.Errorf("%s: reading %s: %d columns, want %d", s.name, s.table, len(fds), len(s.fields))
	}
	decs := make([]decoder, len(fds))
	for c, fd := range fds {
		decs[c] = decoderFor(rows.Conn().TypeMap(), fd, s.lay.Types[s.fields[c]])
	}

	nf := len(s.lay.Names)
	vals := make([]any, batchSize*nf)
	recs := make([]providers.Record, batchSize)
	for i := range recs {
		recs[i] = providers.Record{Layout: s.lay, Values: vals[i*nf : (i+1)*nf : (i+1)*nf]}
	}
	n := 0
	var row int64
	for rows.Next() {
		row++
		rec := recs[n].Values
		clear(rec)
		if bad := s.decode(rows.RawValues(), decs, rec, row); bad != nil {
			if !s.skip {
				return stats, bad
			}
			if stats.Skipped == 0 {
				stats.FirstSkipped = bad.Error()
			}
			stats.Skipped++
			continue
		}
		n++
		if n == batchSize {
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			stats.Rows += int64(n)
			if err := fn(recs[:n]); err != nil {
				return stats, err
			}
			n = 0
		}
	}
	if err := rows.Err(); err != nil {
		return stats, fmt.Errorf("%s: reading %s: %w", s.name, s.table, err)
	}
	if n > 0 {
		stats.Rows += int64(n)
		if err := fn(recs[:n]); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// decode types one row into rec.
func (s *Source) decode(raw [][]byte, decs []decoder, rec []any, row int64) *providers.RowError {
	for c, src := range raw {
		if src == nil {
			continue
		}
		i := s.fields[c]
		v, shown, err := decs[c](src)
		if err != nil {
			return &providers.RowError{Table: s.table, Row: row, Column: s.lay.Names[i], Value: shown, Err: err}
		}
		rec[i] = v
	}
	if s.key >= 0 && rec[s.key] == nil {
		return &providers.RowError{Table: s.table, Row: row, Column: s.lay.Names[s.key],
			Err: errors.New("is empty, but it is the source's key and must be set on every row")}
	}
	return nil
}

// A decoder types the raw value of one column (never NULL); on an error it
// also returns the value as text, for the message.
type decoder func(src []byte) (v any, shown string, err error)

func decoderFor(m *pgtype.Map, fd pgconn.FieldDescription, t *lang.FieldType) decoder {
	kind := "string"
	if t != nil {
		kind = t.Kind
	}
	text := providers.TextParser(t)
	oid, format := fd.DataTypeOID, fd.Format
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.NameOID, pgtype.BPCharOID, pgtype.UnknownOID:
		// Text is the same in the text and the binary format.
		trim := oid == pgtype.BPCharOID
		return func(src []byte) (any, string, error) {
			if trim {
				src = bytes.TrimRight(src, " ")
			}
			s := string(src)
			if kind == "string" {
				if s == "" {
					return nil, "", nil
				}
				return s, "", nil
			}
			v, err := text(s)
			return v, s, err
		}
	case pgtype.JSONOID, pgtype.JSONBOID:
		return func(src []byte) (any, string, error) {
			if oid == pgtype.JSONBOID && format == pgtype.BinaryFormatCode {
				if len(src) == 0 || src[0] != 1 {
					return nil, "", errors.New("is not jsonb of a known version")
				}
				src = src[1:]
			}
			d := json.NewDecoder(bytes.NewReader(src))
			d.UseNumber()
			var x any
			if err := d.Decode(&x); err != nil {
				return nil, "", fmt.Errorf("is not valid JSON: %v", err)
			}
			if kind == "string" {
				if _, ok := x.(string); !ok && x != nil {
					// A JSON object or list read as a string keeps its text.
					return strings.TrimSpace(string(src)), "", nil
				}
			}
			v, err := providers.ConvertValue(t, x)
			return v, string(src), err
		}
	}
	if dt, ok := m.TypeForOID(oid); ok {
		return func(src []byte) (any, string, error) {
			x, err := dt.Codec.DecodeValue(m, oid, format, src)
			if err != nil {
				return nil, "", fmt.Errorf("cannot be read as %s: %v", dt.Name, err)
			}
			x, err = normalize(x, kind)
			if err != nil {
				return nil, show(x), err
			}
			if kind == "string" {
				x = asText(x)
			}
			v, err := providers.ConvertValue(t, x)
			if err != nil {
				return nil, show(x), err
			}
			return v, "", nil
		}
	}
	if format == pgtype.TextFormatCode {
		// A type pgx does not know (an enum, a domain, citext…) comes as
		// text.
		return func(src []byte) (any, string, error) {
			s := string(src)
			if kind == "string" {
				if s == "" {
					return nil, "", nil
				}
				return s, "", nil
			}
			v, err := text(s)
			return v, s, err
		}
	}
	return func(src []byte) (any, string, error) {
		return nil, "", fmt.Errorf("has the PostgreSQL type with OID %d, which herald cannot read", oid)
	}
}

// normalize turns what pgx decodes into what providers.ConvertValue takes.
func normalize(x any, kind string) (any, error) {
	switch v := x.(type) {
	case pgtype.Numeric:
		switch {
		case !v.Valid:
			return nil, nil
		case v.NaN:
			return math.NaN(), nil
		case v.InfinityModifier == pgtype.Infinity:
			return math.Inf(1), nil
		case v.InfinityModifier == pgtype.NegativeInfinity:
			return math.Inf(-1), nil
		}
		b, err := v.MarshalJSON() // the exact decimal text
		if err != nil {
			return nil, err
		}
		return json.Number(b), nil
	case pgtype.Interval:
		if !v.Valid {
			return nil, nil
		}
		// A month is 30 days, as PostgreSQL counts it in EXTRACT(EPOCH …).
		return time.Duration(v.Microseconds)*time.Microsecond +
			time.Duration(v.Days)*24*time.Hour + time.Duration(v.Months)*30*24*time.Hour, nil
	case pgtype.InfinityModifier:
		return v.String(), errors.New("is not a finite time")
	case [16]byte: // uuid
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16]), nil
	case time.Time:
		return v.UTC(), nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			n, err := normalize(e, "")
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	return x, nil
}

// asText renders a value of a type that has no string form of its own, for
// a string field: a date or time, an interval, bytes, an address.
func asText(x any) any {
	switch v := x.(type) {
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case time.Duration:
		return v.String()
	case []byte:
		return string(v)
	case fmt.Stringer:
		return v.String()
	}
	return x
}

// show renders a decoded value for an error message.
func show(x any) string {
	switch v := x.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(x); err == nil {
		return strings.TrimSpace(b.String())
	}
	return fmt.Sprint(x)
}

var _ providers.Source = (*Source)(nil)
