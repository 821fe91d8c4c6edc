package lang

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/lang/srcmap"
)

// Object type names of the built-in variables. Schema types are named
// SchemaTypePrefix + schema name.
const (
	SenderType       = "herald.Sender"
	RecipientType    = "herald.Recipient"
	SchemaTypePrefix = "schema."
)

// SenderFields and RecipientFields are the fields of `sender` and `recipient`.
var (
	SenderFields    = []string{"name", "email", "postal_address", "reply_to"}
	RecipientFields = []string{"id", "email", "phone", "timezone"}
)

// Record is what a schema-typed CEL value looks like at run time: the
// planner and executor hand CEL values that implement it.
type Record interface {
	// Field returns the value of a field and whether it is set.
	Field(name string) (any, bool)
}

// schemaProvider makes declared schemas CEL object types, so that a CEL
// expression is type-checked field by field against what the project
// declared, and unknown fields are caught at validate time.
type schemaProvider struct {
	*types.Registry
	objects map[string]map[string]*types.Type
}

func newSchemaProvider(schemas map[string]*Schema) (*schemaProvider, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	p := &schemaProvider{Registry: reg, objects: map[string]map[string]*types.Type{}}
	str := func(names []string) map[string]*types.Type {
		m := map[string]*types.Type{}
		for _, n := range names {
			m[n] = types.StringType
		}
		return m
	}
	p.objects[SenderType] = str(SenderFields)
	p.objects[RecipientType] = str(RecipientFields)
	for name, s := range schemas {
		fields := map[string]*types.Type{}
		for _, f := range s.Fields {
			fields[f.Name] = celType(f.Type)
		}
		p.objects[SchemaTypePrefix+name] = fields
	}
	return p, nil
}

// celType is the CEL type of a schema field type.
func celType(t *FieldType) *types.Type {
	if t == nil {
		return types.StringType
	}
	switch t.Kind {
	case "int":
		return types.IntType
	case "double":
		return types.DoubleType
	case "bool":
		return types.BoolType
	case "timestamp":
		return types.TimestampType
	case "duration":
		return types.DurationType
	case "list":
		return types.NewListType(celType(t.Elem))
	case "map":
		return types.NewMapType(types.StringType, celType(t.Elem))
	}
	return types.StringType
}

func (p *schemaProvider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

func (p *schemaProvider) FindStructFieldNames(name string) ([]string, bool) {
	if fields, ok := p.objects[name]; ok {
		names := make([]string, 0, len(fields))
		for n := range fields {
			names = append(names, n)
		}
		sort.Strings(names)
		return names, true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p *schemaProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	fields, ok := p.objects[name]
	if !ok {
		return p.Registry.FindStructFieldType(name, field)
	}
	t, ok := fields[field]
	if !ok {
		return nil, false
	}
	return &types.FieldType{
		Type: t,
		IsSet: func(target any) bool {
			if r, ok := target.(Record); ok {
				_, set := r.Field(field)
				return set
			}
			return false
		},
		GetFrom: func(target any) (any, error) {
			if r, ok := target.(Record); ok {
				if v, set := r.Field(field); set {
					return v, nil
				}
			}
			return nil, fmt.Errorf("no such key: %s", field)
		},
	}, true
}

// CELTypeProvider returns the CEL type provider that makes the given
// schemas, sender and recipient object types whose values implement Record:
// the types validate checked every expression against. Whoever evaluates
// those expressions builds its environment with it.
func CELTypeProvider(schemas map[string]*Schema) (types.Provider, error) {
	return newSchemaProvider(schemas)
}

// fieldNames returns every field of every object type, for suggestions.
func (p *schemaProvider) fieldNames() []string {
	var names []string
	for _, fields := range p.objects {
		for n := range fields {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Scope says which variables a CEL expression can see.
type Scope struct {
	Customer *Schema // `customer`, nil when not visible
	Event    *Schema // `event`, nil when not visible
	Now      bool
	Message  bool // sender, recipient, unsubscribe_url: template holes
}

func (s Scope) key() string {
	k := ""
	if s.Customer != nil {
		k += "c:" + s.Customer.Name
	}
	if s.Event != nil {
		k += "|e:" + s.Event.Name
	}
	if s.Now {
		k += "|now"
	}
	if s.Message {
		k += "|msg"
	}
	return k
}

// names lists the variables of the scope.
func (s Scope) names() []string {
	var n []string
	if s.Customer != nil {
		n = append(n, "customer")
	}
	if s.Event != nil {
		n = append(n, "event")
	}
	if s.Now {
		n = append(n, "now")
	}
	if s.Message {
		n = append(n, "sender", "recipient", "unsubscribe_url")
	}
	return n
}

// CELLibraries are the CEL extensions every herald expression may use.
// Whoever evaluates a checked expression builds its environment with these,
// so that it accepts exactly what validate accepted.
func CELLibraries() []cel.EnvOption {
	return []cel.EnvOption{ext.Strings(), ext.Math(), cel.OptionalTypes()}
}

// celEnvs builds one CEL environment per scope and reuses it: building an
// environment costs far more than compiling one expression in it.
type celEnvs struct {
	provider *schemaProvider
	cache    map[string]*cel.Env
}

func (c *celEnvs) env(s Scope) (*cel.Env, error) {
	if e, ok := c.cache[s.key()]; ok {
		return e, nil
	}
	opts := append([]cel.EnvOption{cel.CustomTypeProvider(c.provider)}, CELLibraries()...)
	if s.Customer != nil {
		opts = append(opts, cel.Variable("customer", cel.ObjectType(SchemaTypePrefix+s.Customer.Name)))
	}
	if s.Event != nil {
		opts = append(opts, cel.Variable("event", cel.ObjectType(SchemaTypePrefix+s.Event.Name)))
	}
	if s.Now {
		opts = append(opts, cel.Variable("now", cel.TimestampType))
	}
	if s.Message {
		opts = append(opts,
			cel.Variable("sender", cel.ObjectType(SenderType)),
			cel.Variable("recipient", cel.ObjectType(RecipientType)),
			cel.Variable("unsubscribe_url", cel.StringType),
		)
	}
	e, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	c.cache[s.key()] = e
	return e, nil
}

// rangeMapper maps byte ranges of an expression's text to the file.
type rangeMapper interface {
	Range(start, end int) hcl.Range
}

// shifted maps an expression that starts at off within a larger mapped text,
// such as a hole within a template.
type shifted struct {
	m   *srcmap.Map
	off int
}

func (s shifted) Range(start, end int) hcl.Range { return s.m.Range(s.off+start, s.off+end) }

// want is what an expression must evaluate to.
type want int

const (
	wantAny want = iota
	wantBool
	wantKey // dedupe keys: string or int
)

var (
	reUndefinedField = regexp.MustCompile(`undefined field '([^']+)'`)
	reUndeclaredRef  = regexp.MustCompile(`undeclared reference to '([^']+)'`)
	// reMixedNumbers matches an operator applied to an int or uint and a
	// double, which CEL does not convert between.
	reMixedNumbers = regexp.MustCompile(`found no matching overload for '(_[^']*_)' applied to '\((?:double, u?int|u?int, double)\)'`)
)

// compileCEL parses and type-checks src in scope, mapping every error back
// to the file through m. what names the expression in messages ("segment
// condition"). It returns nil when src does not compile.
func (l *loader) compileCEL(scope Scope, src string, m rangeMapper, w want, what string) *Expr {
	env, err := l.cel.env(scope)
	if err != nil {
		l.diags = append(l.diags, diag.Error(diag.CELType, nil, "Cannot build the expression environment", err.Error()))
		return nil
	}
	whole := m.Range(0, len(src))
	if strings.TrimSpace(src) == "" {
		l.diags = append(l.diags, diag.Error(diag.CELSyntax, &whole, "Empty expression",
			fmt.Sprintf("The %s is empty. Write a CEL expression, for example \"customer.country == 'US'\".", what)))
		return nil
	}
	parsed, iss := env.Parse(src)
	if iss != nil && iss.Err() != nil {
		l.celIssues(diag.CELSyntax, src, m, iss, scope, what)
		return nil
	}
	checked, iss := env.Check(parsed)
	if iss != nil && iss.Err() != nil {
		l.celIssues(diag.CELType, src, m, iss, scope, what)
		return nil
	}
	out := checked.OutputType()
	switch w {
	case wantBool:
		if !out.IsExactType(types.BoolType) && !out.IsExactType(types.DynType) {
			l.diags = append(l.diags, diag.Error(diag.NotBoolean, &whole,
				fmt.Sprintf("Condition is %s, not bool", typeName(out)),
				fmt.Sprintf("The %s must be true or false for each customer; this expression gives %s. %s", what, article(typeName(out)), boolHint(checked, strings.TrimSpace(src), scope))))
			return nil
		}
	case wantKey:
		if !out.IsExactType(types.StringType) && !out.IsExactType(types.IntType) && !out.IsExactType(types.DynType) {
			l.diags = append(l.diags, diag.Error(diag.CELType, &whole,
				fmt.Sprintf("Key is %s, not string or int", typeName(out)),
				fmt.Sprintf("The %s identifies an event; use a string or int field such as \"event.id\".", what)))
			return nil
		}
	}
	e := &Expr{Source: src, AST: checked, Range: whole, Fields: map[string][]string{}}
	celast.PostOrderVisit(checked.NativeRep().Expr(), celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() == celast.IdentKind {
			if _, ok := e.Fields[x.AsIdent()]; !ok {
				e.Fields[x.AsIdent()] = []string{}
			}
		}
	}))
	l.walkSelects(checked, func(variable, field string, start, end int) {
		e.Fields[variable] = appendUnique(e.Fields[variable], field)
		if variable == "customer" && scope.Customer != nil || variable == "event" && scope.Event != nil {
			s := scope.Customer
			if variable == "event" {
				s = scope.Event
			}
			if f := s.Field(field); f != nil && f.Sensitive {
				rng := m.Range(start, end)
				l.lint(diag.Warning(diag.SensitiveField, &rng,
					fmt.Sprintf("Use of sensitive field %s.%s", variable, field),
					fmt.Sprintf("The field %q is marked sensitive. Targeting or profiling on special-category data needs explicit consent (GDPR Art. 9) and profiling with significant effects is restricted (GDPR Art. 22). Remove the condition, or waive this rule on the block with a reason: waive %q { reason = \"…\" }.", field, diag.SensitiveField)))
			}
		}
	})
	return e
}

// boolHint suggests a condition that makes the non-boolean expression src,
// of the type of a, a boolean, written so that it type-checks: CEL
// compares a double only with a double, a string only with a string.
func boolHint(a *cel.Ast, src string, scope Scope) string {
	out := a.OutputType()
	x := src
	if root := a.NativeRep().Expr(); root.Kind() == celast.CallKind && strings.HasPrefix(root.AsCall().FunctionName(), "_") && root.AsCall().FunctionName() != "_[_]" {
		// An operator: a ternary or ?: would bind looser than a comparison.
		x = "(" + src + ")"
	}
	example := func(cond string) string {
		return fmt.Sprintf("Compare it with something, for example %q.", cond)
	}
	switch out.Kind() {
	case types.DoubleKind:
		return example(x+" > 0.0") + " CEL compares a double only with a double: write 0.0, not 0."
	case types.IntKind:
		return example(x + " > 0")
	case types.UintKind:
		return example(x + " > 0u")
	case types.StringKind:
		return example(x + " == 'value'")
	case types.BytesKind:
		return example(x + ".size() > 0")
	case types.ListKind, types.MapKind:
		return example(x+".size() > 0") + " Or test for an element: \"'value' in " + x + "\"."
	case types.TimestampKind:
		if scope.Now {
			return example(x + " < now")
		}
		return example(x + " < timestamp('2026-01-01T00:00:00Z')")
	case types.DurationKind:
		return example(x + " > duration('24h')")
	case types.OpaqueKind:
		if out.TypeName() == "optional_type" {
			return example(x + ".hasValue()")
		}
	case types.StructKind:
		return fmt.Sprintf("Test one of its fields instead, for example %q.", x+".FIELD == 'value'")
	}
	return "Compare it with a value of its type, for example \"customer.country == 'US'\"."
}

// walkSelects calls fn for every `variable.field` selection in the checked
// AST, with the byte offsets of the whole selection in the source.
func (l *loader) walkSelects(a *cel.Ast, fn func(variable, field string, start, end int)) {
	native := a.NativeRep()
	src := a.Source()
	text := ""
	if src != nil {
		text = src.Content()
	}
	info := native.SourceInfo()
	celast.PostOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.SelectKind {
			return
		}
		sel := e.AsSelect()
		op := sel.Operand()
		if op.Kind() != celast.IdentKind {
			return
		}
		start, end := 0, len(text)
		if r, ok := info.GetOffsetRange(op.ID()); ok {
			start = runeToByte(text, int(r.Start))
		}
		if r, ok := info.GetOffsetRange(e.ID()); ok {
			end = runeToByte(text, int(r.Stop))
		}
		// A selection's own range covers only ".field" in some parses; extend
		// to the field name when the range ends early.
		if idx := strings.Index(text[start:], sel.FieldName()); idx >= 0 && start+idx+len(sel.FieldName()) > end {
			end = start + idx + len(sel.FieldName())
		}
		if end < start {
			end = start
		}
		fn(op.AsIdent(), sel.FieldName(), start, end)
	}))
}

// celIssues turns CEL errors into diagnostics at their place in the file.
func (l *loader) celIssues(rule diag.Rule, src string, m rangeMapper, iss *cel.Issues, scope Scope, what string) {
	for _, e := range iss.Errors() {
		off := lineColToByte(src, e.Location.Line(), e.Location.Column())
		end := tokenEnd(src, off)
		if off < len(src) && src[off] == '.' && end > off+1 {
			// CEL places a field error at the selecting dot; point at the name.
			off++
		}
		rng := m.Range(off, end)
		summary, detail := celMessage(e.Message, rule, scope, l.cel.provider, what, operandBefore(src, off))
		l.diags = append(l.diags, diag.Error(rule, &rng, summary, detail))
	}
}

// celMessage rewrites a CEL error message as a herald summary and detail.
func celMessage(msg string, rule diag.Rule, scope Scope, p *schemaProvider, what, operand string) (string, string) {
	if mm := reUndefinedField.FindStringSubmatch(msg); mm != nil {
		candidates := p.fieldNames()
		detail := fmt.Sprintf("No schema visible here declares a field %q.", mm[1])
		switch {
		case operand == "customer" && scope.Customer != nil:
			candidates = scope.Customer.FieldNames()
			detail = fmt.Sprintf("schema.%s has no field %q.", scope.Customer.Name, mm[1])
		case operand == "event" && scope.Event != nil:
			candidates = scope.Event.FieldNames()
			detail = fmt.Sprintf("schema.%s has no field %q.", scope.Event.Name, mm[1])
		case operand == "sender":
			candidates = SenderFields
			detail = fmt.Sprintf("sender has the fields %s; not %q.", strings.Join(SenderFields, ", "), mm[1])
		case operand == "recipient":
			candidates = RecipientFields
			detail = fmt.Sprintf("recipient has the fields %s; not %q.", strings.Join(RecipientFields, ", "), mm[1])
		}
		detail += diag.DidYouMean(mm[1], candidates)
		switch operand {
		case "sender":
			// sender and recipient are herald's objects, not a schema's:
			// no declaration adds a field to them.
			detail += " Those are all of sender's fields; their values are set in herald { sender { … } }."
		case "recipient":
			detail += " Those are all of recipient's fields; for another field of the customer's profile, write customer.FIELD."
		default:
			detail += " Declare the field in the schema, or correct the name."
		}
		return fmt.Sprintf("Unknown field %q", mm[1]), strings.TrimSpace(detail)
	}
	if mm := reUndeclaredRef.FindStringSubmatch(msg); mm != nil {
		names := scope.names()
		detail := fmt.Sprintf("%q is not a variable here. The %s can use: %s.", mm[1], what, strings.Join(names, ", ")) +
			diag.DidYouMean(mm[1], names)
		if mm[1] == "event" {
			detail += " `event` is only available in triggers and in templates sent only by triggers."
		}
		return fmt.Sprintf("Unknown name %q", mm[1]), strings.TrimSpace(detail)
	}
	if rule == diag.CELSyntax {
		msg = strings.TrimPrefix(msg, "Syntax error: ")
		// cel-go's parser stops at 250 levels of nesting and at 100,000
		// code points, so that it cannot run out of stack.
		if strings.Contains(msg, "recursion limit exceeded") || strings.Contains(msg, "code point size exceeds limit") {
			return "Expression too complex", fmt.Sprintf("The %s is not read: %s. Split it into simpler conditions, for example over several segments, or remove redundant parentheses.", what, msg)
		}
		if strings.Contains(msg, "'<EOF>'") {
			return "Expression ends too early", fmt.Sprintf("The %s is not valid CEL: it ends where more was expected, such as the right-hand side of an operator or a closing bracket.", what)
		}
		if i := strings.Index(msg, " expecting "); i > 0 {
			msg = msg[:i]
		}
		return "Invalid expression syntax", fmt.Sprintf("The %s is not valid CEL: %s. See https://github.com/google/cel-spec/blob/master/doc/langdef.md for the syntax.", what, msg)
	}
	if mm := reMixedNumbers.FindStringSubmatch(msg); mm != nil {
		return "Expression does not type-check", fmt.Sprintf("In the %s: %s. CEL does not mix int and double: write 0.0 to compare a double with a number (500.0, not 500), or convert one side with double(…) or int(…).", what, msg)
	}
	return "Expression does not type-check", fmt.Sprintf("In the %s: %s.", what, msg)
}

// operandBefore returns the identifier selected from at off, as in
// "customer" for the ".frist_name" of "customer.frist_name".
func operandBefore(src string, off int) string {
	i := off
	if i < len(src) && src[i] == '.' {
		// the error points at the dot
	} else {
		for i > 0 && isIdentByte(src[i-1]) {
			i--
		}
		if i == 0 || src[i-1] != '.' {
			return ""
		}
		i--
	}
	j := i
	for j > 0 && isIdentByte(src[j-1]) {
		j--
	}
	return src[j:i]
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// article returns "a" or "an" for a type name.
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

func typeName(t *types.Type) string {
	n := t.String()
	return strings.TrimPrefix(n, SchemaTypePrefix)
}

// lineColToByte converts CEL's 1-based line and 0-based code-point column to
// a byte offset in src.
func lineColToByte(src string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	for c := 0; c < col && off < len(src); c++ {
		_, sz := utf8.DecodeRuneInString(src[off:])
		off += sz
	}
	return off
}

func runeToByte(s string, runes int) int {
	off := 0
	for i := 0; i < runes && off < len(s); i++ {
		_, sz := utf8.DecodeRuneInString(s[off:])
		off += sz
	}
	return off
}

// tokenEnd returns the end of the token at off: an identifier (after an
// optional dot), or one character.
func tokenEnd(src string, off int) int {
	if off >= len(src) {
		return off
	}
	i := off
	if src[i] == '.' {
		i++
	}
	j := i
	for j < len(src) && isIdentByte(src[j]) {
		j++
	}
	if j == i {
		_, sz := utf8.DecodeRuneInString(src[off:])
		return off + sz
	}
	return j
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

var _ ref.Val = types.Bool(true)
