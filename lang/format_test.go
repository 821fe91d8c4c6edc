package lang

import (
	"bytes"
	"strings"
	"testing"

	"github.com/heraldhq/herald/lang/diag"
)

var formatCases = []struct {
	name, in, want string
}{
	{
		name: "aligns and indents",
		in: `segment "x" {
from = source.customers
    where="customer.ltv >= 500.0"
}
`,
		want: `segment "x" {
  from  = source.customers
  where = "customer.ltv >= 500.0"
}
`,
	},
	{
		name: "nested blocks and comments",
		in: `campaign "c" {
  # who
  audience = segment.x   # the audience
  exclude = [segment.a,segment.b]
  variant "a" {
  weight = 50
  template = template.a
  }
}
`,
		want: `campaign "c" {
  # who
  audience = segment.x # the audience
  exclude  = [segment.a, segment.b]
  variant "a" {
    weight   = 50
    template = template.a
  }
}
`,
	},
	{
		name: "already formatted",
		in: `herald {
  public_url = "https://example.com"
}
`,
		want: `herald {
  public_url = "https://example.com"
}
`,
	},
	{
		name: "heredoc kept as written",
		in: `template "t" {
  body = <<EOT
  {{ customer.first_name }},   hello
EOT
}
`,
		want: `template "t" {
  body = <<EOT
  {{ customer.first_name }},   hello
EOT
}
`,
	},
	{name: "empty", in: "", want: ""},
}

func TestFormat(t *testing.T) {
	for _, tc := range formatCases {
		t.Run(tc.name, func(t *testing.T) {
			got, diags := FormatFile("test.hcl", []byte(tc.in))
			if diags.HasErrors() {
				t.Fatalf("FormatFile: %v", diags)
			}
			if string(got) != tc.want {
				t.Errorf("FormatFile:\n%s\nwant:\n%s", got, tc.want)
			}
			if again := Format(got); !bytes.Equal(again, got) {
				t.Errorf("Format is not idempotent; second pass:\n%s", again)
			}
		})
	}
}

func TestFormatFileSyntaxError(t *testing.T) {
	src := []byte("segment \"x\" {\n  where = \"unterminated\n}\n")
	got, diags := FormatFile("segments.hcl", src)
	if !diags.HasErrors() {
		t.Fatal("FormatFile of a malformed file returned no error")
	}
	if !bytes.Equal(got, src) {
		t.Errorf("FormatFile changed a malformed file:\n%s", got)
	}
	for _, d := range diags {
		if r := diag.RuleOf(d); r != diag.Syntax {
			t.Errorf("diagnostic %q has rule %q, want %q", d.Summary, r, diag.Syntax)
		}
		if d.Subject == nil || d.Subject.Filename != "segments.hcl" {
			t.Errorf("diagnostic %q has subject %v, want one in segments.hcl", d.Summary, d.Subject)
		}
	}
}

// FuzzFormat checks that FormatFile never panics, never changes a file that
// does not parse, never makes a valid file invalid, and is idempotent.
func FuzzFormat(f *testing.F) {
	for _, tc := range formatCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("a = { b = 1, c = [1,2,3] }\n"))
	f.Add([]byte("x = \"${a}%{if b}c%{endif}\"\n"))
	// Nesting that overflowed hcl's recursive parser, and some just past
	// herald's limit.
	f.Add([]byte("x = " + strings.Repeat("[", 70000) + strings.Repeat("]", 70000) + "\n"))
	for _, open := range []string{"(", "{a=", `"${`, "%{ if true }", "!"} {
		f.Add([]byte("x = " + strings.Repeat(open, MaxNesting+1) + "\n"))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		once, diags := FormatFile("fuzz.hcl", src)
		if diags.HasErrors() {
			if !bytes.Equal(once, src) {
				t.Fatal("a file that does not parse was changed")
			}
			return
		}
		if _, diags := FormatFile("fuzz.hcl", once); diags.HasErrors() {
			t.Fatalf("formatting made a valid file invalid: %v\n%s", diags, once)
		}
		if twice, _ := FormatFile("fuzz.hcl", once); !bytes.Equal(twice, once) {
			t.Fatalf("not idempotent:\nonce:\n%q\ntwice:\n%q", once, twice)
		}
	})
}
