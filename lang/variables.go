package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/heraldhq/herald/lang/diag"
)

var variableSchema = &hcl.BodySchema{Attributes: attrs("type", "default", "description", "sensitive")}

// decodeVariables decodes variable blocks, orders them by the references
// between their defaults (reporting cycles whole), and resolves each value:
// default, then HERALD_VAR_<name>, then -var-file, then -var.
func (l *loader) decodeVariables() {
	type pending struct {
		v    *Variable
		def  hcl.Expression
		deps []string
	}
	var order []string
	byName := map[string]*pending{}
	for _, b := range l.blocks["variable"] {
		c := l.content(b.Body, variableSchema)
		v := &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
		p := &pending{v: v}
		if a := c.Attributes["type"]; a != nil {
			ty, diags := typeexpr.TypeConstraint(a.Expr)
			l.diags = append(l.diags, diag.Tag(diags, diag.TypeMismatch)...)
			if !diags.HasErrors() {
				v.Type = ty
			}
		}
		if a := c.Attributes["description"]; a != nil {
			if s, diags := a.Expr.Value(nil); !diags.HasErrors() && s.Type() == cty.String && s.IsKnown() {
				v.Description = s.AsString()
			}
		}
		if a := c.Attributes["sensitive"]; a != nil {
			if s, diags := a.Expr.Value(nil); !diags.HasErrors() && s.Type() == cty.Bool && s.IsKnown() {
				v.Sensitive = s.True()
			}
		}
		if a := c.Attributes["default"]; a != nil {
			p.def = a.Expr
			for _, t := range a.Expr.Variables() {
				if t.RootName() == "var" && len(t) > 1 {
					p.deps = append(p.deps, traverseName(t[1]))
				}
			}
		}
		l.cfg.Variables[v.Name] = v
		byName[v.Name] = p
		order = append(order, v.Name)
	}

	// Values given explicitly win over defaults, also where a default
	// refers to another variable.
	l.assignVariableValues()

	// Resolve in dependency order, depth first, reporting each cycle once.
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string)
	values := map[string]cty.Value{}
	visit = func(name string) {
		p := byName[name]
		if p == nil || state[name] == done {
			return
		}
		if state[name] == visiting {
			i := 0
			for i < len(stack) && stack[i] != name {
				i++
			}
			cycle := append(append([]string{}, stack[i:]...), name)
			for j := range cycle {
				cycle[j] = "var." + cycle[j]
			}
			rng := byName[stack[i]].v.DeclRange
			l.diags = append(l.diags, diag.Error(diag.ReferenceCycle, &rng, "Reference cycle",
				fmt.Sprintf("These variables refer to each other in a loop: %s. Give one of them a value that does not depend on the others.", strings.Join(cycle, " → "))))
			for _, n := range stack[i:] {
				if byName[n].v.Value == cty.NilVal {
					byName[n].v.Value = cty.DynamicVal
				}
				values[n] = byName[n].v.Value
				state[n] = done
			}
			return
		}
		state[name] = visiting
		stack = append(stack, name)
		for _, d := range p.deps {
			visit(d)
		}
		stack = stack[:len(stack)-1]
		if state[name] == done { // resolved as part of a cycle
			return
		}
		state[name] = done
		v := p.v
		v.Default = cty.NullVal(v.Type)
		if p.def != nil {
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(values)}}
			if l.checkRefs(p.def) {
				dv, diags := p.def.Value(ctx)
				l.diags = append(l.diags, diag.Tag(diags, diag.TypeMismatch)...)
				if !diags.HasErrors() {
					if cv, err := convert.Convert(dv, v.Type); err != nil {
						rng := p.def.Range()
						l.diags = append(l.diags, diag.Error(diag.TypeMismatch, &rng, "Default does not match the variable's type",
							fmt.Sprintf("The default of var.%s must be %s: %v.", v.Name, typeexpr.TypeString(v.Type), err)))
					} else {
						v.Default = cv
					}
				}
			}
		}
		if v.Value == cty.NilVal {
			v.Value = v.Default
			if v.Value.IsNull() {
				v.Value = cty.UnknownVal(v.Type)
			}
		}
		values[name] = v.Value
	}
	for _, n := range order {
		visit(n)
	}
	if l.opts.NeedValues {
		for _, name := range Sorted(l.cfg.Variables) {
			v := l.cfg.Variables[name]
			if !v.Value.IsWhollyKnown() {
				rng := v.DeclRange
				l.diags = append(l.diags, diag.Error(diag.VariableValue, &rng,
					fmt.Sprintf("No value for var.%s", name),
					fmt.Sprintf("var.%s has no default. Give it a value with -var '%s=…', -var-file, or HERALD_VAR_%s.", name, name, name)))
			}
		}
	}
}

// assignVariableValues applies HERALD_VAR_<name>, -var-file and -var in that
// order, so the most explicit wins.
func (l *loader) assignVariableValues() {
	assign := func(name string, rng *hcl.Range, parse func(ty cty.Type) (cty.Value, hcl.Diagnostics), from string) {
		v, ok := l.cfg.Variables[name]
		if !ok {
			l.diags = append(l.diags, diag.Error(diag.VariableValue, rng,
				fmt.Sprintf("Value for undeclared variable %q", name),
				fmt.Sprintf("%s sets %q, but no variable block declares it.%s", from, name, diag.DidYouMean(name, l.names("variable")))))
			return
		}
		val, diags := parse(v.Type)
		l.diags = append(l.diags, diag.Tag(diags, diag.VariableValue)...)
		if diags.HasErrors() {
			return
		}
		cv, err := convert.Convert(val, v.Type)
		if err != nil {
			l.diags = append(l.diags, diag.Error(diag.VariableValue, rng,
				fmt.Sprintf("Invalid value for var.%s", name),
				fmt.Sprintf("%s gives a value that is not %s: %v.", from, typeexpr.TypeString(v.Type), err)))
			return
		}
		v.Value = cv
	}
	// A raw string from the command line or environment is taken as is for
	// string variables and parsed as an HCL expression for others, as
	// terraform does. One that is not an expression, or is a bare name
	// (min_ltv=abc parses as a reference to abc), is the string it is,
	// converted to the variable's type: "abc" is not a number, which says
	// more than "Variables not allowed".
	raw := func(name, s, label string) func(cty.Type) (cty.Value, hcl.Diagnostics) {
		return func(ty cty.Type) (cty.Value, hcl.Diagnostics) {
			if ty == cty.String || ty == cty.DynamicPseudoType {
				return cty.StringVal(s), nil
			}
			expr, diags := parseExpression([]byte(s), label)
			if expr == nil {
				return cty.NilVal, diags // too deep to read at all
			}
			if !diags.HasErrors() && len(expr.Variables()) == 0 {
				if v, diags := expr.Value(nil); !diags.HasErrors() {
					return v, nil
				}
			}
			v, err := convert.Convert(cty.StringVal(s), ty)
			if err != nil {
				given := fmt.Sprintf("%q", s)
				if decl := l.cfg.Variables[name]; decl != nil && decl.Sensitive {
					given = sensitiveText
				}
				return cty.NilVal, hcl.Diagnostics{diag.Error(diag.VariableValue, nil,
					fmt.Sprintf("Invalid value for var.%s", name),
					fmt.Sprintf("%s: %s is not %s. var.%s is %s.", label, given, friendlyType(ty), name, typeexpr.TypeString(ty)))}
			}
			return v, nil
		}
	}
	for _, name := range Sorted(l.cfg.Variables) {
		if s, ok := l.opts.lookupEnv("HERALD_VAR_" + name); ok {
			assign(name, nil, raw(name, s, "HERALD_VAR_"+name), "HERALD_VAR_"+name)
		}
	}
	for _, path := range l.opts.VarFiles {
		full := path
		if !filepath.IsAbs(full) {
			full = filepath.Join(l.dir, path)
		}
		src, err := os.ReadFile(full)
		if err != nil {
			l.diags = append(l.diags, diag.Error(diag.VariableValue, nil, "Cannot read variable file", fmt.Sprintf("%v. Check the -var-file path.", err)))
			continue
		}
		l.cfg.sources[path] = src
		f, diags := parseConfig(src, path)
		l.diags = append(l.diags, diag.Tag(diags, diag.Syntax)...)
		if diags.HasErrors() {
			continue
		}
		as, diags := f.Body.JustAttributes()
		l.diags = append(l.diags, diag.Tag(diags, diag.Structure)...)
		for _, name := range Sorted(as) {
			a := as[name]
			rng := a.NameRange
			assign(name, &rng, func(cty.Type) (cty.Value, hcl.Diagnostics) { return a.Expr.Value(nil) }, "The variable file "+path)
		}
	}
	for _, kv := range l.opts.Vars {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			l.diags = append(l.diags, diag.Error(diag.VariableValue, nil, "Invalid -var option",
				fmt.Sprintf("%q is not NAME=VALUE. Write -var 'name=value'.", kv)))
			continue
		}
		assign(name, nil, raw(name, val, "-var "+name), "-var")
	}
}

// varObject is the `var` object of the evaluation context.
func (l *loader) varObject() cty.Value {
	vals := map[string]cty.Value{}
	for n, v := range l.cfg.Variables {
		val := v.Value
		if val == cty.NilVal {
			val = cty.DynamicVal
		}
		if v.Sensitive {
			val = val.Mark(sensitiveMark{})
		}
		vals[n] = val
	}
	return cty.ObjectVal(vals)
}
