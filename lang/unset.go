package lang

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Unset names what a value reads that has no value, which is why the value
// is not known: the environment variables it reads with env() that are not
// set, and the input variables it reads that were given no value. Only
// these are named, never one that is set, so that the message tells the
// user what is left to do.
type Unset struct {
	Env  []string // environment variables read with env() that are not set
	Vars []string // input variables, without "var.", that have no value
}

// IsZero reports whether nothing is recorded.
func (u Unset) IsZero() bool { return len(u.Env) == 0 && len(u.Vars) == 0 }

// Hint says how to give the value, such as "set the environment variable
// SMTP_PASSWORD", or "" when nothing is recorded.
func (u Unset) Hint() string {
	var parts []string
	switch len(u.Env) {
	case 0:
	case 1:
		parts = append(parts, "set the environment variable "+u.Env[0])
	default:
		parts = append(parts, "set the environment variables "+andList(u.Env))
	}
	switch len(u.Vars) {
	case 0:
	case 1:
		n := u.Vars[0]
		parts = append(parts, fmt.Sprintf("give variable %s a value with -var '%s=…', -var-file or HERALD_VAR_%s", n, n, n))
	default:
		parts = append(parts, fmt.Sprintf("give variables %s values with -var, -var-file or HERALD_VAR_<name>", andList(u.Vars)))
	}
	return strings.Join(parts, ", and ")
}

func andList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// unset finds what expr reads that has no value: each env("NAME") whose
// variable is not set and each var.NAME without a value. It is asked only
// about a value that is not known, so it costs nothing on the common path.
func (l *loader) unset(expr hcl.Expression) Unset {
	var u Unset
	seen := map[string]bool{}
	if node, ok := expr.(hclsyntax.Node); ok {
		hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
			call, ok := n.(*hclsyntax.FunctionCallExpr)
			if !ok || call.Name != "env" || len(call.Args) != 1 {
				return nil
			}
			v, diags := call.Args[0].Value(l.ctx)
			if diags.HasErrors() || v.IsMarked() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
				// An unknown name comes from a variable, found below; a
				// sensitive one is not repeated in a message.
				return nil
			}
			name := v.AsString()
			if _, set := l.opts.lookupEnv(name); !set && name != "" && !seen["env."+name] {
				seen["env."+name] = true
				u.Env = append(u.Env, name)
			}
			return nil
		})
	}
	for _, t := range expr.Variables() {
		if t.RootName() != "var" || len(t) < 2 {
			continue
		}
		name := traverseName(t[1])
		if v := l.cfg.Variables[name]; v != nil && !v.Value.IsWhollyKnown() && !seen["var."+name] {
			seen["var."+name] = true
			u.Vars = append(u.Vars, name)
		}
	}
	return u
}
