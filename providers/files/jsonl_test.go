package files

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/providers"
)

func TestJSONLTypes(t *testing.T) {
	table{name: "t.jsonl", lay: allKinds, content: `{"s":"hello","i":42,"d":12.5,"b":true,"ts":"2026-11-26T09:30:00Z","du":"90m","li":[1,9007199254740993],"m":{"k":"v"}}
{}
{"s":null,"i":null,"d":null,"b":null,"ts":null,"du":null,"li":null,"m":null}
{"s":"","i":"7","d":3,"b":"no","ts":"2026-11-26","du":"1h","li":[],"m":{}}
{"s":12,"i":9223372036854775807,"d":-1e-3,"b":false,"ts":"2026-11-26T09:30:00+02:00","extra":{"deep":[1,{"x":null}]},"more":"x"}
{"s":true,"i":12.0,"d":"2.5","b":1}
`}.want(t, [][]any{
		{"hello", int64(42), 12.5, true, utc("2026-11-26T09:30:00Z"), 90 * time.Minute, []any{int64(1), int64(9007199254740993)}, map[string]any{"k": "v"}},
		{nil, nil, nil, nil, nil, nil, nil, nil},
		{nil, nil, nil, nil, nil, nil, nil, nil},
		{nil, int64(7), 3.0, false, utc("2026-11-26T00:00:00Z"), time.Hour, []any{}, map[string]any{}},
		{"12", int64(9223372036854775807), -0.001, false, utc("2026-11-26T07:30:00Z"), nil, nil, nil},
		{"true", int64(12), 2.5, true, nil, nil, nil, nil},
	})
}

func TestJSONLFormat(t *testing.T) {
	lay := layout("a", "b")
	tests := []struct {
		name, content string
		want          [][]any
	}{
		{"escapes", `{"a":"line\nbreak \"q\" \\ \/ \u00e9 \ud83d\ude00","b":"tab\t"}` + "\n", [][]any{{"line\nbreak \"q\" \\ / é 😀", "tab\t"}}},
		{"escaped key", `{"\u0061":"x"}` + "\n", [][]any{{"x", nil}}},
		{"invalid UTF-8", "{\"a\":\"\xff\"}\n", [][]any{{"\uFFFD", nil}}},
		{"unicode", `{"a":"Zoë","b":"東京"}` + "\n", [][]any{{"Zoë", "東京"}}},
		{"whitespace", " { \"a\" : \"x\" ,\t\"b\":\"y\" } \n", [][]any{{"x", "y"}}},
		{"CRLF", "{\"a\":\"1\"}\r\n{\"a\":\"2\"}\r\n", [][]any{{"1", nil}, {"2", nil}}},
		{"BOM", "\xEF\xBB\xBF{\"a\":\"1\"}\n", [][]any{{"1", nil}}},
		{"blank lines", "\n{\"a\":\"1\"}\n  \n\n{\"a\":\"2\"}", [][]any{{"1", nil}, {"2", nil}}},
		{"last key wins", `{"a":"1","a":"2"}` + "\n", [][]any{{"2", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table{name: "t.jsonl", lay: lay, content: tt.content}.want(t, tt.want)
		})
	}
}

func TestJSONLErrors(t *testing.T) {
	lay := layout("id", "n:int", "at:timestamp", "tags:list(string)")
	tests := []struct {
		name, content, err string
	}{
		{"bad int", `{"id":"e1","n":1}` + "\n\n" + `{"id":"e2","n":"abc"}`, `t.jsonl row 3, column "n": "abc" is not an int`},
		{"fraction for an int", `{"id":"e1","n":1.5}`, `t.jsonl row 1, column "n": "1.5" is not an int`},
		{"int too large", `{"id":"e1","n":9223372036854775808}`, `t.jsonl row 1, column "n": "9223372036854775808" is not an int`},
		{"bool for an int", `{"id":"e1","n":true}`, `t.jsonl row 1, column "n": "true" is not an int`},
		{"number for a timestamp", `{"id":"e1","at":1700000000}`, `t.jsonl row 1, column "at": "1700000000" is not a timestamp (RFC 3339 such as 2026-12-01T09:00:00Z, or 2026-12-01T09:00:00 or 2026-12-01 in UTC)`},
		{"string for a list", `{"id":"e1","tags":"a"}`, `t.jsonl row 1, column "tags": "a" is not a list(string)`},
		{"bad element", `{"id":"e1","tags":["a",1,{}]}`, `t.jsonl row 1, column "tags": "[\"a\",1,{}]" is not a list(string): element 2: {} is not a string`},
		{"missing key", `{"n":1}`, `t.jsonl row 1, column "id": "" is empty, but it is the source's key and must be set on every row`},
		{"not an object", `["e1"]`, `t.jsonl row 1: is not a JSON object: a JSONL table has one object per line`},
		{"not JSON", `id=e1`, `t.jsonl row 1: invalid JSON at byte 1: expected '{' at the start of the line`},
		{"cut short", `{"id":"e1",`, `t.jsonl row 1: invalid JSON at byte 12: expected a string`},
		{"no colon", `{"id" "e1"}`, `t.jsonl row 1: invalid JSON at byte 7: expected ':' after an object key`},
		{"two objects", `{"id":"e1"} {"id":"e2"}`, `t.jsonl row 1: invalid JSON at byte 13: text after the object (a JSONL table has one object per line)`},
		{"bad number", `{"id":"e1","n":01}`, `t.jsonl row 1: invalid JSON at byte 17: expected ',' or '}' after an object value`},
		{"bad literal", `{"id":"e1","n":nul}`, `t.jsonl row 1: invalid JSON at byte 16: invalid literal (true, false or null)`},
		{"bad escape", `{"id":"e\x1"}`, `t.jsonl row 1: invalid JSON at byte 9: invalid escape in a string`},
		{"control character", "{\"id\":\"e\t1\"}", `t.jsonl row 1: invalid JSON at byte 9: control character in a string`},
		{"bad nested value of an unread field", `{"id":"e1","x":[1,}`, `t.jsonl row 1: invalid JSON at byte 19: expected a value`},
		{"syntax error after a type error", `{"id":"e1","n":"x",}`, `t.jsonl row 1: invalid JSON at byte 20: expected a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := table{name: "t.jsonl", lay: lay, key: "id", content: tt.content + "\n"}.read(t)
			var re *providers.RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a RowError", err)
			}
			if re.Error() != tt.err {
				t.Fatalf("error\n%s\nwant\n%s", re.Error(), tt.err)
			}
			if strings.Contains(tt.err, "JSON") && re.Column != "" {
				t.Fatalf("a malformed line has column %q", re.Column)
			}
		})
	}
}
