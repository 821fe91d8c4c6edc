package lang_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// nested is open n times, then mid, then close n times.
func nested(open, mid, close string, n int) string {
	return strings.Repeat(open, n) + mid + strings.Repeat(close, n)
}

// deepExprs are HCL expressions that overflowed the stack of hcl's
// recursive parser (or evaluator) before herald checked nesting: each
// level is one recursive call, and at tens of thousands of them Go stops
// with "fatal error: stack overflow", which recover cannot catch. Chains of
// operators took about a million to crash; they are shorter here to keep
// the test fast, and take the same path.
var deepExprs = []struct {
	name, expr string
}{
	{"brackets", nested("[", "", "]", 70000)},
	{"parentheses", nested("(", "1", ")", 100000)},
	{"objects", nested("{a=", "1", "}", 100000)},
	{"interpolation", nested(`"${`, "1", `}"`, 100000)},
	{"template if", `"` + nested("%{ if true }", "x", "%{ endif }", 100000) + `"`},
	{"unary minus", strings.Repeat("-", 100000) + "1"},
	{"conditionals", strings.Repeat("true ? 1 : ", 100000) + "2"},
	{"additions", "1" + strings.Repeat("+1", 100000)},
}

// checkTooDeep checks that diags is exactly the nesting error, in file,
// at a column past the first MaxNesting bytes of line.
func checkTooDeep(t *testing.T, diags hcl.Diagnostics, file string, line int) {
	t.Helper()
	if len(diags) != 1 {
		t.Fatalf("%d diagnostics, want 1: %v", len(diags), diags)
	}
	d := diags[0]
	if d.Severity != hcl.DiagError || diag.RuleOf(d) != diag.Syntax || d.Summary != "Nested too deeply" {
		t.Errorf("got %v %q [%s], want the syntax error Nested too deeply", d.Severity, d.Summary, diag.RuleOf(d))
	}
	if !strings.Contains(d.Detail, "Split the value") {
		t.Errorf("the detail does not say what to do: %s", d.Detail)
	}
	if d.Subject == nil || d.Subject.Filename != file || d.Subject.Start.Line != line || d.Subject.Start.Column < lang.MaxNesting {
		t.Errorf("subject %v, want %s line %d past column %d", d.Subject, file, line, lang.MaxNesting)
	}
	if d.Subject != nil && d.Subject.End.Byte-d.Subject.Start.Byte > 3 {
		t.Errorf("subject %v is not one token", d.Subject)
	}
}

// TestTooDeep feeds each deep expression to validate, and the first also
// through every other way HCL reaches herald: fmt, -var, HERALD_VAR_ and
// -var-file.
func TestTooDeep(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for i, tc := range deepExprs {
		t.Run(tc.name, func(t *testing.T) {
			main := "variable \"x\" {\n  default = " + tc.expr + "\n}\n"
			t.Run("validate", func(t *testing.T) {
				_, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(main)}}, "p", lang.Options{LookupEnv: noEnv})
				checkTooDeep(t, diags, "main.hcl", 2)
			})
			if i > 0 {
				return
			}
			t.Run("fmt", func(t *testing.T) {
				out, diags := lang.FormatFile("main.hcl", []byte(main))
				checkTooDeep(t, diags, "main.hcl", 2)
				if string(out) != main {
					t.Error("fmt changed a file it could not read")
				}
			})
			decl := []byte("variable \"x\" {\n  type = any\n}\nvariable \"y\" {\n  type = list(number)\n}\n")
			t.Run("-var", func(t *testing.T) {
				_, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: decl}}, "p",
					lang.Options{LookupEnv: noEnv, Vars: []string{"y=" + tc.expr}})
				checkTooDeep(t, diags, "-var y", 1)
			})
			t.Run("HERALD_VAR_", func(t *testing.T) {
				env := func(k string) (string, bool) { return tc.expr, k == "HERALD_VAR_y" }
				_, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: decl}}, "p", lang.Options{LookupEnv: env})
				checkTooDeep(t, diags, "HERALD_VAR_y", 1)
			})
			t.Run("-var-file", func(t *testing.T) {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "main.hcl"), decl, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "deep.hclvars"), []byte("\n\nx = "+tc.expr+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				_, diags := lang.Load(dir, lang.Options{LookupEnv: noEnv, VarFiles: []string{"deep.hclvars"}})
				checkTooDeep(t, diags, "deep.hclvars", 3)
			})
		})
	}
}

// TestNestingLimit checks the limit itself: MaxNesting levels read, one
// more is an error at the bracket that goes past it, and long flat lists
// and many attributes, whose operators do not chain, are fine.
func TestNestingLimit(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	load := func(src string) hcl.Diagnostics {
		_, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, "p", lang.Options{LookupEnv: noEnv})
		return diags
	}
	// The variable block's braces are the first level.
	ok := "variable \"x\" {\n  default = " + nested("[", "", "]", lang.MaxNesting-1) + "\n}\n"
	if diags := load(ok); diags.HasErrors() {
		t.Errorf("%d levels: %v", lang.MaxNesting, diags)
	}
	deep := "variable \"x\" {\n  default = " + nested("[", "", "]", lang.MaxNesting) + "\n}\n"
	diags := load(deep)
	checkTooDeep(t, diags, "main.hcl", 2)
	if col := len("  default = ") + lang.MaxNesting; len(diags) == 1 && diags[0].Subject.Start.Column != col {
		t.Errorf("error at column %d, want %d, the bracket past the limit", diags[0].Subject.Start.Column, col)
	}
	var flat strings.Builder
	flat.WriteString("variable \"x\" {\n  default = [\n")
	for range 5000 {
		flat.WriteString("    -1 + 2 * 3 == 5 ? !true : false,\n")
	}
	flat.WriteString("  ]\n}\n")
	for i := range 3000 {
		flat.WriteString("variable \"v" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + "\" { default = -1 + 2 }\n")
	}
	if diags := load(flat.String()); diags.HasErrors() {
		for _, d := range diags {
			if d.Summary == "Nested too deeply" {
				t.Errorf("a long flat list is not deep: %v", d)
			}
		}
	}
}

// TestDeepCEL checks that CEL, whose parser has its own recursion limit
// and size limit, reports deep conditions and template holes as errors.
func TestDeepCEL(t *testing.T) {
	for _, tc := range []struct{ name, where, hole string }{
		{"where, past CEL's recursion limit", nested("(", "customer.ltv > 1.0", ")", 40000), ""},
		{"where, past CEL's size limit", nested("(", "customer.ltv > 1.0", ")", 100000), ""},
		{"template hole", "", nested("(", "customer.first_name", ")", 100000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			where := "customer.ltv > 1.0"
			if tc.where != "" {
				where = tc.where
			}
			hole := "customer.first_name"
			if tc.hole != "" {
				hole = tc.hole
			}
			fsys := fstest.MapFS{
				"main.hcl":               {Data: []byte(strings.Replace(smallProject, "WHERE", where, 1))},
				"templates/welcome.html": {Data: []byte("<p>{{ " + hole + " }}</p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> {{ sender.postal_address }}")},
				"data/customers.csv":     {Data: []byte("id,email,first_name,ltv\n")},
				"data/consents.csv":      {Data: []byte("customer_id,channel,status,method,recorded_at,policy_version\n")},
			}
			_, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
			if len(diags) != 1 || diag.RuleOf(diags[0]) != diag.CELSyntax || diags[0].Subject == nil {
				t.Fatalf("want one cel-syntax error with a range, got %v", diags)
			}
			if d := diags[0]; d.Summary != "Expression too complex" || !strings.Contains(d.Detail, "Split it") {
				t.Errorf("got %q: %s", d.Summary, d.Detail)
			}
		})
	}
}

// smallProject is what herald init writes, with WHERE for the segment's
// condition.
const smallProject = `
herald {
  public_url = "https://shop.example.com"
  sender {
    name           = "Example Shop"
    email          = "news@shop.example.com"
    postal_address = "1 Example Street, Springfield, OR 97477, USA"
  }
}
provider "outbox" "local" {
  dir = ".herald/outbox"
}
provider "files" "data" {
  dir = "data"
}
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "first_name" { pii = "name" }
  field "ltv" { type = double }
}
source "customers" {
  from   = provider.files.data
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}
source "consents" {
  from  = provider.files.data
  table = "consents.csv"
}
consent {
  from = source.consents
  channel "email" {
    basis  = "consent"
    opt_in = "single"
  }
}
segment "valued" {
  from  = source.customers
  where = "WHERE"
}
template "welcome" {
  channel = "email"
  subject = "Thanks"
  html    = file("templates/welcome.html")
}
campaign "welcome" {
  audience    = segment.valued
  channel     = "email"
  via         = provider.outbox.local
  purpose     = "marketing"
  legal_basis = "consent"
  variant "a" {
    template = template.welcome
  }
}
`
