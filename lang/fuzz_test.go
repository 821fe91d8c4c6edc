package lang_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// FuzzLoad feeds arbitrary text to the whole loader, as one main.hcl beside
// a template file: no input may make it panic, and every diagnostic must
// carry a rule.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*/*.hcl")
	more, _ := filepath.Glob("../examples/broken/*/*.hcl")
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Add(`segment "x" { from = source.c  where = "customer.a >" }`)
	f.Add("template \"t\" {\n channel = \"email\"\n subject = \"{{ if x }}\"\n html = <<-EOT\n  {{ customer.x ?? 'y' }}\n  EOT\n}")
	// Nesting that overflowed hcl's recursive parser (70,000 brackets was
	// the reported crash), and others just past herald's limit.
	f.Add("variable \"x\" {\n  default = " + strings.Repeat("[", 70000) + strings.Repeat("]", 70000) + "\n}\n")
	for _, open := range []string{"(", "{a=", `"${`, "-", "true ? 1 : "} {
		f.Add("variable \"x\" {\n  default = " + strings.Repeat(open, lang.MaxNesting+1) + "1\n}\n")
	}
	f.Add("template \"t\" {\n channel = \"email\"\n subject = \"{{ " + strings.Repeat("(", 300) + "x" + strings.Repeat(")", 300) + " }}\"\n}")
	f.Fuzz(func(t *testing.T, src string) {
		fsys := fstest.MapFS{
			"main.hcl":         {Data: []byte(src)},
			"templates/t.html": {Data: []byte("<p>{{ customer.first_name ?? \"there\" }} {{ unsubscribe_url }}</p>")},
		}
		cfg, diags := lang.LoadFS(fsys, "fuzz", lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
		if cfg == nil {
			t.Fatal("nil config")
		}
		for _, d := range diags {
			if diag.RuleOf(d) == "" {
				t.Errorf("diagnostic without a rule: %s: %s", d.Summary, d.Detail)
			}
		}
	})
}
