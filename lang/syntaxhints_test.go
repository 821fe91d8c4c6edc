package lang_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// TestSyntaxHints: a missing "=" is reported at the attribute's name with
// the fix, and the parse errors it is not are left as hcl reports them.
func TestSyntaxHints(t *testing.T) {
	cases := []struct {
		name    string
		src     string
		line    int
		column  int
		summary string
		detail  string
	}{
		{"string value", "segment \"x\" {\n  where \"customer.ltv >= 1.0\" # note\n}\n", 2, 3,
			`Missing "=" after "where"`, `where = "customer.ltv >= 1.0"`},
		{"reference value", "segment \"x\" {\n  from source.customers\n}\n", 2, 3,
			`Missing "=" after "from"`, `from = source.customers`},
		{"brace on the next line", "segment \"x\"\n{\n}\n", 1, 12,
			"Invalid block definition", "starting on the same line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(c.src)}}, ".", lang.Options{LookupEnv: noEnv})
			if len(diags) == 0 {
				t.Fatal("no diagnostic")
			}
			d := diags[0]
			if diag.RuleOf(d) != diag.Syntax || d.Summary != c.summary || !strings.Contains(d.Detail, c.detail) {
				t.Errorf("got [%s] %q: %s", diag.RuleOf(d), d.Summary, d.Detail)
			}
			if d.Subject == nil || d.Subject.Start.Line != c.line || d.Subject.Start.Column != c.column {
				t.Errorf("reported at %v, want line %d column %d", d.Subject, c.line, c.column)
			}
		})
	}
}
