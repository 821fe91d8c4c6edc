package lang

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/heraldhq/herald/lang/diag"
)

// functionNames are the functions a value expression can call.
var functionNames = []string{"env", "file"}

// signatures says how each function is called, for the details of
// diagnostics about a call written wrongly.
var signatures = map[string]string{
	"env":  `Call it as env("NAME"): one string, the name of an environment variable.`,
	"file": `Call it as file("path"): one string, a path relative to the project directory.`,
}

// argError is an argument that a function rejects by its value, such as
// env(""): the call is written wrongly, whatever the environment holds.
type argError struct{ msg string }

func (e argError) Error() string { return e.msg }

// functionDiag gives a diagnostic from evaluating an expression its rule.
// Only an error returned by env() or file() themselves (an unset variable,
// a missing file) is rewritten to say what to do; a call written wrongly
// (too many arguments, null, a list, an empty name) keeps hcl's message,
// which says what is wrong, and gains the function's signature. An unknown
// function is an unknown reference, with a "did you mean".
func (l *loader) functionDiag(d *hcl.Diagnostic) *hcl.Diagnostic {
	if extra, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallUnknownDiagExtra](d); ok {
		name := extra.CalledFunctionName()
		if ns := extra.CalledFunctionNamespace(); ns != "" {
			name = ns + name
		}
		d.Summary = fmt.Sprintf("Unknown function %q", name)
		d.Detail = fmt.Sprintf(`herald has two functions: env("NAME") reads an environment variable and file("path") reads a file of the project.%s`,
			diag.DidYouMean(name, functionNames))
		return diag.WithRule(d, diag.UnknownReference)
	}
	if extra, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](d); ok {
		name := extra.CalledFunctionName()
		sig := signatures[name]
		err := extra.FunctionCallError()
		var fnArg function.ArgError
		var ownArg argError
		switch {
		case err == nil || errors.As(err, &fnArg):
			// hcl or cty rejected the arguments before the function ran:
			// their number, their type, or a null.
			// hcl points at the start of the argument; the whole of it
			// reads better under the caret.
			rule := diag.TypeMismatch
			call, isCall := d.Expression.(*hclsyntax.FunctionCallExpr)
			switch {
			case strings.HasSuffix(d.Summary, "function arguments"):
				rule = diag.Structure // "Not enough …", "Too many …"
				if isCall && d.Summary == "Too many function arguments" && len(call.Args) > 1 {
					rng := call.Args[1].Range() // env and file take one
					d.Subject = &rng
				}
			case !isCall && d.Expression != nil:
				rng := d.Expression.Range()
				d.Subject = &rng
			}
			d.Detail = strings.TrimSpace(d.Detail + " " + sig)
			return diag.WithRule(d, rule)
		case errors.As(err, &ownArg):
			if call, ok := d.Expression.(*hclsyntax.FunctionCallExpr); ok && len(call.Args) > 0 {
				rng := call.Args[0].Range()
				d.Subject = &rng
			}
			d.Summary = "Invalid function argument"
			d.Detail = strings.TrimSpace(fmt.Sprintf("%s. %s", capitalize(ownArg.msg), sig))
			return diag.WithRule(d, diag.InvalidValue)
		}
		if d.Expression != nil {
			rng := d.Expression.Range()
			d.Subject = &rng
		}
		switch name {
		case "env":
			d.Summary = "Environment variable not set"
			d.Detail = fmt.Sprintf("%v. This command needs the value: export it before running herald (it is never written to state or plans).", unwrapFuncErr(err))
			return diag.WithRule(d, diag.EnvUnset)
		case "file":
			d.Summary = "Cannot read file"
			d.Detail = fmt.Sprintf("%v. Paths given to file() are relative to the project directory.", unwrapFuncErr(err))
			return diag.WithRule(d, diag.FileNotFound)
		}
	}
	if strings.Contains(d.Summary, "Unknown variable") || strings.Contains(d.Summary, "Unsupported attribute") {
		return diag.WithRule(d, diag.UnknownReference)
	}
	return diag.WithRule(d, diag.TypeMismatch)
}

func unwrapFuncErr(err error) error {
	if pe, ok := err.(function.PanicError); ok {
		return fmt.Errorf("%v", pe.Value)
	}
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
