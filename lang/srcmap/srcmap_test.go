package srcmap

import (
	"strings"
	"testing"

	"github.com/apparentlymart/go-textseg/v15/textseg"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// literal parses src, evaluates its attribute "a" and maps the value.
func literal(t testing.TB, src string) (m *Map, ok bool, decoded string, rng hcl.Range, pure bool) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "main.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %s", diags.Error())
	}
	a := findAttr(f.Body.(*hclsyntax.Body), "a")
	if a == nil {
		t.Fatalf("no attribute a in %q", src)
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"name": cty.StringVal("Ada")},
		Functions: map[string]function.Function{"upper": stdlib.UpperFunc},
	}
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("eval: %s", diags.Error())
	}
	te, isTemplate := a.Expr.(*hclsyntax.TemplateExpr)
	pure = isTemplate && te.IsStringLiteral()
	rng = a.Expr.Range()
	m, ok = ForLiteral("main.hcl", []byte(src), rng, v.AsString())
	return m, ok, v.AsString(), rng, pure
}

// findAttr returns the first attribute called name in body or its blocks.
func findAttr(body *hclsyntax.Body, name string) *hclsyntax.Attribute {
	if a, ok := body.Attributes[name]; ok {
		return a
	}
	for _, b := range body.Blocks {
		if a := findAttr(b.Body, name); a != nil {
			return a
		}
	}
	return nil
}

// filePos computes the position of byte b of src from scratch.
func filePos(src string, b int) hcl.Pos {
	lineStart := strings.LastIndexByte(src[:b], '\n') + 1
	col := 1
	rest := []byte(src[lineStart:])
	for off := lineStart; off < b; {
		adv, _, _ := textseg.ScanGraphemeClusters(rest, true)
		if adv == 0 || off+adv > b {
			break
		}
		col++
		off += adv
		rest = rest[adv:]
	}
	return hcl.Pos{Line: strings.Count(src[:b], "\n") + 1, Column: col, Byte: b}
}

// checkMap checks what holds for every map: positions inside rng, in file
// order, with lines and columns that agree with the file. For a literal
// that ForLiteral read exactly, every decoded byte maps to itself or to the
// start of an escape.
func checkMap(t testing.TB, src string, m *Map, ok bool, decoded string, rng hcl.Range) {
	t.Helper()
	prev := -1
	for i := 0; i <= len(decoded); i++ {
		p := m.Pos(i)
		if p.Byte < rng.Start.Byte || p.Byte > rng.End.Byte {
			t.Fatalf("Pos(%d) = %#v, outside %#v", i, p, rng)
		}
		if want := filePos(src, p.Byte); p != want {
			t.Fatalf("Pos(%d) = %#v, but byte %d is at %#v", i, p, p.Byte, want)
		}
		if p.Byte < prev {
			t.Fatalf("Pos(%d).Byte = %d, before Pos(%d).Byte = %d", i, p.Byte, i-1, prev)
		}
		prev = p.Byte
		if !ok || i == len(decoded) {
			continue
		}
		d, r := decoded[i], src[p.Byte]
		switch {
		case d == r:
		case r == '\\': // \n, \u00e9 …
		case (r == '$' || r == '%') && (d == '{' || d == r): // $${, %%{
		case d >= 0x80: // from \u00e9, or normalized
		case r >= 0x80: // normalized: U+037E is ';' in NFC
		default:
			t.Fatalf("decoded[%d] = %q maps to %q at %#v", i, d, r, p)
		}
		rr := m.Range(i, i+1)
		if rr.Start != p || rr.End.Byte <= rr.Start.Byte {
			t.Fatalf("Range(%d, %d) = %#v, want a non-empty range at %#v", i, i+1, rr, p)
		}
	}
	whole := m.Range(0, len(decoded))
	if whole.Filename != rng.Filename || whole.Start.Byte < rng.Start.Byte || whole.End.Byte > rng.End.Byte {
		t.Fatalf("Range(0, %d) = %#v, outside %#v", len(decoded), whole, rng)
	}
}

func TestForLiteral(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		find   string // in the decoded string
		line   int    // where find starts in the file
		column int
		notOK  bool
	}{
		{
			name: "plain", src: `a = "hello {{ name }}"`,
			find: "name", line: 1, column: 15,
		},
		{
			name: "escapes before", src: `a = "x\n\t\"y\\ {{ name }}"`,
			find: "name", line: 1, column: 20,
		},
		{
			name: "unicode escapes before", src: `a = "\u00e9\U0001F600 {{ name }}"`,
			find: "name", line: 1, column: 26,
		},
		{
			name: "unicode before", src: `a = "héllo 😀 {{ name }}"`,
			find: "name", line: 1, column: 17,
		},
		{
			name: "combining characters count as one column", src: "a = \"e\u0301e\u0301 {{ name }}\"",
			find: "name", line: 1, column: 12,
		},
		{
			name: "template escapes before", src: `a = "$${x} %%{y} $$ {{ name }}"`,
			find: "name", line: 1, column: 24,
		},
		{
			name: "escaped text itself", src: `a = "ab\"cd"`,
			find: `"cd`, line: 1, column: 8,
		},
		{
			name: "the escape", src: `a = "ab\ncd"`,
			find: "\n", line: 1, column: 8,
		},
		{
			name: "inside a block", src: "# comment\nblock \"x\" {\n  sub {\n    a = \"Hi {{ customer.name }}\"\n  }\n}\n",
			find: "customer", line: 4, column: 16,
		},
		{
			name: "empty string", src: `a = ""`,
			find: "", line: 1, column: 6,
		},
		{
			name: "heredoc", src: "a = <<EOT\nDear {{ name }},\n  thanks {{ x }}\nEOT\n",
			find: "x }}", line: 3, column: 13,
		},
		{
			name: "heredoc keeps backslashes", src: "a = <<EOT\nx\\ny {{ name }}\nEOT\n",
			find: "name", line: 2, column: 9,
		},
		{
			name: "heredoc escapes", src: "a = <<EOT\n$${a} %%{b} {{ name }}\nEOT\n",
			find: "name", line: 2, column: 16,
		},
		{
			name: "heredoc first byte", src: "a = <<EOT\nDear\nEOT\n",
			find: "Dear", line: 2, column: 1,
		},
		{
			name: "indented heredoc", src: "block {\n  a = <<-EOT\n    <p>Dear {{ name }},</p>\n      <p>{{ x }}</p>\n    EOT\n}\n",
			find: "x }}", line: 4, column: 13,
		},
		{
			name: "indented heredoc first line", src: "block {\n  a = <<-EOT\n    <p>Dear {{ name }},</p>\n    EOT\n}\n",
			find: "name", line: 3, column: 16,
		},
		{
			name: "indented heredoc with blank lines", src: "a = <<-EOT\n    one\n\n          \n      {{ two }}\n    EOT\n",
			find: "two", line: 5, column: 10,
		},
		{
			name: "indented heredoc with tabs", src: "a = <<-EOT\n\t\tone\n\t\t  {{ two }}\n\tEOT\n",
			find: "two", line: 3, column: 8,
		},
		{
			name: "indented heredoc with unicode", src: "a = <<-EOT\n  ünï\n   cødé {{ two }}\nEOT\n",
			find: "two", line: 3, column: 12,
		},
		{
			name: "heredoc with CRLF", src: "a = <<EOT\r\none\r\ntwo {{ three }}\r\nEOT\r\n",
			find: "three", line: 3, column: 8,
		},
		{
			name: "indented heredoc with CRLF", src: "a = <<-EOT\r\n  one\r\n    two {{ three }}\r\n  EOT\r\n",
			find: "three", line: 3, column: 12,
		},
		{
			name: "empty heredoc", src: "a = <<EOT\nEOT\n",
			find: "", line: 2, column: 1,
		},
		{
			name: "interpolation: before it", src: `a = "Hi {{ x }} ${name} {{ y }}"`,
			find: "x", line: 1, column: 12, notOK: true,
		},
		{
			name: "interpolation: after it", src: `a = "Hi {{ x }} ${name} {{ y }}"`,
			find: "y", line: 1, column: 28, notOK: true,
		},
		{
			name: "interpolation: in it", src: `a = "Hi {{ x }} ${name} {{ y }}"`,
			find: "Ada", line: 1, column: 17, notOK: true,
		},
		{
			name: "not a literal", src: `a = upper("x {{ y }}")`,
			find: "Y", line: 1, column: 5, notOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok, decoded, rng, _ := literal(t, tt.src)
			if ok == tt.notOK {
				t.Errorf("ok = %v, want %v", ok, !tt.notOK)
			}
			off := strings.Index(decoded, tt.find)
			if off < 0 {
				t.Fatalf("%q not in %q", tt.find, decoded)
			}
			got := m.Pos(off)
			if got.Line != tt.line || got.Column != tt.column {
				t.Errorf("Pos(%d) = %d:%d, want %d:%d (%q)", off, got.Line, got.Column, tt.line, tt.column, tt.src[got.Byte:])
			}
			if !tt.notOK && tt.find != "" && tt.find != "\n" && tt.find != `"cd` && !strings.HasPrefix(tt.src[got.Byte:], tt.find) {
				t.Errorf("Pos(%d) points at %q, want %q", off, tt.src[got.Byte:], tt.find)
			}
			if m.Filename != "main.hcl" {
				t.Errorf("Filename = %q", m.Filename)
			}
			checkMap(t, tt.src, m, ok, decoded, rng)
		})
	}
}

func TestForLiteralEnd(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // what follows the end position in the file
	}{
		{"quoted", `a = "abc\n"`, `"`},
		{"quoted empty", `a = ""`, `"`},
		{"heredoc", "a = <<EOT\nabc\nEOT\n", "EOT\n"},
		{"indented heredoc", "a = <<-EOT\n  abc\n  EOT\n", "  EOT\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok, decoded, _, _ := literal(t, tt.src)
			if !ok {
				t.Fatal("not ok")
			}
			end := m.Pos(len(decoded))
			if got := tt.src[end.Byte:]; got != tt.want {
				t.Errorf("Pos(len) is at %q, want %q", got, tt.want)
			}
			if got := m.Pos(len(decoded) + 10); got != end {
				t.Errorf("Pos(len+10) = %#v, want the end %#v", got, end)
			}
			if got := m.Pos(-3); got != m.Pos(0) {
				t.Errorf("Pos(-3) = %#v, want Pos(0) %#v", got, m.Pos(0))
			}
		})
	}
}

func TestRange(t *testing.T) {
	src := `a = "x\u00e9{{ name }}\n"`
	m, ok, decoded, _, _ := literal(t, src)
	if !ok {
		t.Fatal("not ok")
	}
	text := func(r hcl.Range) string { return src[r.Start.Byte:r.End.Byte] }
	tests := []struct {
		name       string
		start, end int
		want       string
	}{
		{"one byte", 0, 1, "x"},
		{"an escape covers the whole escape", 1, 3, `\u00e9`},
		{"half an escape", 1, 2, `\u00e9`},
		{"a hole", strings.Index(decoded, "{{"), strings.Index(decoded, "}}") + 2, "{{ name }}"},
		{"everything", 0, len(decoded), `x\u00e9{{ name }}\n`},
		{"empty", 3, 3, ""},
		{"reversed", 5, 3, ""},
		{"clamped", -5, 100, `x\u00e9{{ name }}\n`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := m.Range(tt.start, tt.end)
			if got := text(r); got != tt.want {
				t.Errorf("Range(%d, %d) covers %q, want %q", tt.start, tt.end, got, tt.want)
			}
			if r.Filename != "main.hcl" {
				t.Errorf("Filename = %q", r.Filename)
			}
		})
	}
}

func TestForLiteralBadRange(t *testing.T) {
	src := []byte(`a = "abc"`)
	tests := []struct {
		name string
		rng  hcl.Range
	}{
		{"past the end", hcl.Range{Start: hcl.Pos{Line: 1, Column: 5, Byte: 4}, End: hcl.Pos{Line: 1, Column: 50, Byte: 49}}},
		{"reversed", hcl.Range{Start: hcl.Pos{Line: 1, Column: 9, Byte: 8}, End: hcl.Pos{Line: 1, Column: 5, Byte: 4}}},
		{"negative", hcl.Range{Start: hcl.Pos{Line: 1, Column: 1, Byte: -1}, End: hcl.Pos{Line: 1, Column: 5, Byte: 4}}},
		{"unterminated quote", hcl.Range{Start: hcl.Pos{Line: 1, Column: 5, Byte: 4}, End: hcl.Pos{Line: 1, Column: 8, Byte: 7}}},
		{"not a literal", hcl.Range{Start: hcl.Pos{Line: 1, Column: 1, Byte: 0}, End: hcl.Pos{Line: 1, Column: 2, Byte: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := ForLiteral("main.hcl", src, tt.rng, "abc")
			if ok {
				t.Error("ok for a bad range")
			}
			for i := -1; i <= 4; i++ {
				if got := m.Pos(i); got != tt.rng.Start {
					t.Errorf("Pos(%d) = %#v, want rng.Start %#v", i, got, tt.rng.Start)
				}
			}
		})
	}
}

func TestForLiteralFallbackCoversLiteral(t *testing.T) {
	src := `a = upper("x")`
	m, ok, decoded, rng, _ := literal(t, src)
	if ok {
		t.Fatal("ok for a function call")
	}
	if got := m.Range(0, len(decoded)); got != rng {
		t.Errorf("Range(0, len) = %#v, want the expression's range %#v", got, rng)
	}
}

func TestIdentity(t *testing.T) {
	src := "<p>Hi {{ name }}</p>\n<p>ünïcødé {{ x }}</p>\r\n\n{{ y }}"
	m := Identity("templates/a.html", src)
	tests := []struct {
		find         string
		line, column int
	}{
		{"<p>Hi", 1, 1},
		{"name", 1, 10},
		{"x }}", 2, 15},
		{"y }}", 4, 4},
	}
	for _, tt := range tests {
		off := strings.Index(src, tt.find)
		got := m.Pos(off)
		want := hcl.Pos{Line: tt.line, Column: tt.column, Byte: off}
		if got != want {
			t.Errorf("Pos(%d) (%q) = %#v, want %#v", off, tt.find, got, want)
		}
	}
	if got, want := m.Pos(len(src)), (hcl.Pos{Line: 4, Column: 8, Byte: len(src)}); got != want {
		t.Errorf("Pos(len) = %#v, want %#v", got, want)
	}
	if got, want := m.Pos(len(src)+1), m.Pos(len(src)); got != want {
		t.Errorf("Pos(len+1) = %#v, want %#v", got, want)
	}
	r := m.Range(3, 5)
	if r.Filename != "templates/a.html" || r.Start.Byte != 3 || r.End.Byte != 5 || r.End.Column != 6 {
		t.Errorf("Range(3, 5) = %#v", r)
	}
	if m.Len() != len(src) {
		t.Errorf("Len() = %d, want %d", m.Len(), len(src))
	}
	empty := Identity("e.txt", "")
	if got := empty.Pos(0); got != hcl.InitialPos {
		t.Errorf("empty: Pos(0) = %#v", got)
	}
}

func TestSub(t *testing.T) {
	src := `a = "\t{{ customer.name ?? \"x\" }}"`
	m, ok, decoded, _, _ := literal(t, src)
	if !ok {
		t.Fatal("not ok")
	}
	start := strings.Index(decoded, "customer")
	end := start + len("customer.name")
	sub := m.Sub(start, end)
	if sub.Len() != end-start {
		t.Errorf("Len() = %d, want %d", sub.Len(), end-start)
	}
	if got, want := sub.Pos(0), m.Pos(start); got != want {
		t.Errorf("Sub: Pos(0) = %#v, want %#v", got, want)
	}
	if got, want := sub.Pos(9), m.Pos(start+9); got != want {
		t.Errorf("Sub: Pos(9) = %#v, want %#v", got, want)
	}
	if got, want := sub.Pos(100), m.Pos(end); got != want {
		t.Errorf("Sub: Pos(100) = %#v, want the end %#v", got, want)
	}
	r := sub.Range(0, sub.Len())
	if got := src[r.Start.Byte:r.End.Byte]; got != "customer.name" {
		t.Errorf("Sub: Range covers %q", got)
	}
	subsub := sub.Sub(9, 13)
	r = subsub.Range(0, 4)
	if got := src[r.Start.Byte:r.End.Byte]; got != "name" {
		t.Errorf("Sub of Sub: Range covers %q", got)
	}
}

// TestForLiteralEveryByte maps every byte of a variety of literals and
// checks it against the file.
func TestForLiteralEveryByte(t *testing.T) {
	for _, src := range []string{
		`a = "a\\b\"c\n\r\t\u0041\U0001F600$${%%{$$%%$ %"`,
		"a = \"x\u0065\u0301y\u212b\"", // NFC changes these
		"a = \"\\u0065\\u0301\"",       // escapes that normalize
		"a = <<EOT\n\tx\\n $${y}\n\n  z\nEOT\n",
		"a = <<-EOT\n    x\n      $${y}\n\n        \n    z\n  EOT\n",
		"a = <<-EOT\n\u3000\u3000x\n\u3000 y\nEOT\n", // unicode spaces
		"a = <<-EOT\nx\n  y\nEOT\n",
	} {
		m, ok, decoded, rng, pure := literal(t, src)
		if pure && !ok {
			t.Errorf("%q: not ok", src)
		}
		checkMap(t, src, m, ok, decoded, rng)
	}
}

func TestColumns(t *testing.T) {
	for _, line := range []string{
		"plain ascii",
		"cr lf\r\n",
		"lone cr\r here",
		"e\u0301 combining after ascii",
		"x😀y 🇫🇷🇩🇪 flags",
		"👩‍👩‍👧 zwj",
		"ünïcødé",
		"\xff\xfe invalid",
		"日本語のテキスト",
	} {
		for n := 0; n <= len(line); n++ {
			got := 1 + columns(line, n)
			if want := filePos(line, n).Column; got != want && !strings.Contains(line[:n], "\n") {
				t.Errorf("columns(%q, %d) = %d, want %d", line, n, got-1, want-1)
			}
		}
	}
}

func BenchmarkPosLongLine(b *testing.B) {
	src := strings.Repeat("<td class=\"x\">{{ customer.first_name }}</td>", 2500)
	m := Identity("t.html", src)
	for b.Loop() {
		for off := 0; off < len(src); off += len(src) / 100 {
			m.Pos(off)
		}
	}
}

// TestLongLineColumns checks the column index of long lines against the
// plain walk from the start of the line, at every offset, over text that
// mixes ASCII, multi-byte characters, combining marks, emoji and CR LF.
func TestLongLineColumns(t *testing.T) {
	pieces := []string{"{{ x }}", "é", "e\u0301", "😀", "👍🏽", "\r\n", "abc", "\u3000", "\n", "a\u0301\u0302"}
	var b strings.Builder
	for i := 0; b.Len() < 5000; i++ {
		b.WriteString(pieces[(i*7+i/3)%len(pieces)])
		if i%50 != 0 { // mostly one long line
			b.WriteString(strings.Repeat("x", i%300))
		}
	}
	src := b.String()
	m := Identity("t.html", src)
	plain := *m
	plain.cols = nil
	for off := 0; off <= len(src); off++ {
		if got, want := m.Pos(off), plain.Pos(off); got != want {
			t.Fatalf("Pos(%d) = %#v, want %#v", off, got, want)
		}
	}
	// And through a literal, whose first line starts at the literal's
	// column and whose bytes come through escapes.
	lit := `a = "` + strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", `\r\n`), "\n", `\n`) + `"`
	lm, _, decoded, _, _ := literal(t, lit)
	lplain := *lm
	lplain.cols = nil
	for off := 0; off <= len(decoded); off += 3 {
		if got, want := lm.Range(off, off+5), lplain.Range(off, off+5); got != want {
			t.Fatalf("Range(%d, %d) = %#v, want %#v", off, off+5, got, want)
		}
	}
}
