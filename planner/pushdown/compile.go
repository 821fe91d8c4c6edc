package pushdown

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/heraldhq/herald/lang"
)

// polarity says which of a boolean's truth values the SQL must get exactly
// right. The WHERE clause only needs TRUE exactly where CEL says true (pos);
// under a NOT it needs FALSE exactly where CEL says false (neg); an operand
// of a comparison or the condition of ?: needs both (exact), and then NULL
// is exactly where CEL errors. Most translations are exact anyway; only the
// overflow guards of timestamp arithmetic are cheaper when less is needed.
type polarity uint8

const (
	pos polarity = 1 << iota
	neg
	exact = pos | neg
)

func (p polarity) flip() polarity { return p&pos<<1 | p&neg>>1 }

// refusal is why (part of) a condition cannot be pushed down.
type refusal string

func (r refusal) Error() string { return string(r) }

func refusef(format string, args ...any) error { return refusal(fmt.Sprintf(format, args...)) }

func reason(err error) string { return err.Error() }

type kind int

const (
	kOther kind = iota
	kBool
	kInt
	kDouble
	kString
	kTimestamp
	kDuration
	kList
)

func kindOf(t *types.Type) kind {
	if t == nil {
		return kOther
	}
	switch t.Kind() {
	case types.BoolKind:
		return kBool
	case types.IntKind:
		return kInt
	case types.DoubleKind:
		return kDouble
	case types.StringKind:
		return kString
	case types.TimestampKind:
		return kTimestamp
	case types.DurationKind:
		return kDuration
	case types.ListKind:
		return kList
	}
	return kOther
}

func (k kind) String() string {
	return [...]string{"value", "bool", "int", "double", "string", "timestamp", "duration", "list"}[k]
}

// val is a translated CEL value: a constant not yet rendered, an SQL
// expression, or a timestamp form kept symbolic so that a comparison with a
// constant can leave the column bare (index-friendly).
type val struct {
	kind  kind
	konst ref.Val // a constant
	sql   sqlExpr
	col   string // the column, when sql is nothing but the column
	// nullable: the SQL may be NULL (where CEL errors).
	nullable bool
	// nanable: a double that may be NaN.
	nanable bool
	tm      *timeForm
}

// timeForm is a timestamp col+off (shift), or a duration base-col or
// col-base (diff), valid — computable by CEL without overflow — for the
// column values within b.
type timeForm struct {
	col      string
	diff     bool
	off      time.Duration
	base     time.Time
	colFirst bool
	b        bounds
}

type compiler struct {
	o      Options
	ast    *celast.AST
	consts map[int64]bool
}

func newCompiler(o Options, a *cel.Ast) *compiler {
	return &compiler{o: o, ast: a.NativeRep(), consts: map[int64]bool{}}
}

// conjuncts flattens a top-level chain of &&.
func conjuncts(e celast.Expr) []celast.Expr {
	if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		var out []celast.Expr
		for _, a := range e.AsCall().Args() {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []celast.Expr{e}
}

func (c *compiler) identName(e celast.Expr) string {
	if r, ok := c.ast.ReferenceMap()[e.ID()]; ok && r.Name != "" {
		return r.Name
	}
	return e.AsIdent()
}

// isConst reports whether e reads no field: it can be evaluated once, at
// compile time.
func (c *compiler) isConst(e celast.Expr) bool {
	if v, ok := c.consts[e.ID()]; ok {
		return v
	}
	r := false
	switch e.Kind() {
	case celast.LiteralKind:
		r = true
	case celast.IdentKind:
		r = c.identName(e) == "now" && c.o.Variable != "now"
	case celast.SelectKind:
		r = c.isConst(e.AsSelect().Operand())
	case celast.CallKind:
		call := e.AsCall()
		r = !call.IsMemberFunction() || c.isConst(call.Target())
		for _, a := range call.Args() {
			r = r && c.isConst(a)
		}
	case celast.ListKind:
		r = true
		for _, a := range e.AsList().Elements() {
			r = r && c.isConst(a)
		}
	}
	c.consts[e.ID()] = r
	return r
}

// defaultEnv evaluates constants: lang's libraries and `now`.
var defaultEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(append(lang.CELLibraries(), cel.Variable("now", cel.TimestampType))...)
})

// fold evaluates a constant sub-expression with cel-go itself, so that
// constants mean exactly what they mean in memory.
func (c *compiler) fold(e celast.Expr) (ref.Val, error) {
	switch e.Kind() {
	case celast.LiteralKind:
		return e.AsLiteral(), nil
	case celast.IdentKind:
		return types.Timestamp{Time: c.o.Now}, nil
	}
	env := c.o.Env
	if env == nil {
		var err error
		if env, err = defaultEnv(); err != nil {
			return nil, refusef("cannot evaluate constants: %v", err)
		}
	}
	sub := celast.NewCheckedAST(celast.NewAST(e, c.ast.SourceInfo()), c.ast.TypeMap(), c.ast.ReferenceMap())
	pb, err := celast.ToProto(sub)
	if err != nil {
		return nil, refusef("cannot evaluate a constant: %v", err)
	}
	prg, err := env.Program(cel.CheckedExprToAst(pb))
	if err != nil {
		return nil, refusef("cannot evaluate a constant: %v", err)
	}
	out, _, err := prg.Eval(map[string]any{"now": c.o.Now})
	if err != nil || types.IsError(out) {
		if err == nil {
			err = out.(*types.Err)
		}
		src, _ := cel.ExprToString(e, c.ast.SourceInfo())
		return nil, refusef("constant %s fails: %v", src, err)
	}
	return out, nil
}

// boolean translates a condition.
func (c *compiler) boolean(e celast.Expr, p polarity) (sqlExpr, error) {
	v, err := c.expr(e, p)
	if err != nil {
		return sqlExpr{}, err
	}
	if v.kind != kBool {
		return sqlExpr{}, refusef("the condition is %s, not bool", v.kind)
	}
	return c.materialize(v, false)
}

// expr translates e. p matters only for a boolean e.
func (c *compiler) expr(e celast.Expr, p polarity) (*val, error) {
	if c.isConst(e) {
		k, err := c.fold(e)
		if err != nil {
			return nil, err
		}
		t, _ := k.Type().(*types.Type)
		return &val{kind: kindOf(t), konst: k}, nil
	}
	switch e.Kind() {
	case celast.IdentKind:
		if c.identName(e) == c.o.Variable {
			return nil, refusef("%s is used as a whole, not field by field", c.o.Variable)
		}
		return nil, refusef("%s has no SQL equivalent", c.identName(e))
	case celast.SelectKind:
		return c.selectExpr(e)
	case celast.CallKind:
		return c.call(e, p)
	case celast.ComprehensionKind:
		return nil, refusef("%s has no SQL equivalent", c.macroName(e))
	case celast.ListKind:
		return nil, refusef("a list with fields in it has no SQL equivalent")
	}
	return nil, refusef("maps and messages have no SQL equivalent")
}

// macroName names the macro a comprehension came from, for the reason.
func (c *compiler) macroName(e celast.Expr) string {
	if m, ok := c.ast.SourceInfo().GetMacroCall(e.ID()); ok && m.Kind() == celast.CallKind {
		return "macro " + m.AsCall().FunctionName() + "()"
	}
	// Macro calls are kept only when the parser is asked to; tell the
	// standard macros apart by their accumulators.
	comp := e.AsComprehension()
	name := "a list or map macro (all, exists, exists_one, map, filter)"
	if init := comp.AccuInit(); init.Kind() == celast.LiteralKind {
		switch init.AsLiteral() {
		case types.True:
			name = "macro all()"
		case types.False:
			name = "macro exists()"
		case types.IntZero:
			name = "macro exists_one()"
		}
	} else if init.Kind() == celast.ListKind {
		name = "macro map() or filter()"
	}
	if r := comp.IterRange(); r.Kind() == celast.SelectKind && c.isVariable(r.AsSelect().Operand()) {
		name += " over " + c.o.Variable + "." + r.AsSelect().FieldName()
	}
	return name
}

func (c *compiler) column(field string) string {
	if col, ok := c.o.Columns[field]; ok {
		return col
	}
	return field
}

// field translates variable.name.
func (c *compiler) field(name string, t *types.Type) (*val, error) {
	if c.o.Schema != nil && c.o.Schema.Field(name) == nil {
		return nil, refusef("%s.%s is not in schema.%s", c.o.Variable, name, c.o.Schema.Name)
	}
	k := kindOf(t)
	switch k {
	case kBool, kInt, kDouble, kString, kTimestamp:
	default:
		return nil, refusef("field %s.%s is a %s; only string, int, double, bool and timestamp fields are pushed down", c.o.Variable, name, k)
	}
	col := c.column(name)
	return &val{kind: k, sql: atom(quoteIdent(col)), col: col, nullable: true, nanable: k == kDouble}, nil
}

func (c *compiler) isVariable(e celast.Expr) bool {
	return e.Kind() == celast.IdentKind && c.identName(e) == c.o.Variable
}

func (c *compiler) selectExpr(e celast.Expr) (*val, error) {
	s := e.AsSelect()
	if !c.isVariable(s.Operand()) {
		return nil, refusef("only fields of %s are pushed down", c.o.Variable)
	}
	if s.IsTestOnly() {
		// has(customer.x): CEL never errors on it, and it is true exactly
		// when the column is not NULL.
		if c.o.Schema != nil && c.o.Schema.Field(s.FieldName()) == nil {
			return nil, refusef("%s.%s is not in schema.%s", c.o.Variable, s.FieldName(), c.o.Schema.Name)
		}
		return &val{kind: kBool, sql: isNotNull(atom(quoteIdent(c.column(s.FieldName()))))}, nil
	}
	return c.field(s.FieldName(), c.ast.GetType(e.ID()))
}

// display names a function or operator for a reason.
func display(fn string) string {
	switch fn {
	case operators.Index, operators.OptIndex:
		return "indexing with []"
	}
	if op, ok := operators.FindReverse(fn); ok && op != "" {
		return "operator " + op
	}
	return "function " + fn + "()"
}

func (c *compiler) call(e celast.Expr, p polarity) (*val, error) {
	call := e.AsCall()
	fn := call.FunctionName()
	args := call.Args()
	switch fn {
	case operators.LogicalAnd, operators.LogicalOr:
		a, err := c.boolean(args[0], p)
		if err != nil {
			return nil, err
		}
		b, err := c.boolean(args[1], p)
		if err != nil {
			return nil, err
		}
		if fn == operators.LogicalAnd {
			return &val{kind: kBool, sql: and(a, b), nullable: true}, nil
		}
		return &val{kind: kBool, sql: or(a, b), nullable: true}, nil
	case operators.LogicalNot:
		a, err := c.boolean(args[0], p.flip())
		if err != nil {
			return nil, err
		}
		return &val{kind: kBool, sql: not(a), nullable: true}, nil
	case operators.Conditional:
		return c.conditional(args, p)
	case operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		a, err := c.expr(args[0], exact)
		if err != nil {
			return nil, err
		}
		b, err := c.expr(args[1], exact)
		if err != nil {
			return nil, err
		}
		return c.compare(sqlOps[fn], a, b, p)
	case operators.In:
		return c.in(args[0], args[1])
	case operators.Add, operators.Subtract, operators.Multiply, operators.Divide, operators.Modulo:
		a, err := c.expr(args[0], exact)
		if err != nil {
			return nil, err
		}
		b, err := c.expr(args[1], exact)
		if err != nil {
			return nil, err
		}
		return c.arith(fn, a, b)
	case operators.Negate:
		a, err := c.expr(args[0], exact)
		if err != nil {
			return nil, err
		}
		if a.kind != kInt && a.kind != kDouble {
			return nil, refusef("negating a %s has no SQL equivalent", a.kind)
		}
		s, err := c.materialize(a, false)
		if err != nil {
			return nil, err
		}
		return &val{kind: a.kind, sql: sqlExpr{f: cat("-", s.at(precAtom)), prec: precUnary}, nullable: a.nullable, nanable: a.nanable}, nil
	case "startsWith", "endsWith", "contains":
		if !call.IsMemberFunction() || len(args) != 1 {
			break
		}
		return c.stringTest(fn, call.Target(), args[0])
	case "size":
		x := args
		if call.IsMemberFunction() {
			x = []celast.Expr{call.Target()}
		}
		if len(x) != 1 {
			break
		}
		a, err := c.expr(x[0], exact)
		if err != nil {
			return nil, err
		}
		if a.kind != kString {
			return nil, refusef("size() of a %s has no SQL equivalent", a.kind)
		}
		s, err := c.materialize(a, false)
		if err != nil {
			return nil, err
		}
		// CEL counts code points, as char_length does in a UTF8 database.
		return &val{kind: kInt, sql: atom("char_length(", s, ")"), nullable: a.nullable}, nil
	case "lowerAscii", "upperAscii":
		if !call.IsMemberFunction() || len(args) != 0 {
			break
		}
		a, err := c.expr(call.Target(), exact)
		if err != nil {
			return nil, err
		}
		s, err := c.materialize(a, false)
		if err != nil {
			return nil, err
		}
		// Under the C collation PostgreSQL maps only ASCII letters, as CEL
		// does; lower() under any other collation also maps É to é.
		f := "lower("
		if fn == "upperAscii" {
			f = "upper("
		}
		return &val{kind: kString, sql: atom(f, s.at(precCollate+1), ` COLLATE "C")`), nullable: a.nullable}, nil
	case "int", "double", "string":
		if len(args) != 1 || call.IsMemberFunction() {
			break
		}
		return c.convert(fn, args[0])
	case "orValue", "hasValue", "value":
		if !call.IsMemberFunction() {
			break
		}
		return c.optional(fn, call.Target(), args)
	case "matches":
		return nil, refusef("function matches() has no SQL equivalent: RE2 and PostgreSQL regular expressions differ")
	}
	return nil, refusef("%s has no SQL equivalent", display(fn))
}

var sqlOps = map[string]string{
	operators.Equals:        "=",
	operators.NotEquals:     "<>",
	operators.Less:          "<",
	operators.LessEquals:    "<=",
	operators.Greater:       ">",
	operators.GreaterEquals: ">=",
}

// flipped is the comparison with its operands swapped.
var flipped = map[string]string{"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

func (c *compiler) conditional(args []celast.Expr, p polarity) (*val, error) {
	cond, err := c.expr(args[0], exact)
	if err != nil {
		return nil, err
	}
	if b, ok := cond.konst.(types.Bool); ok {
		// CEL evaluates only the branch taken.
		if b {
			return c.expr(args[1], p)
		}
		return c.expr(args[2], p)
	}
	cs, err := c.materialize(cond, false)
	if err != nil {
		return nil, err
	}
	a, err := c.expr(args[1], p)
	if err != nil {
		return nil, err
	}
	b, err := c.expr(args[2], p)
	if err != nil {
		return nil, err
	}
	if a.kind != b.kind {
		return nil, refusef("?: with branches of different types has no SQL equivalent")
	}
	as, err := c.materialize(a, false)
	if err != nil {
		return nil, err
	}
	bs, err := c.materialize(b, false)
	if err != nil {
		return nil, err
	}
	// A simple CASE on the condition: NULL matches neither arm, so an error
	// in the condition stays an error (a searched CASE would take ELSE).
	return &val{
		kind:     a.kind,
		sql:      atom("CASE ", cs.at(precAtom), " WHEN TRUE THEN ", as, " WHEN FALSE THEN ", bs, " END"),
		nullable: true,
		nanable:  a.nanable || b.nanable || isNaN(a.konst) || isNaN(b.konst),
	}, nil
}

func isNaN(v ref.Val) bool {
	d, ok := v.(types.Double)
	return ok && math.IsNaN(float64(d))
}

// materialize renders v as SQL. bare leaves a constant's parameter without
// a cast, for a direct comparison with a column whose type it takes.
func (c *compiler) materialize(v *val, bare bool) (sqlExpr, error) {
	if v.konst != nil {
		return c.constant(v.konst, bare)
	}
	if v.tm != nil {
		return c.timeSQL(v.tm)
	}
	return v.sql, nil
}

func castUnless(bare bool, t string) string {
	if bare {
		return ""
	}
	return t
}

func (c *compiler) constant(k ref.Val, bare bool) (sqlExpr, error) {
	switch k := k.(type) {
	case types.Bool:
		if k {
			return atom("TRUE"), nil
		}
		return atom("FALSE"), nil
	case types.Int:
		return atom(param{int64(k), castUnless(bare, "int8")}), nil
	case types.Double:
		return atom(param{float64(k), castUnless(bare, "float8")}), nil
	case types.String:
		if strings.ContainsRune(string(k), 0) {
			return sqlExpr{}, refusef("a string with a NUL character has no SQL equivalent")
		}
		return atom(param{string(k), castUnless(bare, "text")}), nil
	case types.Timestamp:
		if !alignedTime(k.Time) {
			return sqlExpr{}, refusef("timestamp %s has sub-microsecond precision, which PostgreSQL does not keep", k.Time.Format(time.RFC3339Nano))
		}
		return atom(param{k.Time.UTC(), castUnless(bare, "timestamptz")}), nil
	case types.Duration:
		if !alignedDuration(k.Duration) {
			return sqlExpr{}, refusef("duration %s has sub-microsecond precision, which PostgreSQL does not keep", k.Duration)
		}
		return atom(param{k.Duration, "interval"}), nil
	}
	return sqlExpr{}, refusef("a constant %s has no SQL equivalent", k.Type().TypeName())
}

func (c *compiler) compare(op string, a, b *val, p polarity) (*val, error) {
	if a.kind != b.kind {
		return nil, refusef("comparing %s with %s has no SQL equivalent", a.kind, b.kind)
	}
	switch a.kind {
	case kBool, kInt, kDouble, kString, kTimestamp, kDuration:
	default:
		return nil, refusef("comparing %ss has no SQL equivalent", a.kind)
	}
	if a.konst != nil && b.konst == nil {
		a, b, op = b, a, flipped[op]
	}
	nullable := a.nullable || b.nullable
	if b.konst != nil && (a.kind == kTimestamp || a.kind == kDuration) && (a.col != "" || a.tm != nil) {
		s, err := c.timeCompare(op, a, b.konst, p)
		if err != nil {
			return nil, err
		}
		return &val{kind: kBool, sql: s, nullable: nullable}, nil
	}
	as, err := c.materialize(a, false)
	if err != nil {
		return nil, err
	}
	if isNaN(b.konst) {
		// CEL: NaN equals nothing and is not ordered; PostgreSQL sorts it
		// above everything and equal to itself.
		if op == "<>" {
			return &val{kind: kBool, sql: trueUnlessNull(as), nullable: a.nullable}, nil
		}
		return &val{kind: kBool, sql: falseUnlessNull(as), nullable: a.nullable}, nil
	}
	bs, err := c.materialize(b, a.col != "")
	if err != nil {
		return nil, err
	}
	if a.kind == kString && op != "=" && op != "<>" {
		// CEL orders strings by code point, as the C collation does.
		as = sqlExpr{f: cat(as.at(precCollate+1), ` COLLATE "C"`), prec: precCollate}
	}
	cmp := compare(as, op, bs)
	if a.kind == kDouble {
		cmp = nanGuard(op, a, as, b, bs, cmp)
	}
	return &val{kind: kBool, sql: cmp, nullable: nullable}, nil
}

// nanGuard makes a double comparison false when an operand is NaN, as in
// CEL, while keeping it NULL when an operand is NULL.
func nanGuard(op string, a *val, as sqlExpr, b *val, bs sqlExpr, cmp sqlExpr) sqlExpr {
	notNaN := func(x sqlExpr, other *val, os sqlExpr) sqlExpr {
		// x < 'NaN' rather than x <> 'NaN': the same for PostgreSQL, but
		// an index condition next to x >= $1, not a filter.
		g := compare(x, "<", atom("'NaN'"))
		if other.nullable {
			g = or(g, isNull(os))
		}
		return g
	}
	switch op {
	case "<", "<=":
		// PostgreSQL: NaN is greater than everything, so only a NaN on the
		// right can make this true.
		if b.nanable {
			return and(cmp, notNaN(bs, a, as))
		}
	case ">", ">=":
		if a.nanable {
			return and(cmp, notNaN(as, b, bs))
		}
	case "=":
		if a.nanable && b.nanable {
			return and(cmp, notNaN(as, b, bs))
		}
	case "<>":
		if a.nanable && b.nanable {
			isNaN := compare(as, "=", atom("'NaN'"))
			if b.nullable {
				isNaN = and(isNaN, isNotNull(bs))
			}
			return or(cmp, isNaN)
		}
	}
	return cmp
}

// timeCompare compares a timestamp column, col+duration, or now-col with a
// constant, keeping the column bare: `now - customer.last_purchase_at >
// duration('2160h')` becomes "last_purchase_at" < '…'::timestamptz
// (now - 2160h), and within the ±292 years where CEL can subtract.
func (c *compiler) timeCompare(op string, a *val, k ref.Val, p polarity) (sqlExpr, error) {
	var x time.Time
	var b bounds
	col := a.col
	switch t := a.tm; {
	case t == nil:
		ts, ok := k.(types.Timestamp)
		if !ok {
			return sqlExpr{}, refusef("comparing a timestamp field with %s has no SQL equivalent", k.Type().TypeName())
		}
		x = ts.Time
	case !t.diff:
		ts := k.(types.Timestamp)
		x, b, col = addDur(ts.Time, t.off, true), t.b, t.col
	default:
		d := k.(types.Duration)
		b, col = t.b, t.col
		if t.colFirst {
			// col - base OP d  ⇔  col OP base + d
			x = addDur(t.base, d.Duration, false)
		} else {
			// base - col OP d  ⇔  col flip(OP) base - d
			x, op = addDur(t.base, d.Duration, true), flipped[op]
		}
	}
	return colTimeCompare(atom(quoteIdent(col)), op, x, b, p), nil
}

// colTimeCompare compares a column holding whole microseconds with x,
// where CEL errors for columns outside b.
func colTimeCompare(col sqlExpr, op string, x time.Time, b bounds, p polarity) sqlExpr {
	// The comparison selects [lo, hi] (a nil end is open) when interval.
	var lo, hi *time.Time
	interval := true
	bound := timeLit
	var cmp sqlExpr
	switch op {
	case "<":
		t := ceilMicro(x)
		cmp = compare(col, "<", bound(t))
		u := t.Add(-time.Microsecond)
		hi = &u
	case "<=":
		t := floorMicro(x)
		cmp = compare(col, "<=", bound(t))
		hi = &t
	case ">":
		t := floorMicro(x)
		cmp = compare(col, ">", bound(t))
		l := t.Add(time.Microsecond)
		lo = &l
	case ">=":
		t := ceilMicro(x)
		cmp = compare(col, ">=", bound(t))
		lo = &t
	case "=":
		if alignedTime(x) {
			cmp = compare(col, "=", bound(x))
			lo, hi = &x, &x
		} else {
			cmp, interval = falseUnlessNull(col), false
		}
	default: // <>
		interval = false
		if alignedTime(x) {
			cmp = compare(col, "<>", bound(x))
		} else {
			cmp = trueUnlessNull(col)
		}
	}
	if b.none() || p == pos && !interval && op == "=" {
		// (Unbounded, or never true: then no bound is needed for pos.)
		return cmp
	}
	switch p {
	case pos:
		// TRUE only where CEL is true: also within the bounds.
		parts := []sqlExpr{cmp}
		if b.lo != nil && !(interval && lo != nil && !lo.Before(*b.lo)) {
			parts = append(parts, compare(col, ">=", bound(*b.lo)))
		}
		if b.hi != nil && !(interval && hi != nil && !hi.After(*b.hi)) {
			parts = append(parts, compare(col, "<=", bound(*b.hi)))
		}
		return and(parts...)
	case neg:
		// FALSE only where CEL is false: not outside the bounds.
		parts := []sqlExpr{cmp}
		if b.lo != nil && !(interval && lo == nil && (hi == nil || !hi.Before(b.lo.Add(-time.Microsecond)))) {
			parts = append(parts, compare(col, "<", bound(*b.lo)))
		}
		if b.hi != nil && !(interval && hi == nil && (lo == nil || !lo.After(b.hi.Add(time.Microsecond)))) {
			parts = append(parts, compare(col, ">", bound(*b.hi)))
		}
		return or(parts...)
	}
	return atom("CASE WHEN ", validSQL(col, b), " THEN ", cmp, " END")
}

func validSQL(col sqlExpr, b bounds) sqlExpr {
	var parts []sqlExpr
	if b.lo != nil {
		parts = append(parts, compare(col, ">=", timeLit(*b.lo)))
	}
	if b.hi != nil {
		parts = append(parts, compare(col, "<=", timeLit(*b.hi)))
	}
	return and(parts...)
}

// timeLit renders a whole microsecond as a timestamptz literal. The times
// a column is compared with — now - 2160h, and the limits of CEL's
// timestamp arithmetic — are computed here, and are written as literals
// rather than parameters so that PostgreSQL's planner sees them even in a
// generic plan (a prepared statement run more than five times): given a
// parameter at either end, it guesses that a range such as
// "last_purchase_at" < $1 AND "last_purchase_at" >= $2 selects 0.5% of the
// rows, and may read most of the table through an index.
func timeLit(t time.Time) sqlExpr {
	t = t.UTC()
	y, era := t.Year(), ""
	if y <= 0 {
		// Year 0 is 1 BC in both calendars (proleptic Gregorian).
		y, era = 1-y, " BC"
	}
	return atom(fmt.Sprintf("'%04d%s+00%s'::timestamptz", y, t.Format("-01-02 15:04:05.999999"), era))
}

// timeSQL renders a timestamp or duration form as a value, NULL where CEL
// would report an overflow.
func (c *compiler) timeSQL(t *timeForm) (sqlExpr, error) {
	col := atom(quoteIdent(t.col))
	var v sqlExpr
	if t.diff {
		if !alignedTime(t.base) {
			return sqlExpr{}, refusef("timestamp %s has sub-microsecond precision, which PostgreSQL does not keep", t.base.Format(time.RFC3339Nano))
		}
		base := atom(param{t.base.UTC(), "timestamptz"})
		if t.colFirst {
			v = binary(col, "-", base, precAdd, false)
		} else {
			v = binary(base, "-", col, precAdd, false)
		}
	} else {
		if !alignedDuration(t.off) {
			return sqlExpr{}, refusef("duration %s has sub-microsecond precision, which PostgreSQL does not keep", t.off)
		}
		// An interval of microseconds only (no days or months) adds an
		// exact amount of time, whatever the session's time zone.
		v = binary(col, "+", atom(param{t.off, "interval"}), precAdd, false)
	}
	if t.b.none() {
		return v, nil
	}
	return atom("CASE WHEN ", validSQL(col, t.b), " THEN ", v, " END"), nil
}

func (c *compiler) in(x, list celast.Expr) (*val, error) {
	a, err := c.expr(x, exact)
	if err != nil {
		return nil, err
	}
	l, err := c.expr(list, exact)
	if err != nil {
		return nil, err
	}
	lister, ok := l.konst.(traits.Lister)
	if !ok {
		return nil, refusef("`in` has an SQL equivalent only for a constant list")
	}
	as, err := c.materialize(a, false)
	if err != nil {
		return nil, err
	}
	var cast string
	switch a.kind {
	case kString:
		cast = "text[]"
	case kInt:
		cast = "int8[]"
	case kDouble:
		cast = "float8[]"
	case kBool:
		cast = "boolean[]"
	case kTimestamp:
		cast = "timestamptz[]"
	default:
		return nil, refusef("`in` over %ss has no SQL equivalent", a.kind)
	}
	strs, ints, dbls, bools, times := []string{}, []int64{}, []float64{}, []bool{}, []time.Time{}
	n := int(lister.Size().(types.Int))
	for i := 0; i < n; i++ {
		// CEL's `in` is heterogeneous equality: an element of another type
		// never matches, except int and double, which compare as numbers.
		switch e := lister.Get(types.Int(i)).(type) {
		case types.String:
			if a.kind == kString && !strings.ContainsRune(string(e), 0) {
				strs = append(strs, string(e))
			}
		case types.Int:
			if a.kind == kDouble {
				return nil, refusef("`in` mixing int and double has no SQL equivalent")
			}
			if a.kind == kInt {
				ints = append(ints, int64(e))
			}
		case types.Double:
			if a.kind == kInt {
				return nil, refusef("`in` mixing int and double has no SQL equivalent")
			}
			if a.kind == kDouble && !math.IsNaN(float64(e)) {
				dbls = append(dbls, float64(e))
			}
		case types.Uint:
			if a.kind == kInt || a.kind == kDouble {
				return nil, refusef("`in` with uint elements has no SQL equivalent")
			}
		case types.Bool:
			if a.kind == kBool {
				bools = append(bools, bool(e))
			}
		case types.Timestamp:
			// A column holds whole microseconds: it equals no other time.
			if a.kind == kTimestamp && alignedTime(e.Time) {
				times = append(times, e.Time.UTC())
			}
		}
	}
	var arr any
	var size int
	switch a.kind {
	case kString:
		arr, size = strs, len(strs)
	case kInt:
		arr, size = ints, len(ints)
	case kDouble:
		arr, size = dbls, len(dbls)
	case kBool:
		arr, size = bools, len(bools)
	case kTimestamp:
		arr, size = times, len(times)
	}
	if size == 0 {
		return &val{kind: kBool, sql: falseUnlessNull(as), nullable: a.nullable}, nil
	}
	if a.col != "" {
		cast = ""
	}
	return &val{kind: kBool, sql: compare(as, "=", atom("ANY(", param{arr, cast}, ")")), nullable: a.nullable}, nil
}

func (c *compiler) arith(fn string, a, b *val) (*val, error) {
	op, _ := operators.FindReverse(fn)
	switch {
	case a.kind == kInt && b.kind == kInt, a.kind == kDouble && b.kind == kDouble:
		prec := precAdd
		switch fn {
		case operators.Multiply:
			prec = precMul
		case operators.Divide, operators.Modulo:
			if a.kind == kDouble {
				return nil, refusef("dividing doubles has no SQL equivalent: x/0.0 is infinity in CEL and an error in PostgreSQL")
			}
			prec = precMul
		}
		// Integer overflow and division by zero, errors in CEL, are errors
		// for the whole query in PostgreSQL: see Fallback.
		as, err := c.materialize(a, b.col != "")
		if err != nil {
			return nil, err
		}
		bs, err := c.materialize(b, a.col != "")
		if err != nil {
			return nil, err
		}
		return &val{kind: a.kind, sql: binary(as, op, bs, prec, false), nullable: a.nullable || b.nullable, nanable: a.kind == kDouble}, nil
	case a.kind == kString && b.kind == kString && fn == operators.Add:
		as, err := c.materialize(a, false)
		if err != nil {
			return nil, err
		}
		bs, err := c.materialize(b, false)
		if err != nil {
			return nil, err
		}
		return &val{kind: kString, sql: binary(as, "||", bs, precOp, true), nullable: a.nullable || b.nullable}, nil
	case a.kind == kTimestamp && b.kind == kDuration && (fn == operators.Add || fn == operators.Subtract):
		return c.shift(a, b, fn == operators.Subtract)
	case a.kind == kDuration && b.kind == kTimestamp && fn == operators.Add:
		return c.shift(b, a, false)
	case a.kind == kTimestamp && b.kind == kTimestamp && fn == operators.Subtract:
		switch {
		case a.col != "" && b.konst != nil:
			t := b.konst.(types.Timestamp).Time
			bd, ok := diffBounds(t, true)
			if !ok {
				return nil, refusef("cannot bound %s - timestamp", a.col)
			}
			return &val{kind: kDuration, tm: &timeForm{col: a.col, diff: true, base: t, colFirst: true, b: bd}, nullable: true}, nil
		case b.col != "" && a.konst != nil:
			t := a.konst.(types.Timestamp).Time
			bd, ok := diffBounds(t, false)
			if !ok {
				return nil, refusef("cannot bound timestamp - %s", b.col)
			}
			return &val{kind: kDuration, tm: &timeForm{col: b.col, diff: true, base: t, b: bd}, nullable: true}, nil
		}
		return nil, refusef("the difference of two timestamp fields has no SQL equivalent")
	}
	return nil, refusef("%s on %s and %s has no SQL equivalent", display(fn), a.kind, b.kind)
}

// shift translates timestamp ± constant duration.
func (c *compiler) shift(t, d *val, sub bool) (*val, error) {
	k, ok := d.konst.(types.Duration)
	if !ok {
		return nil, refusef("adding a duration that is not constant to a timestamp has no SQL equivalent")
	}
	var form timeForm
	switch {
	case t.col != "":
		form = timeForm{col: t.col}
	case t.tm != nil && !t.tm.diff:
		form = *t.tm
	default:
		return nil, refusef("timestamp arithmetic on this expression has no SQL equivalent")
	}
	// CEL errors when the result leaves 0001-01-01…9999-12-31.
	off := form.off
	ok2 := func(col time.Time) bool {
		v := col.Add(off)
		if sub {
			return celSubDurOK(v, k.Duration)
		}
		return celAddOK(v, k.Duration)
	}
	lo, hi := addDur(celMinTime, k.Duration, !sub), addDur(celMaxTime, k.Duration, !sub)
	b, found := validRange(ok2, addDur(lo, off, true), addDur(hi, off, true))
	if !found {
		return nil, refusef("cannot bound the timestamp arithmetic on %s", form.col)
	}
	form.b = form.b.intersect(b)
	delta := k.Duration
	if sub {
		if delta == math.MinInt64 {
			return nil, refusef("timestamp arithmetic out of range")
		}
		delta = -delta
	}
	if (delta > 0 && off > math.MaxInt64-delta) || (delta < 0 && off < math.MinInt64-delta) {
		return nil, refusef("timestamp arithmetic out of range")
	}
	form.off = off + delta
	return &val{kind: kTimestamp, tm: &form, nullable: true}, nil
}

func (c *compiler) stringTest(fn string, target, arg celast.Expr) (*val, error) {
	a, err := c.expr(target, exact)
	if err != nil {
		return nil, err
	}
	b, err := c.expr(arg, exact)
	if err != nil {
		return nil, err
	}
	if a.kind != kString || b.kind != kString {
		return nil, refusef("function %s() on %s has no SQL equivalent", fn, a.kind)
	}
	as, err := c.materialize(a, false)
	if err != nil {
		return nil, err
	}
	nullable := a.nullable || b.nullable
	if s, ok := b.konst.(types.String); ok {
		if strings.ContainsRune(string(s), 0) {
			return nil, refusef("a string with a NUL character has no SQL equivalent")
		}
		pat := likeEscape(string(s))
		switch fn {
		case "startsWith":
			pat += "%"
		case "endsWith":
			pat = "%" + pat
		default:
			pat = "%" + pat + "%"
		}
		like := sqlExpr{f: cat(as.at(precLike+1), " LIKE ", param{pat, ""}, ` ESCAPE '\'`), prec: precLike}
		return &val{kind: kBool, sql: like, nullable: nullable}, nil
	}
	bs, err := c.materialize(b, false)
	if err != nil {
		return nil, err
	}
	var s sqlExpr
	switch fn {
	case "startsWith":
		s = atom("starts_with(", as, ", ", bs, ")")
	case "endsWith":
		s = compare(atom("right(", as, ", char_length(", bs, "))"), "=", bs)
	default:
		s = compare(atom("strpos(", as, ", ", bs, ")"), ">", atom("0"))
	}
	return &val{kind: kBool, sql: s, nullable: nullable}, nil
}

func (c *compiler) convert(fn string, arg celast.Expr) (*val, error) {
	a, err := c.expr(arg, exact)
	if err != nil {
		return nil, err
	}
	as, err := c.materialize(a, false)
	if err != nil {
		return nil, err
	}
	castTo := func(t string) sqlExpr { return sqlExpr{f: cat(as.at(precAtom), "::"+t), prec: precCollate} }
	switch {
	case fn == "int" && a.kind == kInt, fn == "double" && a.kind == kDouble, fn == "string" && a.kind == kString:
		return a, nil
	case fn == "int" && a.kind == kDouble:
		// CEL truncates, and errors outside (-2^63, 2^63) and on NaN;
		// PostgreSQL's ::int8 rounds and raises errors. NaN passes the
		// first test (it sorts above everything) and fails the second.
		s := atom("CASE WHEN ", and(
			compare(as, ">", atom("'-9223372036854775808'::float8")),
			compare(as, "<", atom("'9223372036854775808'::float8"))),
			" THEN trunc(", as, ")::int8 END")
		return &val{kind: kInt, sql: s, nullable: true}, nil
	case fn == "double" && a.kind == kInt:
		// Both round to the nearest double.
		return &val{kind: kDouble, sql: castTo("float8"), nullable: a.nullable}, nil
	case fn == "string" && (a.kind == kInt || a.kind == kBool):
		// Decimal digits, "true" and "false" in both.
		return &val{kind: kString, sql: castTo("text"), nullable: a.nullable}, nil
	}
	return nil, refusef("%s() of a %s has no SQL equivalent", fn, a.kind)
}

// optional translates customer.?f.orValue(x), .hasValue() and .value().
func (c *compiler) optional(fn string, target celast.Expr, args []celast.Expr) (*val, error) {
	if target.Kind() != celast.CallKind || target.AsCall().FunctionName() != operators.OptSelect {
		return nil, refusef("function %s() has no SQL equivalent", fn)
	}
	sel := target.AsCall().Args()
	if !c.isVariable(sel[0]) || sel[1].Kind() != celast.LiteralKind {
		return nil, refusef("only optional fields of %s are pushed down", c.o.Variable)
	}
	name, ok := sel[1].AsLiteral().(types.String)
	if !ok {
		return nil, refusef("function %s() has no SQL equivalent", fn)
	}
	t := c.ast.GetType(target.ID())
	if t != nil && t.Kind() == types.OpaqueKind && len(t.Parameters()) == 1 {
		t = t.Parameters()[0]
	}
	switch fn {
	case "hasValue":
		if len(args) != 0 {
			break
		}
		if c.o.Schema != nil && c.o.Schema.Field(string(name)) == nil {
			return nil, refusef("%s.%s is not in schema.%s", c.o.Variable, name, c.o.Schema.Name)
		}
		return &val{kind: kBool, sql: isNotNull(atom(quoteIdent(c.column(string(name)))))}, nil
	case "value":
		if len(args) != 0 {
			break
		}
		return c.field(string(name), t)
	case "orValue":
		if len(args) != 1 {
			break
		}
		f, err := c.field(string(name), t)
		if err != nil {
			return nil, err
		}
		d, err := c.expr(args[0], exact)
		if err != nil {
			return nil, err
		}
		if d.kind != f.kind {
			return nil, refusef("orValue() with a default of another type has no SQL equivalent")
		}
		if d.nullable || d.tm != nil {
			// CEL evaluates the default first: an error there is an error
			// even when the field is set, which COALESCE would not give.
			return nil, refusef("orValue() with a default that can fail has no SQL equivalent")
		}
		ds, err := c.materialize(d, true)
		if err != nil {
			return nil, err
		}
		return &val{kind: f.kind, sql: atom("COALESCE(", f.sql, ", ", ds, ")"), nanable: f.nanable || isNaN(d.konst)}, nil
	}
	return nil, refusef("function %s() has no SQL equivalent", fn)
}
