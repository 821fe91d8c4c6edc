package lang

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/lang/srcmap"
)

// content decodes body against schema, reporting unknown and missing
// attributes and blocks with hcl's own "did you mean".
func (l *loader) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, diags := body.Content(schema)
	l.diags = append(l.diags, diag.Tag(diags, diag.Structure)...)
	return c
}

// attrs lists attribute schemas: a name ending in "!" is required.
func attrs(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		req := strings.HasSuffix(n, "!")
		out[i] = hcl.AttributeSchema{Name: strings.TrimSuffix(n, "!"), Required: req}
	}
	return out
}

// governanceAttrs are taken by segments, campaigns, audiences and triggers.
var governanceAttrs = []string{"description", "owner", "labels"}

// waiveBlock is the waiver block every lintable block takes.
var waiveBlock = hcl.BlockHeaderSchema{Type: "waive", LabelNames: []string{"rule"}}

// eval evaluates expr, reporting errors with rules that say what went wrong.
func (l *loader) eval(expr hcl.Expression) (cty.Value, bool) {
	v, diags := expr.Value(l.ctx)
	v = l.unmark(expr, v, diags.HasErrors())
	for _, d := range diags {
		l.diags = append(l.diags, l.functionDiag(d))
	}
	if diags.HasErrors() {
		return cty.DynamicVal, false
	}
	return v, true
}

// checkRefs reports references in a value expression to anything but var.
func (l *loader) checkRefs(expr hcl.Expression) bool {
	ok := true
	for _, t := range expr.Variables() {
		root := t.RootName()
		rng := t.SourceRange()
		if root == "var" {
			if len(t) < 2 {
				l.diags = append(l.diags, diag.Error(diag.UnknownReference, &rng, "Incomplete reference", "Write var.NAME to use a variable."))
				ok = false
				continue
			}
			name := traverseName(t[1])
			if _, declared := l.cfg.Variables[name]; !declared {
				l.diags = append(l.diags, diag.Error(diag.UnknownReference, &rng,
					fmt.Sprintf("Unknown variable %q", name),
					fmt.Sprintf("No variable %q is declared.%s Declare it with a variable block.", name, diag.DidYouMean(name, l.names("variable")))))
				ok = false
			}
			continue
		}
		if refKind(root) != "" {
			l.diags = append(l.diags, diag.Error(diag.WrongReference, &rng,
				fmt.Sprintf("A reference to a %s is not allowed here", root),
				"This attribute takes a value (a string, number or bool), not a block. References to blocks go in attributes such as from, audience, via and template."))
			ok = false
			continue
		}
		l.diags = append(l.diags, diag.Error(diag.UnknownReference, &rng,
			fmt.Sprintf("Unknown name %q", root),
			fmt.Sprintf("Values can use var.NAME, env(\"NAME\") and file(\"PATH\").%s", diag.DidYouMean(root, []string{"var", "env", "file"}))))
		ok = false
	}
	return ok
}

// str evaluates a string attribute. ok is false when it is absent, unknown
// or wrong; a diagnostic was reported in the last two cases.
func (l *loader) str(a *hcl.Attribute) (string, bool) {
	if a == nil || !l.checkRefs(a.Expr) {
		return "", false
	}
	v, ok := l.eval(a.Expr)
	if !ok || !v.IsWhollyKnown() {
		return "", false
	}
	if v.IsNull() {
		return "", false
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		l.typeMismatch(a, "a string", v)
		return "", false
	}
	return sv.AsString(), true
}

// value evaluates a, converting to ty. Unknown values (an unset env()) are
// returned as such.
func (l *loader) value(a *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
	if a == nil || !l.checkRefs(a.Expr) {
		return cty.NullVal(ty), false
	}
	v, ok := l.eval(a.Expr)
	if !ok {
		return cty.NullVal(ty), false
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		l.typeMismatch(a, friendlyType(ty), v)
		return cty.NullVal(ty), false
	}
	return cv, true
}

func (l *loader) number(a *hcl.Attribute) (*big.Float, bool) {
	v, ok := l.value(a, cty.Number)
	if !ok || !v.IsKnown() || v.IsNull() {
		return nil, false
	}
	return v.AsBigFloat(), true
}

// float evaluates a number attribute as a float64. HCL numbers are
// arbitrary precision, so one too large for a float64 (1e400) or so small
// that it rounds to zero (1e-400) is reported rather than read as
// infinity or 0.
func (l *loader) float(a *hcl.Attribute) (float64, bool) {
	f, ok := l.number(a)
	if !ok {
		return 0, false
	}
	x, _ := f.Float64()
	size := ""
	switch {
	case math.IsInf(x, 0):
		size = "large"
	case x == 0 && f.Sign() != 0:
		size = "close to zero"
	}
	if size != "" {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Number out of range",
			fmt.Sprintf("%s is %s, too %s for herald to use. Write an ordinary decimal number such as 0.25 or 50.", a.Name, f.Text('g', 10), size)))
		return 0, false
	}
	return x, true
}

func (l *loader) integer(a *hcl.Attribute) (int, bool) {
	f, ok := l.number(a)
	if !ok {
		return 0, false
	}
	if !f.IsInt() {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.TypeMismatch, &rng, "Whole number required",
			fmt.Sprintf("%s must be a whole number.", a.Name)))
		return 0, false
	}
	// Int64 saturates: 1e30 would silently become 9223372036854775807.
	i, acc := f.Int64()
	if acc != big.Exact || int64(int(i)) != i {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Whole number out of range",
			fmt.Sprintf("%s is %s, outside what herald can count. Use a whole number from %d to %d.", a.Name, f.Text('g', 20), math.MinInt, math.MaxInt)))
		return 0, false
	}
	return int(i), true
}

func (l *loader) boolean(a *hcl.Attribute) (bool, bool) {
	v, ok := l.value(a, cty.Bool)
	if !ok || !v.IsKnown() || v.IsNull() {
		return false, false
	}
	return v.True(), true
}

func (l *loader) strings(a *hcl.Attribute) ([]string, bool) {
	v, ok := l.value(a, cty.List(cty.String))
	if !ok || !v.IsWhollyKnown() || v.IsNull() {
		return nil, false
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out, true
}

func (l *loader) typeMismatch(a *hcl.Attribute, wantType string, got cty.Value) {
	rng := a.Expr.Range()
	l.diags = append(l.diags, diag.Error(diag.TypeMismatch, &rng,
		fmt.Sprintf("%s must be %s", a.Name, wantType),
		fmt.Sprintf("%s is set to %s; it must be %s.", a.Name, friendlyType(got.Type()), wantType)))
}

func friendlyType(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "a bool (true or false)"
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		return "a list"
	case t.IsMapType() || t.IsObjectType():
		return "an object"
	}
	return t.FriendlyName()
}

// oneOf checks that a string attribute is one of the allowed values.
func (l *loader) oneOf(a *hcl.Attribute, v string, allowed ...string) bool {
	for _, x := range allowed {
		if v == x {
			return true
		}
	}
	rng := a.Expr.Range()
	hint := diag.DidYouMean(v, allowed)
	if l.isSensitive(a.Expr) {
		hint = "" // how close a secret is to a word is a clue to it
	}
	l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng,
		fmt.Sprintf("Invalid %s %q", a.Name, v),
		fmt.Sprintf("%s must be one of %s.%s", a.Name, quoteList(allowed), hint)))
	return false
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// refKind maps a reference root to the block kind it names.
func refKind(root string) string {
	switch root {
	case "segment", "template", "source", "schema", "provider", "campaign", "audience", "trigger":
		return root
	}
	return ""
}

func traverseName(t hcl.Traverser) string {
	switch s := t.(type) {
	case hcl.TraverseAttr:
		return s.Name
	case hcl.TraverseRoot:
		return s.Name
	case hcl.TraverseIndex:
		if s.Key.Type() == cty.String {
			return s.Key.AsString()
		}
	}
	return ""
}

// ref resolves an attribute that must be a reference to a block of kind,
// returning the block's name ("TYPE.NAME" for providers).
func (l *loader) ref(expr hcl.Expression, kind string) (string, bool) {
	rng := expr.Range()
	t, diags := hcl.AbsTraversalForExpr(expr)
	example := kind + ".NAME"
	if kind == "provider" {
		example = "provider.TYPE.NAME"
	}
	if diags.HasErrors() {
		l.diags = append(l.diags, diag.Error(diag.WrongReference, &rng,
			fmt.Sprintf("A %s reference is required", kind),
			fmt.Sprintf("Write a reference such as %s, without quotes.", example)))
		return "", false
	}
	root := t.RootName()
	if root != kind {
		summary := fmt.Sprintf("A %s reference is required", kind)
		detail := fmt.Sprintf("This attribute takes a reference such as %s; %s is not one.", example, t.RootName())
		if refKind(root) != "" {
			detail = fmt.Sprintf("This attribute takes a reference such as %s, and this refers to a %s.", example, root)
		}
		if refKind(root) == "" && root != "var" {
			detail += diag.DidYouMean(root, []string{kind})
		}
		l.diags = append(l.diags, diag.Error(diag.WrongReference, &rng, summary, detail))
		return "", false
	}
	parts := 2
	if kind == "provider" {
		parts = 3
	}
	if len(t) != parts {
		l.diags = append(l.diags, diag.Error(diag.WrongReference, &rng,
			fmt.Sprintf("Invalid %s reference", kind),
			fmt.Sprintf("Write %s.", example)))
		return "", false
	}
	name := traverseName(t[1])
	if kind == "provider" {
		name += "." + traverseName(t[2])
	}
	if l.declared[kind][name] {
		return name, true
	}
	declared := l.names(kind)
	l.diags = append(l.diags, diag.Error(diag.UnknownReference, &rng,
		fmt.Sprintf("Unknown %s %q", kind, name),
		strings.TrimSpace(fmt.Sprintf("No %s named %q is declared.%s", kind, name, diag.DidYouMean(name, declared)))))
	return "", false
}

// refList resolves a list of references to blocks of kind.
func (l *loader) refList(a *hcl.Attribute, kind string) []string {
	exprs, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.TypeMismatch, &rng,
			fmt.Sprintf("%s must be a list of %s references", a.Name, kind),
			fmt.Sprintf("Write [%s.a, %s.b].", kind, kind)))
		return nil
	}
	var out []string
	for _, e := range exprs {
		if n, ok := l.ref(e, kind); ok {
			out = append(out, n)
		}
	}
	return out
}

// text evaluates a string attribute that holds a CEL expression or a
// template, and maps the string's bytes back to the file: through the
// literal (quoted or heredoc) when it is one, or through the file read by
// file("…").
func (l *loader) text(a *hcl.Attribute) (string, *srcmap.Map, string, bool) {
	s, ok := l.str(a)
	if !ok {
		return "", nil, "", false
	}
	if call, isCall := a.Expr.(*hclsyntax.FunctionCallExpr); isCall && call.Name == "file" && len(call.Args) == 1 {
		if p, err := call.Args[0].Value(l.ctx); err == nil && !p.IsMarked() && p.Type() == cty.String && p.IsKnown() {
			name := filepath.ToSlash(filepath.Clean(p.AsString()))
			return s, srcmap.Identity(name, s), name, true
		}
	}
	// When the string is built from variables or interpolation, ForLiteral
	// points every error at the expression as a whole.
	rng := a.Expr.Range()
	m, _ := srcmap.ForLiteral(rng.Filename, l.cfg.sources[rng.Filename], rng, s)
	return s, m, "", true
}

// envFunc is env(NAME): the value of an environment variable. While only
// validating, an unset variable is an unknown value, so validate never needs
// credentials; when values are needed, it is an error naming the variable.
func (l *loader) envFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Reads an environment variable.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder {
			return b.NotNull()
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if name == "" {
				return cty.UnknownVal(cty.String), argError{"the name of an environment variable cannot be empty"}
			}
			if v, ok := l.opts.lookupEnv(name); ok {
				return cty.StringVal(v), nil
			}
			if l.opts.NeedValues {
				return cty.UnknownVal(cty.String), fmt.Errorf("environment variable %s is not set", name)
			}
			return cty.UnknownVal(cty.String), nil
		},
	})
}

// fileFunc is file(PATH): a file's contents, relative to the project. Its
// bytes are kept so diagnostics inside it can show the line.
func (l *loader) fileFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Reads a file relative to the project directory.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			rel := filepath.ToSlash(filepath.Clean(args[0].AsString()))
			if filepath.IsAbs(rel) || strings.HasPrefix(rel, "../") || rel == ".." {
				return cty.NilVal, fmt.Errorf("file %q is outside the project directory", rel)
			}
			if b, ok := l.cfg.sources[rel]; ok {
				return cty.StringVal(string(b)), nil
			}
			if err := l.insideRoot(rel); err != nil {
				return cty.NilVal, err
			}
			b, err := fs.ReadFile(l.fsys, rel)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return cty.NilVal, fmt.Errorf("no file %q in the project directory", rel)
				}
				return cty.NilVal, err
			}
			l.cfg.sources[rel] = b
			return cty.StringVal(string(b)), nil
		},
	})
}

// insideRoot checks that the project file rel, with every symbolic link on
// its way resolved, is inside the project directory, itself resolved: a
// link in the project to /etc/passwd is outside it, as the documentation
// of file() promises. Without a directory on disk (LoadFS) there is
// nothing to resolve.
func (l *loader) insideRoot(rel string) error {
	if l.root == "" {
		return nil
	}
	root, err := filepath.EvalSymlinks(l.root)
	if err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks(filepath.Join(l.root, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no file %q in the project directory", rel)
	}
	if err != nil {
		return err
	}
	if r, err := filepath.Rel(root, target); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		return fmt.Errorf("file %q is a link to %s, outside the project directory; copy the file into the project instead", rel, target)
	}
	return nil
}
