package lang_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

const varFlagProject = `
variable "min_ltv" {
  type = number
}
variable "enabled" {
  type = bool
}
variable "tags" {
  type = list(string)
}
variable "pin" {
  type      = number
  sensitive = true
}
`

// TestVarFlagValues: a -var or HERALD_VAR_ value that is not an HCL
// expression, or is a bare name, is taken as the string it is and
// converted to the variable's type, so the error says what is wrong with
// it ("abc" is not a number) instead of "Variables not allowed".
func TestVarFlagValues(t *testing.T) {
	tests := []struct {
		name   string
		vars   []string
		env    map[string]string
		varN   string    // the variable to check
		want   cty.Value // its value, when there is no error
		detail string    // the error's detail, when there is one
	}{
		{name: "number", vars: []string{"min_ltv=1.5"}, varN: "min_ltv", want: cty.NumberFloatVal(1.5)},
		{name: "number exponent", vars: []string{"min_ltv=1e3"}, varN: "min_ltv", want: cty.NumberIntVal(1000)},
		{name: "negative number", vars: []string{"min_ltv=-2"}, varN: "min_ltv", want: cty.NumberIntVal(-2)},
		{name: "quoted number", vars: []string{`min_ltv="7"`}, varN: "min_ltv", want: cty.NumberIntVal(7)},
		{name: "bool", vars: []string{"enabled=true"}, varN: "enabled", want: cty.True},
		{name: "list", vars: []string{`tags=["a", "b"]`}, varN: "tags", want: cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")})},
		{name: "name for a number", vars: []string{"min_ltv=abc"}, varN: "min_ltv", detail: `-var min_ltv: "abc" is not a number. var.min_ltv is number.`},
		{name: "attribute for a number", vars: []string{"min_ltv=a.b"}, varN: "min_ltv", detail: `-var min_ltv: "a.b" is not a number.`},
		{name: "not an expression", vars: []string{"min_ltv=12 apples"}, varN: "min_ltv", detail: `-var min_ltv: "12 apples" is not a number.`},
		{name: "name for a bool", vars: []string{"enabled=yes"}, varN: "enabled", detail: `-var enabled: "yes" is not a bool (true or false).`},
		{name: "from the environment", env: map[string]string{"HERALD_VAR_min_ltv": "abc"}, varN: "min_ltv", detail: `HERALD_VAR_min_ltv: "abc" is not a number.`},
		{name: "sensitive", vars: []string{"pin=s3cret-pin"}, varN: "pin", detail: `-var pin: (sensitive value) is not a number.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"main.hcl": {Data: []byte(varFlagProject)}}
			cfg, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: env(tc.env), Vars: tc.vars})
			if tc.detail == "" {
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				if got := cfg.Variables[tc.varN].Value; !got.RawEquals(tc.want) {
					t.Errorf("var.%s = %#v, want %#v", tc.varN, got, tc.want)
				}
				return
			}
			if len(diags) != 1 {
				t.Fatalf("want one diagnostic, got %v", diags)
			}
			d := diags[0]
			if diag.RuleOf(d) != diag.VariableValue || d.Summary != "Invalid value for var."+tc.varN || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("got %q [%s] %q, want variable-value with %q", d.Summary, diag.RuleOf(d), d.Detail, tc.detail)
			}
			if strings.Contains(d.Detail, "s3cret") {
				t.Errorf("the detail holds the sensitive value: %q", d.Detail)
			}
		})
	}
}
