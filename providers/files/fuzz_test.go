package files

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/providers"
)

// records reads data with the files CSV reader, as raw fields, up to the
// first error.
func records(data []byte) ([][]string, error) {
	c := &csvReader{table: "t.csv", lines: newLines(bytes.NewReader(data), 16)}
	var out [][]string
	for {
		row, err := c.record()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		var rec []string
		for i := 0; i < len(c.bounds); i += 2 {
			rec = append(rec, string(row[c.bounds[i]:c.bounds[i+1]]))
		}
		out = append(out, rec)
	}
}

// stdRecords reads data with encoding/csv, up to the first error.
func stdRecords(data []byte) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var out [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func checkCSV(t *testing.T, data []byte) {
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		return // encoding/csv keeps a BOM in the first field
	}
	got, err := records(data)
	want, wantErr := stdRecords(data)
	if !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
		t.Fatalf("%q:\nread  %q (%v)\nwant  %q (%v)", data, got, err, want, wantErr)
	}
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, encoding/csv says %v", data, err, wantErr)
	}
	var re *providers.RowError
	if err != nil && !errors.As(err, &re) {
		t.Fatalf("%q: error %v is not a RowError", data, err)
	}
}

// TestCSVAgreesWithEncodingCSV reads random CSV written by encoding/csv,
// with commas, quotes, line breaks and carriage returns in the fields.
func TestCSVAgreesWithEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "b", "é", ",", `"`, "\n", "\r\n", " ", "", "x,y", `""`, "\r"}
	for range 500 {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.UseCRLF = r.IntN(2) == 0
		nf := 1 + r.IntN(5)
		for range r.IntN(20) {
			rec := make([]string, nf)
			for i := range rec {
				var f strings.Builder
				for range r.IntN(6) {
					f.WriteString(alphabet[r.IntN(len(alphabet))])
				}
				rec[i] = f.String()
			}
			if nf == 1 && rec[0] == "" {
				rec[0] = "z" // a lone empty field is a blank line, which both skip
			}
			w.Write(rec)
		}
		w.Flush()
		checkCSV(t, buf.Bytes())
	}
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n", "a\n\"x\ny\"\n", "\"a\"\"b\",c\r\n", "a,\"b\nc", "a\"b,c\n", "\"a\"b\n", "a,b,\n,\n\n",
		"\"\"\n", "a\rb,c\n", "x\r", "\"a\r\nb\"\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkCSV)
}

func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"a":"x","b":1}`, `{"a":null}`, `{"a":[1,{"b":2}]}`, `{"a":"\u00e9\ud83d"}`, `{}`, `[]`, `{"a":1e400}`,
		`{"a":-0.5e+7,"a":"y"}`, `{"a" : true , "c":{"d":[]}}`, "{\"a\":\"\xff\"}", `{"a":"x"}}`, `{"a":01}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\n") || strings.HasPrefix(line, "\xEF\xBB\xBF") || blank([]byte(strings.TrimRight(line, "\r"))) {
			return // a line of its own, which is not skipped
		}
		j := newJSONLReader(newLines(strings.NewReader(line), 16), "t.jsonl", layout("a"), "")
		vals := make([]any, 1)
		err := j.next(vals)
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber()
		jerr := d.Decode(&m)
		if jerr == nil {
			if _, e := d.Token(); e != io.EOF {
				jerr = errors.New("text after the value")
			}
		}
		var re *providers.RowError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("%q: error %v is not a RowError", line, err)
		}
		switch {
		case jerr != nil || m == nil:
			if err == nil {
				t.Fatalf("%q: read %v, but encoding/json says %v", line, vals[0], jerr)
			}
		case err != nil:
			if re.Column == "" {
				t.Fatalf("%q: %v, but it is valid JSON", line, err)
			}
		default:
			var want any
			switch v := m["a"].(type) {
			case string:
				if v != "" {
					want = v
				}
			case json.Number:
				want = string(v)
			case bool:
				want = fmt.Sprint(v)
			case nil:
			default:
				t.Fatalf("%q: read %v for a %T", line, vals[0], v)
			}
			if vals[0] != want {
				t.Fatalf("%q: read %#v, want %#v", line, vals[0], want)
			}
		}
	})
}
