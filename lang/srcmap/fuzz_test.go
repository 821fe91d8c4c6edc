package srcmap

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// FuzzForLiteral writes body as a quoted string, a heredoc or an indented
// heredoc, and checks the Map of every value HCL accepts: no panic,
// positions inside the literal and in agreement with the file, and an exact
// reading of every pure literal.
func FuzzForLiteral(f *testing.F) {
	for _, body := range []string{
		"",
		"Hi {{ customer.first_name }}",
		`a\nb\tc\"d\\e\u00e9\U0001F600`,
		"$${x} %%{y} $$ %% $ %",
		"héllo 😀 e\u0301",
		"  indented\n    more\n\n      \n  back",
		"\tx\n\t\ty",
		"line\r\nline",
		`${"interp"} after`,
		`%{ if true }yes%{ endif }`,
		"\u3000\u3000x\n\u3000 y",
		"a\\",
	} {
		for kind := range uint8(3) {
			f.Add(body, kind)
		}
	}
	f.Fuzz(runOne)
}

func runOne(t *testing.T, body string, kind uint8) {
	{
		var src string
		switch kind % 3 {
		case 0:
			src = `a = "` + body + "\"\n"
		case 1:
			src = "a = <<EOT\n" + body + "\nEOT\n"
		case 2:
			src = "x {\n  a = <<-EOT\n" + body + "\n  EOT\n}\n"
		}
		file, diags := hclsyntax.ParseConfig([]byte(src), "main.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			return
		}
		a := findAttr(file.Body.(*hclsyntax.Body), "a")
		if a == nil {
			return
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() || v.Type() != cty.String || !v.IsKnown() || v.IsNull() {
			return
		}
		decoded := v.AsString()
		rng := a.Expr.Range()
		m, ok := ForLiteral("main.hcl", []byte(src), rng, decoded)
		te, isTemplate := a.Expr.(*hclsyntax.TemplateExpr)
		if isTemplate && te.IsStringLiteral() && !ok {
			t.Fatalf("a pure literal was not read exactly: %q gives %q", src[rng.Start.Byte:rng.End.Byte], decoded)
		}
		checkMap(t, src, m, ok, decoded, rng)
	}
}
