package diag

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test -update and review the diff)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

var sampleSources = map[string][]byte{
	"segments.hcl": []byte(`segment "lapsed" {
  from  = source.customers
  where = "customer.lifetime_value >= 500.0"
}
`),
	"main.hcl": []byte("schema \"customer\" {\r\n\tfield \"age_range\" {\r\n\t\tsensitive = true\r\n\t}\r\n}\r\n"),
	"templates.hcl": []byte(`template "welcome" {
  subject = "Grüße, {{ customer.frist_name }}"
  html    = file("templates/welcome.html")
  body    = <<EOT
two lines
EOT
}
`),
}

func rng(file string, l1, c1, l2, c2 int) *hcl.Range {
	return &hcl.Range{
		Filename: file,
		Start:    hcl.Pos{Line: l1, Column: c1},
		End:      hcl.Pos{Line: l2, Column: c2},
	}
}

// sampleDiags covers the shapes a renderer meets: an error with a
// suggestion, a warning on a tab-indented CRLF line, a range over several
// lines, a zero-width range, a diagnostic with no subject, one from a file
// not in sources, one without a rule, a line with non-ASCII characters and
// an empty line.
var sampleDiags = hcl.Diagnostics{
	Error(CELType, rng("segments.hcl", 3, 21, 3, 35), `Unknown field "lifetime_value"`,
		`Schema "customer" has no field "lifetime_value".`+DidYouMean("lifetime_value", []string{"id", "ltv", "lifetime_val"})),
	Warning(SensitiveField, rng("main.hcl", 3, 3, 3, 19), `Sensitive field "age_range"`,
		"Targeting on a sensitive field needs a stated reason.\nAdd a waiver with a reason, or stop using the field."),
	Error(Structure, rng("templates.hcl", 4, 13, 6, 4), "Unexpected heredoc", "Email templates take subject and html."),
	Error(Syntax, rng("segments.hcl", 2, 27, 2, 27), "Missing newline after argument", ""),
	Error(VariableValue, nil, `Invalid -var option`, `The -var option "region" has no "=": write -var 'NAME=VALUE'.`),
	Error(FileNotFound, rng("templates/welcome.html", 1, 1, 1, 5), "File not read", "The file is not in sources."),
	{Severity: hcl.DiagError, Summary: "A diagnostic from hcl itself", Subject: rng("segments.hcl", 1, 1, 1, 8)},
	Error(TemplateSyntax, rng("templates.hcl", 2, 24, 2, 40), `Unknown field "frist_name"`, ""),
	Error(Syntax, rng("segments.hcl", 5, 1, 5, 1), "Unexpected end of file", "The file ends on an empty line."),
}

func TestWriteText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		color bool
	}{
		{"render.golden", false},
		{"render_color.golden", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteText(&buf, sampleDiags, sampleSources, tc.color); err != nil {
				t.Fatal(err)
			}
			if !tc.color && bytes.Contains(buf.Bytes(), []byte("\x1b")) {
				t.Error("output without colour contains an ANSI escape")
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestWriteTextEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, nil, nil, true); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("WriteText of no diagnostics wrote %q", buf.String())
	}
}

func TestCaretLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		r    *hcl.Range
		want string
	}{
		{"abcdef", rng("f", 1, 2, 1, 4), " ^^"},
		{"\t\tx = 1", rng("f", 1, 3, 1, 4), "\t\t^"},
		{"abc", rng("f", 1, 2, 1, 2), " ^"},        // zero width
		{"abc", rng("f", 1, 4, 1, 4), "   ^"},      // at end of line
		{"abc", rng("f", 1, 9, 1, 12), "   ^"},     // past end of line
		{"abcdef", rng("f", 1, 3, 2, 1), "  ^^^^"}, // spans lines
		{"äöü = 1", rng("f", 1, 2, 1, 4), " ^^"},   // columns are characters
		{"abc", rng("f", 1, 0, 1, 2), "^"},         // bad column
		{"abc", rng("f", 1, 3, 1, 1), "  ^"},       // inverted range
		{"", rng("f", 1, 1, 1, 1), "^"},            // empty line
		{"a\tb", rng("f", 1, 3, 1, 4), " \t^"},     // tab inside padding
		{"abcdef", rng("f", 1, 1, 1, 7), "^^^^^^"}, // whole line
		{"x", rng("f", 1, 1, 3, 1), "^"},           // spans lines, one char
		{"  y", rng("f", 1, 3, 1, 100), "  ^"},     // end past end of line
		{"ab", rng("f", 1, 1, 1, 2), "^"},          // one character
		{"ab", rng("f", 1, 2, 1, 3), " ^"},         // last character
		{"日本語", rng("f", 1, 2, 1, 3), " ^"},        // multi-byte
		{"a", rng("f", 1, 1, 1, 1), "^"},           // zero width at start
		{"abc", rng("f", 1, 1, 1, 4), "^^^"},       // up to end
		{"abc", rng("f", 1, 2, 2, 5), " ^^"},       // spans lines from mid
	} {
		if got := caretLine(tc.line, *tc.r); got != tc.want {
			t.Errorf("caretLine(%q, %d:%d-%d:%d) = %q, want %q", tc.line,
				tc.r.Start.Line, tc.r.Start.Column, tc.r.End.Line, tc.r.End.Column, got, tc.want)
		}
	}
}

func TestSourceLine(t *testing.T) {
	src := []byte("one\r\ntwo\nthree")
	for n, want := range map[int]string{1: "one", 2: "two", 3: "three"} {
		if got, ok := sourceLine(src, n); !ok || got != want {
			t.Errorf("sourceLine(%d) = %q, %v; want %q", n, got, ok, want)
		}
	}
	for _, n := range []int{0, 4, -1} {
		if got, ok := sourceLine(src, n); ok {
			t.Errorf("sourceLine(%d) = %q, want none", n, got)
		}
	}
	if _, ok := sourceLine(nil, 1); ok {
		t.Error("sourceLine(nil) found a line")
	}
}

func TestMarshalJSON(t *testing.T) {
	out, err := MarshalJSON(sampleDiags, sampleSources)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "render.json.golden", append(out, '\n'))

	var rep struct {
		Valid        bool
		ErrorCount   int `json:"error_count"`
		WarningCount int `json:"warning_count"`
		Diagnostics  []map[string]any
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Valid || rep.ErrorCount != 8 || rep.WarningCount != 1 || len(rep.Diagnostics) != 9 {
		t.Errorf("got valid=%v errors=%d warnings=%d diagnostics=%d; want false 8 1 9",
			rep.Valid, rep.ErrorCount, rep.WarningCount, len(rep.Diagnostics))
	}
}

func TestMarshalJSONEmpty(t *testing.T) {
	for _, diags := range []hcl.Diagnostics{nil, {}} {
		out, err := MarshalJSON(diags, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"valid":true,"error_count":0,"warning_count":0,"diagnostics":[]}`
		if got := strings.Join(strings.Fields(string(out)), ""); got != want {
			t.Errorf("MarshalJSON(%#v) = %s, want %s", diags, got, want)
		}
	}
}

func TestMarshalJSONWarningsOnly(t *testing.T) {
	out, err := MarshalJSON(hcl.Diagnostics{Warning(SMSQuietHours, nil, "s", "d")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct{ Valid bool }
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Valid {
		t.Error("a configuration with only warnings is not reported valid")
	}
}

// TestClipLine: a long line is cut to a window around the subject, and
// the carets still sit under it.
func TestClipLine(t *testing.T) {
	long := strings.Repeat("a", 500) + "MISTAKE" + strings.Repeat("b", 500)
	rng := func(from, to int) hcl.Range {
		return hcl.Range{Start: hcl.Pos{Line: 1, Column: from}, End: hcl.Pos{Line: 1, Column: to}}
	}
	tests := []struct {
		name, line string
		r          hcl.Range
		prefix     bool // starts with "…"
		suffix     bool // ends with "…"
		under      string
	}{
		{"short", "where = x", rng(9, 10), false, false, "x"},
		{"middle", long, rng(501, 508), true, true, "MISTAKE"},
		{"start", "MISTAKE" + long, rng(1, 8), false, true, "MISTAKE"},
		{"end", long + "MISTAKE", rng(1008, 1015), true, false, "MISTAKE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := clipLine(tt.line, tt.r)
			runes := []rune(got)
			if n := len(runes); n > maxShown+2 {
				t.Errorf("%d characters shown, want at most %d", n, maxShown+2)
			}
			if strings.HasPrefix(got, "…") != tt.prefix || strings.HasSuffix(got, "…") != tt.suffix {
				t.Errorf("cut marks: %q…%q", string(runes[:5]), string(runes[len(runes)-5:]))
			}
			carets := caretLine(got, r)
			at := strings.Index(carets, "^")
			if under := string(runes[at : at+strings.Count(carets, "^")]); under != tt.under {
				t.Errorf("carets under %q, want %q", under, tt.under)
			}
		})
	}
}
