package template

import (
	"errors"
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/lang/srcmap"
)

// dump writes nodes in a compact form for comparing: "text" {expr},
// {expr ?? "fallback"}, if(cond)[…] elif(cond)[…] else[…].
func dump(nodes []Node) string {
	var parts []string
	for _, n := range nodes {
		switch n := n.(type) {
		case *Text:
			parts = append(parts, fmt.Sprintf("%q", n.Value))
		case *Hole:
			if n.Fallback != nil {
				parts = append(parts, fmt.Sprintf("{%s ?? %q}", n.Expr.Source, *n.Fallback))
			} else {
				parts = append(parts, "{"+n.Expr.Source+"}")
			}
		case *If:
			for i, b := range n.Branches {
				kw := "if"
				if i > 0 {
					kw = "elif"
				}
				parts = append(parts, fmt.Sprintf("%s(%s)[%s]", kw, b.Cond.Source, dump(b.Body)))
			}
			if n.Else != nil {
				parts = append(parts, "else["+dump(n.Else)+"]")
			}
		default:
			parts = append(parts, fmt.Sprintf("?%T", n))
		}
	}
	return strings.Join(parts, " ")
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", ""},
		{"text only", "Hello there", `"Hello there"`},
		{"one hole", "{{ customer.first_name }}", `{customer.first_name}`},
		{"text and holes", "Hi {{ customer.first_name }}, {{ x }}!", `"Hi " {customer.first_name} ", " {x} "!"`},
		{"no spaces", "{{x}}{{y}}", `{x} {y}`},
		{"multi-line hole", "{{\n  a +\n  b\n}}", "{a +\n  b}"},
		{"fallback double quotes", `{{ customer.first_name ?? "there" }}`, `{customer.first_name ?? "there"}`},
		{"fallback single quotes", `{{ name ?? 'friend' }}`, `{name ?? "friend"}`},
		{"fallback escapes", `{{ name ?? "a \"b\" \\ \n\t\r 'c' \' " }}`, `{name ?? "a \"b\" \\ \n\t\r 'c' ' "}`},
		{"fallback empty string", `{{ name ?? "" }}`, `{name ?? ""}`},
		{"fallback without spaces", `{{name??"x"}}`, `{name ?? "x"}`},
		{"fallback with ?? inside", `{{ a ?? "??" }}`, `{a ?? "??"}`},
		{"?? inside a CEL string", `{{ a + "??" }}`, `{a + "??"}`},
		{"?? inside parentheses", `{{ f(a ?? "b") }}`, `{f(a ?? "b")}`},
		{"?? inside brackets", `{{ m[a ?? "b"] }}`, `{m[a ?? "b"]}`},
		{"}} in a double-quoted string", `{{ "}}" }}`, `{"}}"}`},
		{"}} in a single-quoted string", `{{ '}}' + x }}`, `{'}}' + x}`},
		{"escaped quote in a string", `{{ "a\"}}" }}`, `{"a\"}}"}`},
		{"other quote in a string", `{{ "it's }}" }}`, `{"it's }}"}`},
		{"triple-quoted string", "{{ '''a\n}}'b''' }}", "{'''a\n}}'b'''}"},
		{"triple double-quoted string", `{{ """x"}}""" }}`, `{"""x"}}"""}`},
		{"raw string", `{{ r'\' + "}}" }}`, `{r'\' + "}}"}`},
		{"raw triple string", `{{ R"""\""" }}`, `{R"""\"""}`},
		{"bytes string", `{{ b'}}' }}`, `{b'}}'}`},
		{"raw bytes string", `{{ br'\' }}`, `{br'\'}`},
		{"map literal", `{{ {'a': {'b': 1}} }}`, `{{'a': {'b': 1}}}`},
		{"map literal with }} tight", `{{ {'a': 1}}}`, `{{'a': 1}}`},
		{"comment", "{{ x // it's a comment }}", `{x // it's a comment}`},
		{"comment on its own line", "{{ x // it's\n + y }}", "{x // it's\n + y}"},
		{"stray }} is text", "a }} b", `"a }} b"`},
		{"stray } and { are text", "a } b { c", `"a } b { c"`},
		{"}}} after a hole", "{{ x }}}", `{x} "}"`},
		{"{{ in a string", `{{ "{{" }} not a hole`, `{"{{"} " not a hole"`},
		{"if", "{{ if a }}yes{{ end }}", `if(a)["yes"]`},
		{"if else", "{{ if a }}yes{{ else }}no{{ end }}", `if(a)["yes"] else["no"]`},
		{"if else if else", "{{ if a }}1{{ else if b }}2{{ else if c }}3{{ else }}4{{ end }}", `if(a)["1"] elif(b)["2"] elif(c)["3"] else["4"]`},
		{"empty branches", "{{ if a }}{{ else }}{{ end }}", `if(a)[] else[]`},
		{"nested", "{{ if a }}[{{ if b }}{{ x }}{{ else }}-{{ end }}]{{ end }}", `if(a)["[" if(b)[{x}] else["-"] "]"]`},
		{"directives without spaces", "{{if a}}x{{else if b}}y{{else}}z{{end}}", `if(a)["x"] elif(b)["y"] else["z"]`},
		{"if with parentheses", "{{ if(a) }}x{{ end }}", `if((a))["x"]`},
		{"else if with parentheses", "{{ if a }}{{ else if(b) }}x{{ end }}", `if(a)[] elif((b))["x"]`},
		{"multi-line condition", "{{ if a &&\n b }}x{{ end }}", "if(a &&\n b)[\"x\"]"},
		{"condition with a string", `{{ if a == "}}" }}x{{ end }}`, `if(a == "}}")["x"]`},
		{"identifiers like keywords", "{{ iffy }}{{ elsewhere }}{{ ending }}{{ end_date }}{{ end.x }}", `{iffy} {elsewhere} {ending} {end_date} {end.x}`},
		{"html", "<p>Hi {{ customer.first_name ?? \"there\" }},</p>\n{{ if customer.ltv > 500.0 }}<p>VIP</p>{{ end }}\n<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>",
			`"<p>Hi " {customer.first_name ?? "there"} ",</p>\n" if(customer.ltv > 500.0)["<p>VIP</p>"] "\n<a href=\"" {unsubscribe_url} "\">Unsubscribe</a>"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, diags := Parse(tt.src, srcmap.Identity("t.txt", tt.src))
			if len(diags) > 0 {
				t.Fatalf("diagnostics: %s", diags.Error())
			}
			if got := dump(tmpl.Nodes); got != tt.want {
				t.Errorf("Parse(%q)\n got %s\nwant %s", tt.src, got, tt.want)
			}
			checkExprs(t, tt.src, tmpl)
		})
	}
}

// checkExprs checks that every expression knows where it is.
func checkExprs(t testing.TB, src string, tmpl *Template) {
	t.Helper()
	for _, ref := range tmpl.Exprs() {
		e := ref.Expr
		if e.Offset < 0 || e.Offset+len(e.Source) > len(src) || src[e.Offset:e.Offset+len(e.Source)] != e.Source {
			t.Fatalf("Expr %q at offset %d is not in the source %q", e.Source, e.Offset, src)
		}
		if e.Rng.Start.Byte != e.Offset || e.Rng.End.Byte != e.Offset+len(e.Source) {
			t.Fatalf("Expr %q at %d: range %#v", e.Source, e.Offset, e.Rng)
		}
		if e.Source == "" || strings.TrimSpace(e.Source) != e.Source {
			t.Fatalf("Expr %q is empty or not trimmed", e.Source)
		}
	}
}

func TestParseDiagnostics(t *testing.T) {
	type want struct {
		summary string
		subject string // the text the subject covers
	}
	tests := []struct {
		name  string
		src   string
		want  []want
		nodes string // what Parse still made of it
	}{
		{"unclosed hole", "Hi {{ customer.name", []want{{"Unclosed template hole", "{{"}}, `"Hi "`},
		{"unclosed hole after a good one", "{{ a }} and {{ b } c", []want{{"Unclosed template hole", "{{"}}, `{a} " and "`},
		{"unclosed by a brace", "{{ {'a': 1 }}", []want{{"Unclosed template hole", "{{"}}, ``},
		{"empty hole", "a {{ }} b", []want{{"Empty template hole", "{{ }}"}}, `"a " " b"`},
		{"empty hole without space", "{{}}", []want{{"Empty template hole", "{{}}"}}, ``},
		{"blank multi-line hole", "{{\n\t\n}}", []want{{"Empty template hole", "{{\n\t\n}}"}}, ``},
		{"unterminated string", "{{ it's }} ok {{ x }}", []want{{"Unterminated string in template hole", "'s "}}, `" ok " {x}`},
		{"unterminated string at end of line", "{{ \"abc\n}} ok", []want{{"Unterminated string in template hole", `"abc`}}, `" ok"`},
		{"unterminated string at end", `{{ "abc`, []want{{"Unterminated string in template hole", `"abc`}}, ``},
		{"unterminated string in a condition", "{{ if a == 'x }}y{{ else if b == \"z }}{{ else }}{{ end }}", []want{
			{"Unterminated string in template hole", "'x "},
			{"Unterminated string in template hole", `"z `},
		}, `if()["y"] elif()[] else[]`},
		{"unterminated triple string", `{{ '''abc }}`, []want{{"Unterminated string in template hole", `'''abc `}}, ``},
		{"else without if", "a {{ else }} b", []want{{`"else" without "if"`, "{{ else }}"}}, `"a " " b"`},
		{"else if without if", "{{ else if x }}", []want{{`"else if" without "if"`, "{{ else if x }}"}}, ``},
		{"end without if", "{{ if a }}x{{ end }}{{ end }}", []want{{`"end" without "if"`, "{{ end }}"}}, `if(a)["x"]`},
		{"if without end", "a {{ if b }}c", []want{{`"if" without "end"`, "{{ if b }}"}}, `"a " if(b)["c"]`},
		{"nested if without end", "{{ if a }}{{ if b }}c{{ end }}", []want{{`"if" without "end"`, "{{ if a }}"}}, `if(a)[if(b)["c"]]`},
		{"if without condition", "{{ if }}x{{ end }}", []want{{`Missing condition in "if"`, "{{ if }}"}}, `if()["x"]`},
		{"else if without condition", "{{ if a }}{{ else if }}x{{ end }}", []want{{`Missing condition in "else if"`, "{{ else if }}"}}, `if(a)[] elif()["x"]`},
		{"text after else", "{{ if a }}{{ else b }}x{{ end }}", []want{{`Unexpected text after "else"`, "b"}}, `if(a)[] else["x"]`},
		{"else if after else", "{{ if a }}1{{ else }}2{{ else if b }}3{{ end }}", []want{{`"else if" after "else"`, "{{ else if b }}"}}, `if(a)["1"] else["2" "3"]`},
		{"two elses", "{{ if a }}1{{ else }}2{{ else }}3{{ end }}", []want{{`Second "else" in one "if" block`, "{{ else }}"}}, `if(a)["1"] else["2" "3"]`},
		{"fallback not a string", "{{ a ?? b }}", []want{{"Fallback is not a string literal", "b"}}, ``},
		{"fallback is two strings", `{{ a ?? "b" "c" }}`, []want{{"Fallback is not a string literal", `"b" "c"`}}, ``},
		{"fallback then more", `{{ a ?? "b" ?? "c" }}`, []want{{"Fallback is not a string literal", `"b" ?? "c"`}}, ``},
		{"fallback is a number", `{{ a ?? 0 }}`, []want{{"Fallback is not a string literal", `0`}}, ``},
		{"fallback with a bad escape", `{{ a ?? "x\y" }}`, []want{{"Invalid escape in fallback", `\y`}}, ``},
		{"missing fallback", `{{ a ?? }}`, []want{{`Missing fallback after "??"`, `??`}}, ``},
		{"missing expression", `{{ ?? "x" }}`, []want{{`Missing expression before "??"`, `{{ ?? "x" }}`}}, ``},
		{"fallback in a condition", `{{ if a ?? "x" }}y{{ end }}`, []want{{`Fallback in a condition`, `?? "x"`}}, `if()["y"]`},
		{"several errors", "{{ }}{{ else }}{{ if a }}", []want{
			{"Empty template hole", "{{ }}"},
			{`"else" without "if"`, "{{ else }}"},
			{`"if" without "end"`, "{{ if a }}"},
		}, `if(a)[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, diags := Parse(tt.src, srcmap.Identity("t.txt", tt.src))
			if len(diags) != len(tt.want) {
				t.Fatalf("got %d diagnostics, want %d: %s", len(diags), len(tt.want), diags.Error())
			}
			for i, d := range diags {
				if d.Severity != hcl.DiagError {
					t.Errorf("diagnostic %d is not an error", i)
				}
				if got := diag.RuleOf(d); got != diag.TemplateSyntax {
					t.Errorf("diagnostic %d has rule %q", i, got)
				}
				if d.Summary != tt.want[i].summary {
					t.Errorf("diagnostic %d: summary %q, want %q", i, d.Summary, tt.want[i].summary)
				}
				if d.Detail == "" || strings.Contains(d.Summary, "\n") {
					t.Errorf("diagnostic %d: no detail, or a multi-line summary", i)
				}
				if d.Subject == nil {
					t.Fatalf("diagnostic %d has no subject", i)
				}
				if d.Subject.Filename != "t.txt" {
					t.Errorf("diagnostic %d: file %q", i, d.Subject.Filename)
				}
				if got := tt.src[d.Subject.Start.Byte:d.Subject.End.Byte]; got != tt.want[i].subject {
					t.Errorf("diagnostic %d: subject %q, want %q", i, got, tt.want[i].subject)
				}
			}
			if got := dump(tmpl.Nodes); got != tt.nodes {
				t.Errorf("nodes %s, want %s", got, tt.nodes)
			}
		})
	}
}

func TestRanges(t *testing.T) {
	src := "Hi {{ name }},\n{{ if vip }}<b>{{ x ?? \"y\" }}</b>{{ else }}no{{ end }}!"
	tmpl, diags := Parse(src, srcmap.Identity("t.html", src))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	text := func(r hcl.Range) string {
		if r.Filename != "t.html" {
			t.Errorf("range %#v has the wrong file", r)
		}
		return src[r.Start.Byte:r.End.Byte]
	}
	n := tmpl.Nodes
	if len(n) != 5 {
		t.Fatalf("got %d nodes: %s", len(n), dump(n))
	}
	ifn := n[3].(*If)
	hole := ifn.Branches[0].Body[1].(*Hole)
	checks := []struct {
		name string
		rng  hcl.Range
		want string
	}{
		{"text", n[0].Range(), "Hi "},
		{"hole", n[1].Range(), "{{ name }}"},
		{"hole expr", n[1].(*Hole).Expr.Rng, "name"},
		{"text with newline", n[2].Range(), ",\n"},
		{"if block", ifn.Range(), "{{ if vip }}<b>{{ x ?? \"y\" }}</b>{{ else }}no{{ end }}"},
		{"condition", ifn.Branches[0].Cond.Rng, "vip"},
		{"hole with fallback", hole.Range(), `{{ x ?? "y" }}`},
		{"expr before fallback", hole.Expr.Rng, "x"},
		{"else text", ifn.Else[0].Range(), "no"},
		{"last text", n[4].Range(), "!"},
	}
	for _, c := range checks {
		if got := text(c.rng); got != c.want {
			t.Errorf("%s: range covers %q, want %q", c.name, got, c.want)
		}
	}
	if p := ifn.Branches[0].Cond.Rng.Start; p.Line != 2 || p.Column != 7 {
		t.Errorf("condition at %d:%d, want 2:7", p.Line, p.Column)
	}
}

// TestParseInHCL parses templates written in HCL files and checks that
// expressions and diagnostics point into the file.
func TestParseInHCL(t *testing.T) {
	tests := []struct {
		name         string
		hcl          string
		find         string // an expression's source, or a diagnostic's subject
		line, column int
		diagnostic   string // the summary of the expected diagnostic
	}{
		{
			name: "quoted",
			hcl:  "template \"a\" {\n  subject = \"{{ customer.first_name }}, we miss you\"\n}\n",
			find: "customer.first_name", line: 2, column: 17,
		},
		{
			name: "quoted with escapes",
			hcl:  "template \"a\" {\n  body = \"\\\"Hi\\\"\\n\\u00e9 {{ x ?? \\\"there\\\" }}\"\n}\n",
			find: "x", line: 2, column: 29,
		},
		{
			name: "heredoc",
			hcl:  "template \"a\" {\n  html = <<EOT\n<p>Hi</p>\n<p>{{ if vip }}VIP{{ end }}</p>\nEOT\n}\n",
			find: "vip", line: 4, column: 10,
		},
		{
			name: "indented heredoc",
			hcl:  "template \"a\" {\n  html = <<-EOT\n    <p>Hi</p>\n      <p>{{ unsubscribe_url }}</p>\n    EOT\n}\n",
			find: "unsubscribe_url", line: 4, column: 13,
		},
		{
			name: "error in a heredoc",
			hcl:  "template \"a\" {\n  html = <<-EOT\n    <p>Hi</p>\n      {{ if vip }}\n    EOT\n}\n",
			find: "{{ if vip }}", line: 4, column: 7, diagnostic: `"if" without "end"`,
		},
		{
			name: "error after escapes",
			hcl:  "template \"a\" {\n  subject = \"\\t\\\"{{ }}\"\n}\n",
			find: "{{ }}", line: 2, column: 18, diagnostic: "Empty template hole",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, diags := hclsyntax.ParseConfig([]byte(tt.hcl), "main.hcl", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			attrs := f.Body.(*hclsyntax.Body).Blocks[0].Body.Attributes
			var expr hclsyntax.Expression
			for _, a := range attrs {
				expr = a.Expr
			}
			v, diags := expr.Value(nil)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			src := v.AsString()
			m, ok := srcmap.ForLiteral("main.hcl", []byte(tt.hcl), expr.Range(), src)
			if !ok {
				t.Fatal("srcmap.ForLiteral: not ok")
			}
			tmpl, diags := Parse(src, m)
			var rng hcl.Range
			if tt.diagnostic != "" {
				if len(diags) != 1 || diags[0].Summary != tt.diagnostic {
					t.Fatalf("diagnostics %s, want one %q", diags.Error(), tt.diagnostic)
				}
				rng = *diags[0].Subject
			} else {
				if diags.HasErrors() {
					t.Fatal(diags.Error())
				}
				found := false
				for _, ref := range tmpl.Exprs() {
					if ref.Expr.Source == tt.find {
						rng, found = ref.Expr.Rng, true
					}
				}
				if !found {
					t.Fatalf("no expression %q in %s", tt.find, dump(tmpl.Nodes))
				}
			}
			if rng.Filename != "main.hcl" || rng.Start.Line != tt.line || rng.Start.Column != tt.column {
				t.Errorf("at %s:%d:%d, want main.hcl:%d:%d", rng.Filename, rng.Start.Line, rng.Start.Column, tt.line, tt.column)
			}
			if got := tt.hcl[rng.Start.Byte:rng.End.Byte]; got != tt.find {
				t.Errorf("range covers %q in the file, want %q", got, tt.find)
			}
		})
	}
}

func TestParseNilMap(t *testing.T) {
	src := "a {{ b }}"
	tmpl, diags := Parse(src, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	e := tmpl.Exprs()[0].Expr
	if e.Rng.Start.Byte != 5 || e.Rng.Start.Column != 6 || e.Rng.Filename != "" {
		t.Errorf("range %#v", e.Rng)
	}
}

func TestExprs(t *testing.T) {
	src := `{{ a }}{{ if b }}{{ c ?? "z" }}{{ if d }}{{ e }}{{ end }}{{ else if f }}{{ g }}{{ else }}{{ h }}{{ end }}{{ i }}`
	tmpl, diags := Parse(src, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var got []string
	for _, r := range tmpl.Exprs() {
		s := r.Expr.Source
		if r.Condition {
			s += "?"
		}
		got = append(got, s)
	}
	if want := "a b? c d? e f? g h i"; strings.Join(got, " ") != want {
		t.Errorf("Exprs() = %s, want %s", strings.Join(got, " "), want)
	}
	checkExprs(t, src, tmpl)
	empty, _ := Parse("just text", nil)
	if refs := empty.Exprs(); len(refs) != 0 {
		t.Errorf("Exprs() of text = %v", refs)
	}
}

// fakeEval evaluates expressions from a table: a value, and truthy when the
// value is "true".
func fakeEval(values map[string]string) func(Expr) (string, bool, error) {
	return func(e Expr) (string, bool, error) {
		v, ok := values[e.Source]
		if !ok {
			return "", false, fmt.Errorf("no value for %s", e.Source)
		}
		return v, v == "true", nil
	}
}

func TestRender(t *testing.T) {
	values := map[string]string{
		"name": "Ada", "empty": "", "html": `<b>"x" & y</b>`,
		"yes": "true", "no": "false",
	}
	tests := []struct {
		name, src, want string
		escape          func(string) string
	}{
		{"text", "plain text", "plain text", nil},
		{"hole", "Hi {{ name }}!", "Hi Ada!", nil},
		{"empty value", "[{{ empty }}]", "[]", nil},
		{"fallback unused", `Hi {{ name ?? "there" }}`, "Hi Ada", nil},
		{"fallback used", `Hi {{ empty ?? "there" }}`, "Hi there", nil},
		{"empty fallback", `[{{ empty ?? "" }}]`, "[]", nil},
		{"if true", "{{ if yes }}a{{ end }}", "a", nil},
		{"if false", "{{ if no }}a{{ end }}b", "b", nil},
		{"else", "{{ if no }}a{{ else }}b{{ end }}", "b", nil},
		{"else if", "{{ if no }}a{{ else if yes }}b{{ else }}c{{ end }}", "b", nil},
		{"first true branch", "{{ if yes }}a{{ else if yes }}b{{ end }}", "a", nil},
		{"nested", "{{ if yes }}<{{ if no }}x{{ else }}{{ name }}{{ end }}>{{ end }}", "<Ada>", nil},
		{"escaped value", "<p>{{ html }}</p>", "<p>&lt;b&gt;&#34;x&#34; &amp; y&lt;/b&gt;</p>", html.EscapeString},
		{"escaped fallback", `<p>{{ empty ?? "<i>none</i>" }}</p>`, "<p>&lt;i&gt;none&lt;/i&gt;</p>", html.EscapeString},
		{"text is not escaped", "<p>{{ if yes }}<b>&amp;</b>{{ end }}</p>", "<p><b>&amp;</b></p>", html.EscapeString},
		{"not escaped without escape", "{{ html }}", `<b>"x" & y</b>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, diags := Parse(tt.src, nil)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			var b strings.Builder
			if err := tmpl.Render(&b, fakeEval(values), tt.escape); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("Render() = %q, want %q", b.String(), tt.want)
			}
		})
	}
}

func TestRenderSkipsUntakenBranches(t *testing.T) {
	tmpl, diags := Parse("{{ if yes }}a{{ else if boom }}{{ boom }}{{ else }}{{ boom }}{{ end }}", nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var b strings.Builder
	if err := tmpl.Render(&b, fakeEval(map[string]string{"yes": "true"}), nil); err != nil {
		t.Fatalf("evaluated an untaken branch: %v", err)
	}
}

func TestRenderErrors(t *testing.T) {
	errBoom := errors.New("boom")
	eval := func(e Expr) (string, bool, error) {
		switch e.Source {
		case "bad":
			return "", false, errBoom
		case "no":
			return "", false, nil
		}
		return "v", true, nil
	}
	for _, src := range []string{"a {{ bad }}", "{{ if bad }}x{{ end }}", "{{ if no }}{{ else if bad }}{{ end }}", "{{ if ok }}{{ bad }}{{ end }}"} {
		tmpl, diags := Parse(src, srcmap.Identity("t.txt", src))
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		var b strings.Builder
		err := tmpl.Render(&b, eval, nil)
		if !errors.Is(err, errBoom) {
			t.Errorf("%q: error %v, want one wrapping %v", src, err, errBoom)
			continue
		}
		if !strings.Contains(err.Error(), "t.txt:1,") || !strings.Contains(err.Error(), "bad") {
			t.Errorf("%q: error %q does not say where", src, err)
		}
	}

	tmpl, _ := Parse("text {{ x }}", nil)
	errWrite := errors.New("disk full")
	if err := tmpl.Render(failWriter{errWrite}, eval, nil); !errors.Is(err, errWrite) {
		t.Errorf("write error: got %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestNodeRangeMethods(t *testing.T) {
	r := hcl.Range{Filename: "x", Start: hcl.Pos{Line: 1, Column: 2, Byte: 1}}
	for _, n := range []Node{&Text{Rng: r}, &Hole{Rng: r}, &If{Rng: r}} {
		if n.Range() != r {
			t.Errorf("%T.Range() = %#v", n, n.Range())
		}
	}
}

func TestParseUnicodeSpace(t *testing.T) {
	src := "{{\u00a0x\u00a0}}{{\u00a0if\u00a0y\u00a0}}z{{ end }}{{\u00a0}}"
	tmpl, diags := Parse(src, nil)
	if len(diags) != 1 || diags[0].Summary != "Empty template hole" {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	if got, want := dump(tmpl.Nodes), `{x} if(y)["z"]`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	checkExprs(t, src, tmpl)
}

// TestParseTooDeep checks that blocks nested past MaxDepth give one clear
// error at the first block too many, closed or not, and no crash however
// deep they go.
func TestParseTooDeep(t *testing.T) {
	for _, n := range []int{MaxDepth + 1, 100000} {
		for _, closed := range []bool{true, false} {
			src := strings.Repeat("{{ if a }}\n", n) + "x"
			if closed {
				src += strings.Repeat("{{ end }}", n)
			}
			tmpl, diags := Parse(src, nil)
			if len(diags) != 1 {
				t.Fatalf("n=%d closed=%v: %d diagnostics, want 1: %v", n, closed, len(diags), diags)
			}
			d := diags[0]
			if d.Summary != "Blocks nested too deeply" || diag.RuleOf(d) != diag.TemplateSyntax {
				t.Errorf("n=%d closed=%v: got %q [%s]", n, closed, d.Summary, diag.RuleOf(d))
			}
			if d.Subject == nil || d.Subject.Start.Line != MaxDepth+1 || d.Subject.Start.Column != 1 {
				t.Errorf("n=%d closed=%v: subject %v, want line %d column 1", n, closed, d.Subject, MaxDepth+1)
			}
			if !strings.Contains(d.Detail, "&&") {
				t.Errorf("detail does not say what to do: %s", d.Detail)
			}
			if got := len(tmpl.Exprs()); got != MaxDepth {
				t.Errorf("n=%d closed=%v: %d expressions, want the %d that were parsed", n, closed, got, MaxDepth)
			}
		}
	}
	// MaxDepth itself is fine.
	src := strings.Repeat("{{ if a }}", MaxDepth) + strings.Repeat("{{ end }}", MaxDepth)
	if _, diags := Parse(src, nil); len(diags) != 0 {
		t.Errorf("%d nested blocks: %v", MaxDepth, diags)
	}
}

// TestParseLongLineLinear parses 10,000 blocks and 10,000 holes on one
// line, as in minified HTML, which took seconds when finding the column of
// each was a walk from the start of the line. The bound is loose so a busy
// machine does not fail it; quadratic time would exceed it many times over.
func TestParseLongLineLinear(t *testing.T) {
	const n = 10000
	for name, src := range map[string]string{
		"blocks": strings.Repeat("<p>{{ if customer.vip }}VIP{{ else }}{{ customer.tier }}{{ end }}</p>", n),
		"nested": strings.Repeat("{{ if a }}", MaxDepth) + strings.Repeat("{{ x }}", n) + strings.Repeat("{{ end }}", MaxDepth),
		"holes":  strings.Repeat(`<td>{{ customer.first_name ?? "there" }}</td>`, n),
	} {
		start := time.Now()
		_, diags := Parse(src, nil)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("%s: parsing %d bytes on one line took %v", name, len(src), elapsed)
		}
		if diags.HasErrors() {
			t.Errorf("%s: %v", name, diags)
		}
	}
}

// BenchmarkParseLongLine shows parse time linear in the length of a line:
// compare the 1k and 10k results.
func BenchmarkParseLongLine(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		src := strings.Repeat("{{ if customer.vip }}<b>{{ customer.first_name }}</b>{{ end }}", n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				Parse(src, nil)
			}
		})
	}
}
