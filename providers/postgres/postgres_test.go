package postgres

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func typ(s string) *lang.FieldType {
	if i := strings.IndexByte(s, '('); i > 0 {
		return &lang.FieldType{Kind: s[:i], Elem: typ(s[i+1 : len(s)-1])}
	}
	return &lang.FieldType{Kind: s}
}

func layout(fields ...string) *providers.Layout {
	var names []string
	types := map[string]*lang.FieldType{}
	for _, f := range fields {
		name, t, ok := strings.Cut(f, ":")
		names = append(names, name)
		if ok {
			types[name] = typ(t)
		}
	}
	return providers.NewLayoutOf(names, types)
}

// database starts a database and runs the statements in it.
func database(t *testing.T, stmts ...string) string {
	t.Helper()
	url := pgtest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return url
}

type source struct {
	url, table, query, schema, onError, key string
	lay                                     *providers.Layout
}

func (s source) request() providers.SourceRequest {
	attrs := map[string]cty.Value{"url": cty.StringVal(s.url)}
	if s.schema != "" {
		attrs["schema"] = cty.StringVal(s.schema)
	}
	return providers.SourceRequest{
		Provider: &lang.Provider{Type: "postgres", Name: "crm", Attributes: attrs},
		Source:   &lang.Source{Name: "customers", Table: s.table, Query: s.query, OnError: s.onError, Key: s.key},
		Layout:   s.lay,
	}
}

func (s source) open(t *testing.T) *Source {
	t.Helper()
	src, err := providers.OpenSource(context.Background(), s.request())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src.(*Source)
}

func readAll(t *testing.T, scan func(fn func([]providers.Record) error) (providers.ScanStats, error)) ([][]any, providers.ScanStats, error) {
	t.Helper()
	var rows [][]any
	stats, err := scan(func(batch []providers.Record) error {
		for _, r := range batch {
			rows = append(rows, append([]any(nil), r.Values...))
		}
		return nil
	})
	return rows, stats, err
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestTypes(t *testing.T) {
	url := database(t, `
CREATE TABLE t (
	n int, s text, v varchar(10), c char(4), i2 smallint, i4 integer, i8 bigint, num numeric, f4 real, f8 double precision,
	b boolean, tz timestamptz, ts timestamp, d date, iv interval, j json, jb jsonb, arr int[], tags text[], u uuid, st text, e text
);
INSERT INTO t VALUES (
	1, 'hello', 'var', 'ab', 2, 4, 9007199254740993, 12.50, 0.5, 2.25,
	true, '2026-11-26 09:30:00+02', '2026-11-26 09:30:00', '2026-11-26', '1 day 2 hours 3 minutes', '{"a": [1, 2]}', '{"k": 9007199254740993}', '{1,2,3}', '{a,b}',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2026-01-02', 'skipped'
);
INSERT INTO t (n) VALUES (2);
INSERT INTO t (n, s, num, j, iv) VALUES (3, '', 'NaN', '{}', '1 mon');
`)
	lay := layout("n:int", "s", "v", "c", "i2:int", "i4:double", "i8:int", "num:double", "f4:double", "f8:double",
		"b:bool", "tz:timestamp", "ts:timestamp", "d:timestamp", "iv:duration", "j:map(list(int))", "jb:map(int)", "arr:list(int)", "tags:list(string)",
		"u", "st:timestamp", "absent:int")
	rows, stats, err := readAll(t, func(fn func([]providers.Record) error) (providers.ScanStats, error) {
		return source{url: url, table: "t", lay: lay}.open(t).Scan(context.Background(), 2, fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != 3 || len(rows) != 3 {
		t.Fatalf("read %d rows (stats %+v)", len(rows), stats)
	}
	// Rows come back in insertion order from a fresh heap table.
	want := []any{int64(1), "hello", "var", "ab", int64(2), 4.0, int64(9007199254740993), 12.5, 0.5, 2.25,
		true, utc("2026-11-26T07:30:00Z"), utc("2026-11-26T09:30:00Z"), utc("2026-11-26T00:00:00Z"), 26*time.Hour + 3*time.Minute,
		map[string]any{"a": []any{int64(1), int64(2)}}, map[string]any{"k": int64(9007199254740993)}, []any{int64(1), int64(2), int64(3)}, []any{"a", "b"},
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", utc("2026-01-02T00:00:00Z"), nil}
	if !reflect.DeepEqual(rows[0], want) {
		for i := range want {
			if !reflect.DeepEqual(rows[0][i], want[i]) {
				t.Errorf("%s = %#v, want %#v", lay.Names[i], rows[0][i], want[i])
			}
		}
	}
	for i, v := range rows[1] {
		if (i == 0 && v != int64(2)) || (i > 0 && v != nil) {
			t.Errorf("row 2: %s = %#v", lay.Names[i], v)
		}
	}
	if rows[2][1] != nil || !math.IsNaN(rows[2][7].(float64)) || rows[2][14] != 30*24*time.Hour {
		t.Errorf("row 3: %#v", rows[2])
	}
	// Every type read as a string.
	strs := layout("j", "d", "iv", "i8", "num", "b", "u")
	if _, err := (source{url: url, query: "SELECT * FROM t WHERE n = 1", lay: strs}).open(t).Scan(context.Background(), 0, func(b []providers.Record) error {
		want := []any{`{"a": [1, 2]}`, "2026-11-26T00:00:00Z", "26h3m0s", "9007199254740993", "12.50", "true", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}
		for i, w := range want {
			if got := b[0].Values[i]; got != w {
				t.Errorf("%s read as a string: %#v, want %#v", strs.Names[i], got, w)
			}
		}
		return errStop
	}); err != errStop {
		t.Fatal(err)
	}
	_, err = (source{url: url, table: "t", lay: layout("arr")}).open(t).Scan(context.Background(), 0, func([]providers.Record) error { return nil })
	if err == nil || err.Error() != `t row 1, column "arr": "[1,2,3]" is not a string` {
		t.Fatalf("a list read as a string: %v", err)
	}
}

var errStop = errors.New("stop")

func TestQueryAndScanWhere(t *testing.T) {
	url := database(t,
		`CREATE SCHEMA crm`,
		`CREATE TABLE crm."Customers" (id text PRIMARY KEY, ltv numeric, country text)`,
		`INSERT INTO crm."Customers" SELECT 'c' || g, g * 10, CASE WHEN g % 2 = 0 THEN 'US' ELSE 'DE' END FROM generate_series(1, 2500) g`)
	lay := layout("id", "ltv:double", "country")
	ctx := context.Background()
	count := func(scan func(fn func([]providers.Record) error) (providers.ScanStats, error)) int {
		t.Helper()
		rows, stats, err := readAll(t, scan)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Rows != int64(len(rows)) {
			t.Fatalf("stats.Rows %d for %d rows", stats.Rows, len(rows))
		}
		return len(rows)
	}
	for _, s := range []source{
		{table: "Customers", schema: "crm"},
		{table: "crm.Customers"},
		{query: `SELECT id, ltv, country, 1 AS other FROM crm."Customers";`},
	} {
		s.url, s.lay, s.key = url, lay, "id"
		src := s.open(t)
		if n := count(func(fn func([]providers.Record) error) (providers.ScanStats, error) { return src.Scan(ctx, 1000, fn) }); n != 2500 {
			t.Errorf("%s: Scan read %d rows", src.SelectSQL(), n)
		}
		n := count(func(fn func([]providers.Record) error) (providers.ScanStats, error) {
			return src.ScanWhere(ctx, `"ltv" >= $1 AND "country" = $2`, []any{20000, "US"}, 100, fn)
		})
		if n != 251 {
			t.Errorf("%s: ScanWhere read %d rows, want 251", src.SelectSQL(), n)
		}
	}
}

func TestErrors(t *testing.T) {
	url := database(t,
		`CREATE TABLE t (id text, n text, at text)`,
		`INSERT INTO t VALUES ('a', '1', '2026-01-01'), ('b', 'x', NULL), ('c', '3', 'soon'), (NULL, '4', NULL), ('e', '5', NULL)`)
	lay := layout("id", "n:int", "at:timestamp")
	ctx := context.Background()
	_, _, err := readAll(t, func(fn func([]providers.Record) error) (providers.ScanStats, error) {
		return source{url: url, table: "t", lay: lay, key: "id"}.open(t).Scan(ctx, 0, fn)
	})
	if err == nil || err.Error() != `t row 2, column "n": "x" is not an int` {
		t.Fatalf("error %v", err)
	}
	rows, stats, err := readAll(t, func(fn func([]providers.Record) error) (providers.ScanStats, error) {
		return source{url: url, table: "t", lay: lay, key: "id", onError: "skip"}.open(t).Scan(ctx, 0, fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || stats.Skipped != 3 || stats.FirstSkipped != `t row 2, column "n": "x" is not an int` {
		t.Fatalf("rows %v, stats %+v", rows, stats)
	}

	for _, tt := range []struct {
		s   source
		err string
	}{
		{source{table: "missing", lay: lay}, `source.customers: reading missing: ERROR: relation "missing" does not exist`},
		{source{table: "t", lay: layout("key"), key: "key"}, `source.customers: t has no column "key", the source's key; its columns are id, n, at`},
		{source{query: "SELEC 1", lay: lay}, `source.customers: reading query: ERROR: syntax error`},
		{source{table: "t"}, `a postgres source needs a schema`},
	} {
		tt.s.url = url
		_, err := providers.OpenSource(ctx, tt.s.request())
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("error %v\nwant %s", err, tt.err)
		}
	}
	req := source{table: "t", lay: lay, url: "postgres://user:secret@[::1"}.request()
	if _, err := providers.OpenSource(ctx, req); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a bad url: %v", err)
	}
	req.Provider.Attributes["url"] = cty.UnknownVal(cty.String)
	req.Provider.Unset = map[string]lang.Unset{"url": {Env: []string{"CRM_URL"}}}
	if _, err := providers.OpenSource(ctx, req); err == nil || !strings.Contains(err.Error(), "set the environment variable CRM_URL") {
		t.Errorf("an unset url: %v", err)
	}
}

// TestBatchReuse checks that no value of one batch shows through in the
// next when a field is NULL.
func TestBatchReuse(t *testing.T) {
	url := database(t,
		`CREATE TABLE t (id int, s text)`,
		`INSERT INTO t SELECT g, CASE WHEN g % 3 = 0 THEN 's' || g END FROM generate_series(1, 100) g`)
	rows, _, err := readAll(t, func(fn func([]providers.Record) error) (providers.ScanStats, error) {
		return source{url: url, query: "SELECT * FROM t ORDER BY id", lay: layout("id:int", "s")}.open(t).Scan(context.Background(), 7, fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		g := i + 1
		var want any
		if g%3 == 0 {
			want = "s" + itoa(g)
		}
		if r[0] != int64(g) || r[1] != want {
			t.Fatalf("row %d: %#v", g, r)
		}
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
