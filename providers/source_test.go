package providers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

func ft(s string) *lang.FieldType {
	switch {
	case strings.HasPrefix(s, "list(") || strings.HasPrefix(s, "map("):
		i := strings.IndexByte(s, '(')
		return &lang.FieldType{Kind: s[:i], Elem: ft(s[i+1 : len(s)-1])}
	}
	return &lang.FieldType{Kind: s}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestParseText(t *testing.T) {
	tests := []struct {
		typ, in string
		want    any
		err     string
	}{
		{"string", "hello", "hello", ""},
		{"string", " padded ", " padded ", ""},
		{"string", "", nil, ""},
		{"int", "42", int64(42), ""},
		{"int", "-9223372036854775808", int64(-9223372036854775808), ""},
		{"int", " 7 ", int64(7), ""},
		{"int", "", nil, ""},
		{"int", "1.5", nil, "is not an int"},
		{"int", "9223372036854775808", nil, "is not an int"},
		{"int", "abc", nil, "is not an int"},
		{"double", "12.50", 12.5, ""},
		{"double", "-1e3", -1000.0, ""},
		{"double", "7", 7.0, ""},
		{"double", "abc", nil, "is not a double"},
		{"bool", "true", true, ""},
		{"bool", "FALSE", false, ""},
		{"bool", "Yes", true, ""},
		{"bool", "no", false, ""},
		{"bool", "1", true, ""},
		{"bool", "0", false, ""},
		{"bool", "y", nil, "is not a bool (true, false, yes, no, 1 or 0)"},
		{"bool", "2", nil, "is not a bool (true, false, yes, no, 1 or 0)"},
		{"timestamp", "2026-11-26T09:30:00Z", utc("2026-11-26T09:30:00Z"), ""},
		{"timestamp", "2026-11-26T09:30:00.250Z", utc("2026-11-26T09:30:00.25Z"), ""},
		{"timestamp", "2026-11-26T09:30:00+02:00", utc("2026-11-26T07:30:00Z"), ""},
		{"timestamp", "2026-11-26T09:30:00", utc("2026-11-26T09:30:00Z"), ""},
		{"timestamp", "2026-11-26", utc("2026-11-26T00:00:00Z"), ""},
		{"timestamp", "2024-02-29", utc("2024-02-29T00:00:00Z"), ""},
		{"timestamp", "2026-02-29", nil, "is not a timestamp"},
		{"timestamp", "2026-11-26T24:00:00Z", nil, "is not a timestamp"},
		{"timestamp", "26/11/2026", nil, "is not a timestamp"},
		{"duration", "90m", 90 * time.Minute, ""},
		{"duration", "1h30m", 90 * time.Minute, ""},
		{"duration", "-2s", -2 * time.Second, ""},
		{"duration", "3 days", nil, "is not a duration"},
		{"list(int)", "[1, 2, 9007199254740993]", []any{int64(1), int64(2), int64(9007199254740993)}, ""},
		{"list(string)", `["a", "", "c,d"]`, []any{"a", "", "c,d"}, ""},
		{"list(timestamp)", `["2026-01-02"]`, []any{utc("2026-01-02T00:00:00Z")}, ""},
		{"list(int)", "[]", []any{}, ""},
		{"list(int)", "null", nil, ""},
		{"list(int)", `[1, "x"]`, nil, `is not a list(int): element 1: "x" is not an int`},
		{"list(int)", `[1, null]`, nil, `is not a list(int): element 1: null is null`},
		{"list(int)", `{"a": 1}`, nil, `is not a list(int)`},
		{"list(int)", `[1,`, nil, `is not a list(int): invalid JSON`},
		{"list(int)", `[1] x`, nil, `is not a list(int): invalid JSON: text after the value`},
		{"map(double)", `{"a": 1, "b": 2.5}`, map[string]any{"a": 1.0, "b": 2.5}, ""},
		{"map(list(bool))", `{"a": [true, false]}`, map[string]any{"a": []any{true, false}}, ""},
		{"map(double)", `{"a": "x"}`, nil, `is not a map(double): key "a": "x" is not a double`},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.in, func(t *testing.T) {
			got, err := providers.ParseText(ft(tt.typ), tt.in)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("ParseText(%s, %q) = %v, %v; want error %q", tt.typ, tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseText(%s, %q): %v", tt.typ, tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseText(%s, %q) = %#v, want %#v", tt.typ, tt.in, got, tt.want)
			}
			if ts, ok := got.(time.Time); ok && ts.Location() != time.UTC {
				t.Fatalf("timestamp in %v, want UTC", ts.Location())
			}
		})
	}
}

// TestParseTimestampAgrees checks the hand-written fast path against
// time.Parse on dates around every month end of many years, and on times
// at the edges of the day.
func TestParseTimestampAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var inputs []string
	for _, y := range []int{1, 4, 99, 100, 400, 1600, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 9999} {
		for m := 1; m <= 12; m++ {
			for _, d := range []int{0, 1, 28, 29, 30, 31, 32} {
				inputs = append(inputs, fmt.Sprintf("%04d-%02d-%02d", y, m, d))
			}
		}
	}
	inputs = append(inputs, "0000-01-01", "2024-1-01", "2024-01-1x", "+024-01-01", "2024/01/01")
	for _, clock := range []string{"00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "1a:00:00", "12-00-00"} {
		for _, date := range []string{"2024-02-29", "2023-02-29", "1970-01-01", "1969-12-31"} {
			inputs = append(inputs, date+"T"+clock+"Z", date+"T"+clock, date+"t"+clock+"z", date+"T"+clock+"+00:00")
		}
	}
	for range 2000 {
		sec := r.Int64N(253402300799) - 62135596800 // years 0001 to 9999
		inputs = append(inputs, time.Unix(sec, 0).UTC().Format(time.RFC3339))
	}
	for _, in := range inputs {
		var want time.Time
		var wantErr error
		switch len(in) {
		case 10:
			want, wantErr = time.Parse("2006-01-02", in)
		case 19:
			want, wantErr = time.Parse("2006-01-02T15:04:05", in)
		default:
			want, wantErr = time.Parse(time.RFC3339, in)
		}
		got, err := providers.ParseTimestamp(in)
		if (err != nil) != (wantErr != nil) || !got.Equal(want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; time.Parse gives %v, %v", in, got, err, want, wantErr)
		}
		if err == nil && got.Location() != time.UTC {
			t.Errorf("ParseTimestamp(%q) is in %v, want UTC", in, got.Location())
		}
	}
}

func TestConvertValue(t *testing.T) {
	tests := []struct {
		typ  string
		in   any
		want any
		err  string
	}{
		{"int", json.Number("9007199254740993"), int64(9007199254740993), ""},
		{"int", json.Number("12.0"), int64(12), ""},
		{"int", json.Number("1e3"), int64(1000), ""},
		{"int", json.Number("1.5"), nil, "is not an int"},
		{"int", int32(7), int64(7), ""},
		{"int", uint64(1 << 63), nil, "is not an int"},
		{"int", "12", int64(12), ""},
		{"int", true, nil, "is not an int"},
		{"double", json.Number("2.5"), 2.5, ""},
		{"double", int64(3), 3.0, ""},
		{"double", float32(0.5), 0.5, ""},
		{"string", json.Number("123"), "123", ""},
		{"string", true, "true", ""},
		{"string", "", nil, ""},
		{"string", []any{"a"}, nil, "is not a string"},
		{"bool", json.Number("1"), true, ""},
		{"bool", "no", false, ""},
		{"timestamp", time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)), utc("2026-01-02T02:04:05Z"), ""},
		{"timestamp", "2026-01-02T03:04:05Z", utc("2026-01-02T03:04:05Z"), ""},
		{"timestamp", json.Number("1700000000"), nil, "is not a timestamp"},
		{"duration", time.Minute, time.Minute, ""},
		{"duration", "1m", time.Minute, ""},
		{"list(int)", []int32{1, 2}, []any{int64(1), int64(2)}, ""},
		{"list(string)", []string{"a", ""}, []any{"a", ""}, ""},
		{"list(int)", "[1]", nil, "is not a list(int)"},
		{"map(int)", map[string]any{"a": json.Number("1")}, map[string]any{"a": int64(1)}, ""},
		{"map(int)", map[int]any{1: 1}, nil, "is not a map(int)"},
		{"int", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.typ, tt.in), func(t *testing.T) {
			got, err := providers.ConvertValue(ft(tt.typ), tt.in)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("ConvertValue(%s, %#v) = %v, %v; want error %q", tt.typ, tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConvertValue(%s, %#v): %v", tt.typ, tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ConvertValue(%s, %#v) = %#v, want %#v", tt.typ, tt.in, got, tt.want)
			}
		})
	}
}

func TestRowError(t *testing.T) {
	_, err := providers.ParseText(ft("double"), "abc")
	e := &providers.RowError{Table: "customers.csv", Row: 12, Column: "ltv", Value: "abc", Err: err}
	if got, want := e.Error(), `customers.csv row 12, column "ltv": "abc" is not a double`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !errors.Is(e, err) {
		t.Error("RowError does not unwrap to its cause")
	}
	e = &providers.RowError{Table: "events.jsonl", Row: 3, Err: errors.New("invalid JSON at byte 7: expected ':' after an object key")}
	if got, want := e.Error(), `events.jsonl row 3: invalid JSON at byte 7: expected ':' after an object key`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	e = &providers.RowError{Table: "t.csv", Row: 2, Column: "c", Value: strings.Repeat("é", 100), Err: errors.New("is bad")}
	if got := e.Error(); !strings.Contains(got, `..." is bad`) || len(got) > 120 {
		t.Errorf("a long value is not shortened: %s", got)
	}
}

type fakeSource struct{ req providers.SourceRequest }

func (f *fakeSource) Scan(context.Context, int, func([]providers.Record) error) (providers.ScanStats, error) {
	return providers.ScanStats{}, nil
}
func (f *fakeSource) Close() error { return nil }

// registerFake registers the fake source type once per test binary, so the
// test can run with -count > 1.
var registerFake = sync.OnceFunc(func() {
	providers.RegisterSource("test_fake", func(_ context.Context, req providers.SourceRequest) (providers.Source, error) {
		return &fakeSource{req}, nil
	})
})

func TestRegistry(t *testing.T) {
	registerFake()
	src := &lang.Source{Name: "customers", Table: "x"}
	s, err := providers.OpenSource(context.Background(), providers.SourceRequest{Provider: &lang.Provider{Type: "test_fake", Name: "a"}, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := s.(*fakeSource); !ok || f.req.Source != src {
		t.Fatalf("OpenSource returned %#v", s)
	}
	_, err = providers.OpenSource(context.Background(), providers.SourceRequest{Provider: &lang.Provider{Type: "smtp", Name: "main"}, Source: src})
	if err == nil || !strings.Contains(err.Error(), "source.customers: provider smtp.main cannot be read as a source") ||
		!strings.Contains(err.Error(), "test_fake") {
		t.Fatalf("unknown type: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a type twice does not panic")
		}
	}()
	providers.RegisterSource("test_fake", func(context.Context, providers.SourceRequest) (providers.Source, error) { return nil, nil })
}
