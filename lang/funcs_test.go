package lang_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// TestFunctionCalls: a call to env() or file() written wrongly is reported
// as what it is, with the function's signature, whether or not values are
// needed: never as an unset variable or a missing file, and never "<nil>".
// An unknown function is an unknown reference with a "did you mean".
func TestFunctionCalls(t *testing.T) {
	tests := []struct {
		name, expr string
		rule       diag.Rule
		summary    string
		subject    string // the text the diagnostic points at
		detail     string // a part of the detail
	}{
		{"env two args", `env("A", "B")`, diag.Structure, "Too many function arguments", `"B"`, `env("NAME")`},
		{"env no args", `env()`, diag.Structure, "Not enough function arguments", `)`, `env("NAME")`},
		{"env null", `env(null)`, diag.TypeMismatch, "Invalid function argument", `null`, `env("NAME")`},
		{"env list", `env(["A"])`, diag.TypeMismatch, "Invalid function argument", `["A"]`, `env("NAME")`},
		{"env empty", `env("")`, diag.InvalidValue, "Invalid function argument", `""`, "cannot be empty"},
		{"file two args", `file("x.html", "x")`, diag.Structure, "Too many function arguments", `"x"`, `file("path")`},
		{"file null", `file(null)`, diag.TypeMismatch, "Invalid function argument", `null`, `file("path")`},
		{"unknown function", `join(",", ["a"])`, diag.UnknownReference, `Unknown function "join"`, `join`, `env("NAME")`},
		{"misspelt function", `fiel("templates/welcome.html")`, diag.UnknownReference, `Unknown function "fiel"`, `fiel`, `Did you mean "file"?`},
		{"misspelt env", `evn("X")`, diag.UnknownReference, `Unknown function "evn"`, `evn`, `Did you mean "env"?`},
	}
	for _, tc := range tests {
		for _, need := range []bool{false, true} {
			name := tc.name + "/validate"
			if need {
				name = tc.name + "/plan"
			}
			t.Run(name, func(t *testing.T) {
				fsys := smallFS(t, `subject = "Thanks"`, "subject = "+tc.expr)
				_, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: env(nil), NeedValues: need})
				src := fsys["main.hcl"].Data
				wantOne(t, diags, src, tc.rule, tc.summary, tc.subject)
				if len(diags) == 1 {
					if d := diags[0].Detail; !strings.Contains(d, tc.detail) || strings.Contains(d, "<nil>") {
						t.Errorf("detail %q, want it to contain %q", d, tc.detail)
					}
				}
			})
		}
	}
}

// TestEnvEmptyNameWithEnv: env("") is an error even where a lookup of ""
// would answer.
func TestEnvEmptyNameWithEnv(t *testing.T) {
	fsys := smallFS(t, `subject = "Thanks"`, `subject = env("")`)
	_, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: func(string) (string, bool) { return "x", true }})
	if !hasRule(diags, diag.InvalidValue) {
		t.Fatalf("env(\"\") with every variable set: want invalid-value, got %v", diags)
	}
}
