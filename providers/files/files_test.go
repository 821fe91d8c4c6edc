package files

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func typ(s string) *lang.FieldType {
	if i := strings.IndexByte(s, '('); i > 0 {
		return &lang.FieldType{Kind: s[:i], Elem: typ(s[i+1 : len(s)-1])}
	}
	return &lang.FieldType{Kind: s}
}

// layout makes a layout from "name:type" pairs; the type is string when
// not given.
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

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// table is a files source over one table, written into a new directory.
type table struct {
	name, content string
	lay           *providers.Layout
	onError, key  string
	batch         int
}

func (tt table) open(t *testing.T) *Source {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "data", filepath.FromSlash(tt.name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
		t.Fatal(err)
	}
	req := providers.SourceRequest{
		Dir:      dir,
		Provider: &lang.Provider{Type: "files", Name: "cdp", Attributes: map[string]cty.Value{"dir": cty.StringVal("data")}},
		Source:   &lang.Source{Name: "t", Table: tt.name, OnError: tt.onError, Key: tt.key},
		Layout:   tt.lay,
	}
	s, err := providers.OpenSource(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

// read scans the whole table and returns a copy of every record's values.
func (tt table) read(t *testing.T) ([][]any, providers.ScanStats, error) {
	t.Helper()
	var rows [][]any
	stats, err := tt.open(t).Scan(context.Background(), tt.batch, func(batch []providers.Record) error {
		for _, r := range batch {
			rows = append(rows, append([]any(nil), r.Values...))
		}
		return nil
	})
	return rows, stats, err
}

func (tt table) want(t *testing.T, want [][]any) {
	t.Helper()
	got, stats, err := tt.read(t)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read\n%#v\nwant\n%#v", got, want)
	}
	if stats.Rows != int64(len(want)) {
		t.Fatalf("stats.Rows = %d, want %d", stats.Rows, len(want))
	}
}

func (tt table) wantErr(t *testing.T, msg string) {
	t.Helper()
	_, _, err := tt.read(t)
	if err == nil || err.Error() != msg {
		t.Fatalf("error\n%v\nwant\n%s", err, msg)
	}
}

var allKinds = layout("s", "i:int", "d:double", "b:bool", "ts:timestamp", "du:duration", "li:list(int)", "m:map(string)")

func TestCSVTypes(t *testing.T) {
	table{name: "t.csv", lay: allKinds, content: `s,i,d,b,ts,du,li,m
hello,42,12.5,true,2026-11-26T09:30:00Z,90m,"[1, 9007199254740993]","{""k"": ""v""}"
,,,,,,,
x,-7,1e3,NO,2026-11-26,1h,[],{}
y,0,0,Yes,2026-11-26T09:30:00+02:00,0s,,
`}.want(t, [][]any{
		{"hello", int64(42), 12.5, true, utc("2026-11-26T09:30:00Z"), 90 * time.Minute, []any{int64(1), int64(9007199254740993)}, map[string]any{"k": "v"}},
		{nil, nil, nil, nil, nil, nil, nil, nil},
		{"x", int64(-7), 1000.0, false, utc("2026-11-26T00:00:00Z"), time.Hour, []any{}, map[string]any{}},
		{"y", int64(0), 0.0, true, utc("2026-11-26T07:30:00Z"), time.Duration(0), nil, nil},
	})
}

func TestCSVFormat(t *testing.T) {
	lay := layout("a", "b", "c")
	tests := []struct {
		name, content string
		want          [][]any
	}{
		{"quoted", "a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"\"\n", [][]any{{"x, y", `say "hi"`, nil}}},
		{"line break in a field", "a,b,c\n\"one\ntwo\",\"3\r\n4\",z\nq,r,s\n", [][]any{{"one\ntwo", "3\n4", "z"}, {"q", "r", "s"}}},
		{"empty line in a quoted field", "a,b,c\n\"x\n\ny\",,\n", [][]any{{"x\n\ny", nil, nil}}},
		{"BOM", "\xEF\xBB\xBFa,b,c\n1,2,3\n", [][]any{{"1", "2", "3"}}},
		{"CRLF", "a,b,c\r\n1,2,3\r\n4,5,6\r\n", [][]any{{"1", "2", "3"}, {"4", "5", "6"}}},
		{"no final line break", "a,b,c\n1,2,3", [][]any{{"1", "2", "3"}}},
		{"blank lines", "a,b,c\n\n1,2,3\n\r\n\n4,5,6\n\n", [][]any{{"1", "2", "3"}, {"4", "5", "6"}}},
		{"header only", "a,b,c\n", nil},
		{"columns in another order", "c,a,b\n3,1,2\n", [][]any{{"1", "2", "3"}}},
		{"missing columns", "b\n2\n", [][]any{{nil, "2", nil}}},
		{"extra columns", "x,a,y,b,c,z\n0,1,0,2,3,0\n", [][]any{{"1", "2", "3"}}},
		{"spaces in the header", " a , b,c \n1,2,3\n", [][]any{{"1", "2", "3"}}},
		{"trailing comma", "a,b,c\n1,2,\n", [][]any{{"1", "2", nil}}},
		{"quoted last field", "a,b,c\n1,2,\"3\"\n", [][]any{{"1", "2", "3"}}},
		{"unicode", "a,b,c\nZoë,東京,\"Ünïcödé, yes\"\n", [][]any{{"Zoë", "東京", "Ünïcödé, yes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table{name: "t.csv", lay: lay, content: tt.content}.want(t, tt.want)
		})
	}
}

func TestCSVLongLine(t *testing.T) {
	long := strings.Repeat("x", 3*readBuffer+17)
	table{name: "t.csv", lay: layout("a", "b"), content: "a,b\n" + long + ",1\n\"" + long + "\n\",2\n"}.want(t, [][]any{
		{long, "1"}, {long + "\n", "2"},
	})
}

func TestCSVErrors(t *testing.T) {
	lay := layout("id", "ltv:double", "at:timestamp", "ok:bool")
	tests := []struct {
		name, content, err string
	}{
		{"bad double", "id,ltv\nc1,1.5\nc2,abc\n", `reading data/t.csv: t.csv row 3, column "ltv": "abc" is not a double`},
		{"bad timestamp", "id,at\nc1,2026-13-01\n", `t.csv row 2, column "at": "2026-13-01" is not a timestamp (RFC 3339 such as 2026-12-01T09:00:00Z, or 2026-12-01T09:00:00 or 2026-12-01 in UTC)`},
		{"bad bool", "id,ok\nc1,maybe\n", `t.csv row 2, column "ok": "maybe" is not a bool (true, false, yes, no, 1 or 0)`},
		{"row after a multi-line field", "id,ltv\n\"c\n1\",1\nc2,x\n", `t.csv row 3, column "ltv": "x" is not a double`},
		{"too few fields", "id,ltv\nc1\n", `t.csv row 2: has 1 fields, but the header has 2`},
		{"too many fields", "id,ltv\nc1,1,2\n", `t.csv row 2: has 3 fields, but the header has 2`},
		{"bare quote", "id,ltv\nc\"1,1\n", `t.csv row 2, column "id": "c\"1" has a quote in a field that is not quoted (quote the field, and write a quote inside it as "")`},
		{"text after a quote", "id,ltv\n\"c1\"x,1\n", `t.csv row 2, column "id": "\"c1\"x" has text after the closing quote (write a quote inside a quoted field as "")`},
		{"text after a quote on a later line", "id,ltv\nc1,\"1\n2\" \n", `t.csv row 2, column "ltv": "2\" " has text after the closing quote (write a quote inside a quoted field as "")`},
		{"unclosed quote", "id,ltv\nc1,\"1\nc2,2\n", `t.csv row 2, column "ltv": "\"1\nc2,2\n" has a quote that is not closed before the end of the file`},
		{"empty key", "id,ltv\n,1\n", `t.csv row 2, column "id": "" is empty, but it is the source's key and must be set on every row`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := table{name: "t.csv", lay: lay, key: "id", content: tt.content}.read(t)
			var re *providers.RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a RowError", err)
			}
			if re.Error() != strings.TrimPrefix(tt.err, "reading data/t.csv: ") {
				t.Fatalf("error\n%s\nwant\n%s", re.Error(), tt.err)
			}
		})
	}
}

func TestCSVFileErrors(t *testing.T) {
	lay := layout("id", "ltv:double")
	tests := []struct {
		name, content, err string
	}{
		{"empty file", "", "reading data/t.csv: the file is empty: a CSV table starts with a header row naming its columns"},
		{"duplicate column", "id,ltv,id\n", `reading data/t.csv: header: column "id" appears twice`},
		{"no key column", "ltv,name\n1,x\n", `reading data/t.csv: header: no column "id", the source's key; the columns are ltv, name`},
		{"bad header", "id,\"ltv\n", "reading data/t.csv: header: has a quote that is not closed before the end of the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table{name: "t.csv", lay: lay, key: "id", onError: "skip", content: tt.content}.wantErr(t, tt.err)
		})
	}
}

func TestSkip(t *testing.T) {
	for _, tt := range []table{
		{name: "t.csv", content: "id,n\n1,1\n2,x\n3,3\n4\n5,5.5\n6,6\n"},
		{name: "t.jsonl", content: `{"id":"1","n":1}
{"id":"2","n":"x"}
{"id":"3","n":3}
{"id":"4",
{"id":"5","n":5.5}
{"id":"6","n":6}
`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.lay, tt.key, tt.batch = layout("id", "n:int"), "id", 2
			tt.onError = "skip"
			got, stats, err := tt.read(t)
			if err != nil {
				t.Fatal(err)
			}
			want := [][]any{{"1", int64(1)}, {"3", int64(3)}, {"6", int64(6)}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("read %#v, want %#v", got, want)
			}
			first := map[string]string{
				"t.csv":   `t.csv row 3, column "n": "x" is not an int`,
				"t.jsonl": `t.jsonl row 2, column "n": "x" is not an int`,
			}[tt.name]
			if stats != (providers.ScanStats{Rows: 3, Skipped: 3, FirstSkipped: first}) {
				t.Fatalf("stats %+v", stats)
			}
			tt.onError = "fail"
			tt.wantErr(t, first)
		})
	}
}

// TestBatchReuse reads rows whose fields are set and unset in turn, in
// batches of several sizes, checking that no value of one batch shows
// through in the next.
func TestBatchReuse(t *testing.T) {
	var csv, jsonl strings.Builder
	csv.WriteString("id,n,s\n")
	var want [][]any
	for i := range 100 {
		row := []any{string(rune('a'+i%26)) + strings.Repeat("x", i), nil, nil}
		csv.WriteString(row[0].(string))
		jsonl.WriteString(`{"id":"` + row[0].(string) + `"`)
		if i%3 == 0 {
			row[1] = int64(i)
			jsonl.WriteString(`,"n":` + itoa(i))
		}
		if i%2 == 0 {
			row[2] = "s" + itoa(i)
			jsonl.WriteString(`,"s":"s` + itoa(i) + `"`)
		}
		csv.WriteString("," + str(row[1]) + "," + str(row[2]) + "\n")
		jsonl.WriteString("}\n")
		want = append(want, row)
	}
	for _, size := range []int{1, 2, 3, 7, 64, 100, 1000} {
		for name, content := range map[string]string{"t.csv": csv.String(), "t.jsonl": jsonl.String()} {
			tt := table{name: name, content: content, lay: layout("id", "n:int", "s"), batch: size}
			// Keep the Values slices themselves, and check them only after
			// the scan: records are reused, so they must hold the last rows
			// read into them, and the values taken out must not change.
			var seen [][]any
			var sizes []int
			src := tt.open(t)
			_, err := src.Scan(context.Background(), size, func(batch []providers.Record) error {
				sizes = append(sizes, len(batch))
				for _, r := range batch {
					seen = append(seen, append([]any(nil), r.Values...))
				}
				runtime.GC()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(seen, want) {
				t.Fatalf("%s, batches of %d: read\n%v\nwant\n%v", name, size, seen, want)
			}
			for i, n := range sizes {
				if n > size || (n < size && i != len(sizes)-1) {
					t.Fatalf("%s: batch sizes %v for a batch size of %d", name, sizes, size)
				}
			}
		}
	}
}

var itoa = strconv.Itoa

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return itoa(int(x))
	}
	return v.(string)
}

func TestNilLayout(t *testing.T) {
	src := table{name: "consents.csv", content: "customer_id,channel\nc1,email\nc2,\n"}.open(t)
	var rows [][]any
	var lay *providers.Layout
	_, err := src.Scan(context.Background(), 0, func(batch []providers.Record) error {
		for _, r := range batch {
			lay = r.Layout
			rows = append(rows, append([]any(nil), r.Values...))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lay.Names, []string{"customer_id", "channel"}) {
		t.Fatalf("layout %v", lay.Names)
	}
	if want := [][]any{{"c1", "email"}, {"c2", nil}}; !reflect.DeepEqual(rows, want) {
		t.Fatalf("read %v, want %v", rows, want)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"data/tables/x.csv", "data/customers.csv", "data/e.jsonl", "outside.csv"} {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("id\n1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prov := &lang.Provider{Type: "files", Name: "cdp", Attributes: map[string]cty.Value{"dir": cty.StringVal("data")}}
	open := func(table, query string, lay *providers.Layout) error {
		_, err := Open(context.Background(), providers.SourceRequest{Dir: dir, Provider: prov,
			Source: &lang.Source{Name: "customers", Table: table, Query: query}, Layout: lay})
		return err
	}
	lay := layout("id")
	for _, ok := range []string{"customers.csv", "tables/x.csv", "./tables/../customers.csv", "e.jsonl"} {
		if err := open(ok, "", lay); err != nil {
			t.Errorf("table %q: %v", ok, err)
		}
	}
	tests := []struct {
		table, query string
		lay          *providers.Layout
		err          string
	}{
		{"../outside.csv", "", lay, `source.customers: table "../outside.csv" is not inside the dir "data" of provider.files.cdp: name a file inside that directory, or change its dir`},
		{"tables/../../outside.csv", "", lay, `source.customers: table "tables/../../outside.csv" is not inside the dir "data" of provider.files.cdp`},
		{filepath.Join(dir, "outside.csv"), "", lay, `is not inside the dir "data" of provider.files.cdp`},
		{"missing.csv", "", lay, `source.customers: ` + filepath.Join("data", "missing.csv") + ` does not exist: put the table there, or change table = "missing.csv" or the dir of provider.files.cdp`},
		{"tables", "", lay, `source.customers: table "tables" has an unknown format: name a .csv file (with a header row) or a .jsonl file`},
		{"customers.xlsx", "", lay, `has an unknown format`},
		{"", "SELECT 1", lay, `source.customers: provider.files.cdp reads table files, not queries`},
		{"e.jsonl", "", nil, `source.customers: a JSONL table needs a schema to say which fields to read: set schema = schema.NAME`},
	}
	for _, tt := range tests {
		err := open(tt.table, tt.query, tt.lay)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("table %q: error %v\nwant %s", tt.table, err, tt.err)
		}
	}
	if err := open("missing.csv", "", lay); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing table is not fs.ErrNotExist: %v", err)
	}
}

func TestCallbackErrorAndCancel(t *testing.T) {
	var b strings.Builder
	b.WriteString("id\n")
	for i := range 10000 {
		b.WriteString("c" + itoa(i) + "\n")
	}
	tt := table{name: "t.csv", content: b.String(), lay: layout("id")}
	src := tt.open(t)
	stop := errors.New("stop")
	calls := 0
	stats, err := src.Scan(context.Background(), 10, func([]providers.Record) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 || stats.Rows != 30 {
		t.Fatalf("Scan = %+v, %v after %d calls; want the callback's error after 3", stats, err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	_, err = src.Scan(ctx, 10, func([]providers.Record) error {
		calls++
		if calls == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 2 {
		t.Fatalf("Scan after cancel = %v after %d calls", err, calls)
	}
	// The source can be scanned again after both.
	n := 0
	if _, err := src.Scan(context.Background(), 0, func(b []providers.Record) error { n += len(b); return nil }); err != nil || n != 10000 {
		t.Fatalf("rescan read %d rows, %v", n, err)
	}
}

func TestEmptyHeaderNames(t *testing.T) {
	table{name: "t.csv", lay: layout("a"), content: "a,,\n1,2,3\n"}.want(t, [][]any{{"1"}})
}

// TestPanicStopsReader checks that a panic in the callback does not leave
// the reading goroutine behind.
func TestPanicStopsReader(t *testing.T) {
	var b strings.Builder
	b.WriteString("id\n")
	for i := range 5000 {
		b.WriteString("c" + itoa(i) + "\n")
	}
	src := table{name: "t.csv", content: b.String(), lay: layout("id")}.open(t)
	before := runtime.NumGoroutine()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		src.Scan(context.Background(), 10, func([]providers.Record) error { panic("boom") })
	}()
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines after the scan, %d before", runtime.NumGoroutine(), before)
}
