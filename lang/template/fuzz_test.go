package template

import (
	"io"
	"strings"
	"testing"

	"github.com/heraldhq/herald/lang/srcmap"
)

// FuzzParse parses arbitrary templates and checks that Parse never panics,
// that every diagnostic points inside the source, that every expression is
// where it says it is, and that a template without errors renders.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"plain text",
		"Hi {{ customer.first_name }}, we miss you",
		`{{ customer.first_name ?? "there" }}, 15% off`,
		`{{ name ?? 'friend' }} {{ x ?? "a \"b\" \\ \n" }}`,
		"Still thinking it over, {{ customer.first_name }}? Reply STOP to opt out.",
		"<p>Hi {{ customer.first_name ?? \"there\" }},</p>\n{{ if customer.ltv > 500.0 }}<p>VIP</p>{{ else if customer.ltv > 100.0 }}<p>Gold</p>{{ else }}<p>Thanks</p>{{ end }}\n<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>\n{{ sender.postal_address }}",
		"{{ if a }}{{ if b }}{{ c }}{{ end }}{{ end }}",
		`{{ "}}" }} {{ '}}' }} {{ "it's" }} {{ 'say "hi"' }}`,
		"{{ '''a\n}}''' }} {{ \"\"\"b\"\"\" }} {{ r'\\' }} {{ br\"\\\" }}",
		`{{ {'a': {'b': 1}} }} {{ m[a ?? "b"] }} {{ f(x ?? "y") }}`,
		"{{ x // it's a comment }}",
		"{{ event.path.startsWith('/cart') ? 'cart' : 'home' }}",
		"{{ now - customer.last_purchase_at > duration('2160h') }}",
		"a }} b {{{ c }}}",
		// broken
		"{{", "}}", "{{ }}", "{{ x", "{{ 'x }}", "{{ \"x\n}}", "{{ '''x }}",
		"{{ else }}", "{{ end }}", "{{ else if x }}", "{{ if }}", "{{ if x }}",
		"{{ if a }}{{ else }}{{ else }}{{ end }}", "{{ if a }}{{ else }}{{ else if b }}{{ end }}",
		"{{ if a ?? \"b\" }}{{ end }}", "{{ ?? \"x\" }}", "{{ a ?? }}", "{{ a ?? b }}", `{{ a ?? "\q" }}`,
		`{{ a ?? "b" "c" }}`, "{{ else junk }}", "{{ { }}", "{{ ( }}", "{{ a ?? \"x\\",
		"ünïcødé {{ é }} 😀 {{ if 😀 }}x{{ end }}",
		"\x00{{\xff}}",
		// too deep: blocks past MaxDepth, closed and not; a hole of 100,000
		// parentheses (Parse leaves the CEL to the loader)
		strings.Repeat("{{ if a }}", MaxDepth+5) + strings.Repeat("{{ end }}", MaxDepth+5),
		strings.Repeat("{{ if a }}", MaxDepth+5),
		"{{ " + strings.Repeat("(", 100000) + "x" + strings.Repeat(")", 100000) + " }}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, diags := Parse(src, srcmap.Identity("f.txt", src))
		if tmpl == nil {
			t.Fatal("nil template")
		}
		for _, d := range diags {
			s := d.Subject
			if s == nil {
				t.Fatalf("diagnostic %q without a subject", d.Summary)
			}
			if s.Start.Byte < 0 || s.End.Byte > len(src) || s.Start.Byte > s.End.Byte {
				t.Fatalf("diagnostic %q: subject %#v outside the source (%d bytes)", d.Summary, s, len(src))
			}
			if s.Start.Line < 1 || s.Start.Column < 1 || s.Filename != "f.txt" {
				t.Fatalf("diagnostic %q: bad subject %#v", d.Summary, s)
			}
		}
		for _, ref := range tmpl.Exprs() {
			e := ref.Expr
			if e.Offset < 0 || e.Offset+len(e.Source) > len(src) || src[e.Offset:e.Offset+len(e.Source)] != e.Source {
				t.Fatalf("Expr %q at offset %d is not in the source", e.Source, e.Offset)
			}
			if e.Rng.Start.Byte != e.Offset || e.Rng.End.Byte != e.Offset+len(e.Source) {
				t.Fatalf("Expr %q at %d: range %#v", e.Source, e.Offset, e.Rng)
			}
			if e.Source == "" || strings.TrimSpace(e.Source) != e.Source {
				t.Fatalf("Expr %q is empty or not trimmed", e.Source)
			}
		}
		if diags.HasErrors() {
			return
		}
		// Without errors, the text nodes and holes tile the source.
		var b strings.Builder
		err := tmpl.Render(&b, func(e Expr) (string, bool, error) { return "", true, nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tmpl.Render(io.Discard, func(e Expr) (string, bool, error) { return "v", false, nil }, strings.ToUpper); err != nil {
			t.Fatal(err)
		}
		checkTiling(t, src, tmpl.Nodes)
	})
}

// checkTiling checks that the ranges of nodes are in order and do not
// overlap, and that text nodes hold the text they cover.
func checkTiling(t *testing.T, src string, nodes []Node) {
	t.Helper()
	prev := 0
	for _, n := range nodes {
		r := n.Range()
		if r.Start.Byte < prev || r.End.Byte < r.Start.Byte || r.End.Byte > len(src) {
			t.Fatalf("node %T at %#v overlaps the previous one (ending at %d)", n, r, prev)
		}
		prev = r.End.Byte
		switch n := n.(type) {
		case *Text:
			if src[r.Start.Byte:r.End.Byte] != n.Value || n.Value == "" {
				t.Fatalf("text %q covers %q", n.Value, src[r.Start.Byte:r.End.Byte])
			}
		case *If:
			for _, br := range n.Branches {
				checkTiling(t, src, br.Body)
			}
			checkTiling(t, src, n.Else)
		}
	}
}
