package eval

import (
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/heraldhq/herald/providers"
)

// boolFn evaluates a boolean subexpression over a record's values.
type boolFn func(v []any) res

// valFn evaluates a value subexpression; its res is rOK with a value, or
// rErr or rDefer.
type valFn[T any] func(v []any) (T, res)

// kind is the Go representation of a subexpression's value:
//
//	kBool      bool (as a res)
//	kInt       int64
//	kDouble    float64
//	kString    string
//	kTimestamp time.Time
//	kDuration  time.Duration
//	kList      []any (fields) or a ref.Val list (constants)
//	kMap       map[string]any (fields only)
type kind uint8

const (
	kNone kind = iota
	kBool
	kInt
	kDouble
	kString
	kTimestamp
	kDuration
	kList
	kMap
)

// scalar reports whether values of the kind are handled by the closures.
func (k kind) scalar() bool { return k >= kBool && k <= kDuration }

// node is a compiled subexpression. It is one of: a constant, a plain read
// of a field, or a closure (fn, a boolFn or valFn of the kind's Go type).
// Keeping constants and field reads apart lets the operators above them
// fuse into one closure, such as "field >= constant".
type node struct {
	ok   bool // false: not representable here; the parent falls back
	kind kind
	elem kind // element kind of a list or map
	// pure is true when no cel-go evaluation happens inside.
	pure bool
	// fallback is true when the whole node is a cel-go subtree.
	fallback bool

	isConst bool
	cres    res // constant: rOK (rTrue/rFalse for kBool) or rErr
	cval    any // constant value of the kind's Go type (a ref.Val for lists)

	field int // >= 0: a plain read of this field

	fn any

	// conj holds the operands of a chain of &&.
	conj []boolFn

	// diff is set on `constant timestamp - timestamp field`, so that a
	// comparison of it with a constant duration can fuse.
	diff *tsDiff
}

type tsDiff struct {
	base  time.Time
	field int
}

func constNode(k kind, r res, v any) node {
	return node{ok: true, kind: k, pure: true, isConst: true, cres: r, cval: v, field: -1}
}

func errNode(k kind) node { return constNode(k, rErr, nil) }

func fnNode(k kind, fn any, pure bool) node {
	return node{ok: true, kind: k, pure: pure, fn: fn, field: -1}
}

// isErrConst reports whether n is a constant CEL error.
func (n node) isErrConst() bool { return n.isConst && n.cres == rErr }

type compiler struct {
	ast      *celast.AST
	variable string
	layout   *providers.Layout
	nowVal   ref.Val
	env      *cel.Env
}

// compile compiles e: constants are folded (by cel-go, so exactly), known
// shapes are specialised, and any other subtree of a scalar type becomes a
// cel-go program of its own.
func (c *compiler) compile(e celast.Expr) node {
	if c.isConstant(e) {
		return c.constant(e)
	}
	if n := c.specialise(e); n.ok {
		return n
	}
	return c.fallbackNode(e)
}

// isConstant reports whether e reads nothing but `now`, which is fixed.
func (c *compiler) isConstant(e celast.Expr) bool {
	for name := range freeIdents(c.ast, e) {
		if name != nowName {
			return false
		}
	}
	return true
}

func (c *compiler) kindOf(e celast.Expr) (kind, kind) {
	return kindOfType(c.ast.GetType(e.ID()))
}

// kindOfType returns the kind of a CEL type and, for lists and maps, of its
// elements.
func kindOfType(t *types.Type) (kind, kind) {
	if t == nil {
		return kNone, kNone
	}
	switch t.Kind() {
	case types.BoolKind:
		return kBool, kNone
	case types.IntKind:
		return kInt, kNone
	case types.DoubleKind:
		return kDouble, kNone
	case types.StringKind:
		return kString, kNone
	case types.TimestampKind:
		return kTimestamp, kNone
	case types.DurationKind:
		return kDuration, kNone
	case types.ListKind:
		if ps := t.Parameters(); len(ps) == 1 {
			el, _ := kindOfType(ps[0])
			return kList, el
		}
		return kList, kNone
	case types.MapKind:
		if ps := t.Parameters(); len(ps) == 2 && ps[0].Kind() == types.StringKind {
			el, _ := kindOfType(ps[1])
			return kMap, el
		}
	}
	return kNone, kNone
}

// constant evaluates a constant subtree once.
func (c *compiler) constant(e celast.Expr) node {
	k, el := c.kindOf(e)
	var val ref.Val
	if e.Kind() == celast.LiteralKind {
		val = e.AsLiteral()
	} else {
		prg, err := c.subProgram(e)
		if err != nil {
			return node{}
		}
		val, _, _ = prg.Eval(&activation{variable: c.variable, now: c.nowVal})
	}
	if types.IsError(val) {
		if k.scalar() {
			return errNode(k)
		}
		return node{}
	}
	switch k {
	case kBool:
		if b, ok := val.(types.Bool); ok {
			return constNode(kBool, bres(bool(b)), nil)
		}
	case kInt:
		if x, ok := val.(types.Int); ok {
			return constNode(k, rOK, int64(x))
		}
	case kDouble:
		if x, ok := val.(types.Double); ok {
			return constNode(k, rOK, float64(x))
		}
	case kString:
		if x, ok := val.(types.String); ok {
			return constNode(k, rOK, string(x))
		}
	case kTimestamp:
		if x, ok := val.(types.Timestamp); ok {
			return constNode(k, rOK, x.Time)
		}
	case kDuration:
		if x, ok := val.(types.Duration); ok {
			return constNode(k, rOK, x.Duration)
		}
	case kList:
		if _, ok := val.(traits.Lister); ok {
			n := constNode(k, rOK, val)
			n.elem = el
			return n
		}
	}
	return node{}
}

// fallbackNode evaluates e with cel-go, for each record.
func (c *compiler) fallbackNode(e celast.Expr) node {
	k, _ := c.kindOf(e)
	if !k.scalar() {
		return node{}
	}
	prg, err := c.subProgram(e)
	if err != nil {
		// Unreachable when the whole expression planned; defer to it.
		prg = nil
	}
	eval := func(v []any) (ref.Val, res) {
		if prg == nil {
			return nil, rDefer
		}
		out, _, err := prg.Eval(&subActivation{variable: c.variable, rec: providers.Record{Layout: c.layout, Values: v}, now: c.nowVal})
		switch {
		case types.IsUnknown(out):
			return nil, rDefer
		case err != nil || types.IsError(out):
			return nil, rErr
		}
		return out, rOK
	}
	var n node
	switch k {
	case kBool:
		n = fnNode(k, boolFn(func(v []any) res {
			out, r := eval(v)
			if r != rOK {
				return r
			}
			if b, ok := out.(types.Bool); ok {
				return bres(bool(b))
			}
			return rDefer
		}), false)
	case kInt:
		n = fnNode(k, fallbackFn(eval, func(x types.Int) int64 { return int64(x) }), false)
	case kDouble:
		n = fnNode(k, fallbackFn(eval, func(x types.Double) float64 { return float64(x) }), false)
	case kString:
		n = fnNode(k, fallbackFn(eval, func(x types.String) string { return string(x) }), false)
	case kTimestamp:
		n = fnNode(k, fallbackFn(eval, func(x types.Timestamp) time.Time { return x.Time }), false)
	case kDuration:
		n = fnNode(k, fallbackFn(eval, func(x types.Duration) time.Duration { return x.Duration }), false)
	}
	n.fallback = true
	return n
}

func fallbackFn[V ref.Val, T any](eval func([]any) (ref.Val, res), conv func(V) T) valFn[T] {
	return func(v []any) (T, res) {
		var zero T
		out, r := eval(v)
		if r != rOK {
			return zero, r
		}
		x, ok := out.(V)
		if !ok {
			return zero, rDefer
		}
		return conv(x), rOK
	}
}

// specialise compiles the shapes it knows; it returns a node that is not ok
// for anything else.
func (c *compiler) specialise(e celast.Expr) node {
	switch e.Kind() {
	case celast.SelectKind:
		return c.selectField(e)
	case celast.CallKind:
		ref, found := c.ast.ReferenceMap()[e.ID()]
		if !found || len(ref.OverloadIDs) != 1 {
			return node{}
		}
		return c.call(e, ref.OverloadIDs[0])
	}
	return node{}
}

// selectField compiles `variable.field` and `has(variable.field)`.
func (c *compiler) selectField(e celast.Expr) node {
	sel := e.AsSelect()
	op := sel.Operand()
	if op.Kind() != celast.IdentKind || op.AsIdent() != c.variable {
		return node{}
	}
	i := c.layout.Index(sel.FieldName())
	if i < 0 {
		return node{}
	}
	if sel.IsTestOnly() {
		return fnNode(kBool, boolFn(func(v []any) res { return bres(v[i] != nil) }), true)
	}
	k, el := kindOfType(celType(c.layout.Types[i]))
	if ck, cel := c.kindOf(e); ck != k || cel != el || k == kNone {
		return node{}
	}
	return node{ok: true, kind: k, elem: el, pure: true, field: i}
}

// call compiles a function call by its overload.
func (c *compiler) call(e celast.Expr, overload string) node {
	call := e.AsCall()
	args := call.Args()
	if call.IsMemberFunction() {
		args = append([]celast.Expr{call.Target()}, args...)
	}
	if cmp, ok := comparisons[overload]; ok {
		return c.compare(cmp.op, cmp.kind, args)
	}
	switch overload {
	case overloads.LogicalAnd, overloads.LogicalOr:
		return c.logical(e, overload)
	case overloads.LogicalNot:
		return notNode(c.compile(args[0]))
	case overloads.Conditional:
		return c.conditional(args)
	case overloads.Equals, overloads.NotEquals:
		ka, _ := c.kindOf(args[0])
		kb, _ := c.kindOf(args[1])
		if ka != kb || !ka.scalar() {
			return node{}
		}
		o := opEq
		if overload == overloads.NotEquals {
			o = opNe
		}
		return c.compare(o, ka, args)
	case overloads.InList:
		return c.inList(args)
	case overloads.InMap:
		return c.inMap(args)
	case overloads.IndexList:
		return c.indexList(args)
	case overloads.IndexMap:
		return c.indexMap(args)
	case overloads.SizeString, overloads.SizeStringInst:
		return c.unary(args, kString, kInt, sizeString)
	case overloads.SizeList, overloads.SizeListInst, overloads.SizeMap, overloads.SizeMapInst:
		return c.sizeField(args)
	case overloads.StartsWithString, overloads.EndsWithString, overloads.ContainsString:
		return c.stringTest(overload, args)
	case overloads.Matches, overloads.MatchesString:
		return c.matches(args)
	case "string_lower_ascii":
		return c.unary(args, kString, kString, lowerASCII)
	case "string_upper_ascii":
		return c.unary(args, kString, kString, upperASCII)
	case overloads.IntToInt, overloads.DoubleToDouble, overloads.StringToString,
		overloads.BoolToBool, overloads.TimestampToTimestamp, overloads.DurationToDuration:
		return c.compile(args[0])
	case overloads.IntToDouble:
		return c.unary(args, kInt, kDouble, func(x int64) (float64, bool) { return float64(x), true })
	case overloads.DoubleToInt:
		return c.unary(args, kDouble, kInt, doubleToInt64Checked)
	case overloads.NegateInt64:
		return c.unary(args, kInt, kInt, negateInt64Checked)
	case overloads.NegateDouble:
		return c.unary(args, kDouble, kDouble, func(x float64) (float64, bool) { return -x, true })
	case overloads.AddInt64:
		return binary(c, args, kInt, kInt, kInt, addInt64Checked)
	case overloads.SubtractInt64:
		return binary(c, args, kInt, kInt, kInt, subtractInt64Checked)
	case overloads.MultiplyInt64:
		return binary(c, args, kInt, kInt, kInt, multiplyInt64Checked)
	case overloads.DivideInt64:
		return binary(c, args, kInt, kInt, kInt, divideInt64Checked)
	case overloads.ModuloInt64:
		return binary(c, args, kInt, kInt, kInt, moduloInt64Checked)
	case overloads.AddDouble:
		return binary(c, args, kDouble, kDouble, kDouble, func(x, y float64) (float64, bool) { return x + y, true })
	case overloads.SubtractDouble:
		return binary(c, args, kDouble, kDouble, kDouble, func(x, y float64) (float64, bool) { return x - y, true })
	case overloads.MultiplyDouble:
		return binary(c, args, kDouble, kDouble, kDouble, func(x, y float64) (float64, bool) { return x * y, true })
	case overloads.DivideDouble:
		return binary(c, args, kDouble, kDouble, kDouble, func(x, y float64) (float64, bool) { return x / y, true })
	case overloads.AddDurationDuration:
		return binary(c, args, kDuration, kDuration, kDuration, func(x, y time.Duration) (time.Duration, bool) {
			r, ok := addInt64Checked(int64(x), int64(y))
			return time.Duration(r), ok
		})
	case overloads.SubtractDurationDuration:
		return binary(c, args, kDuration, kDuration, kDuration, func(x, y time.Duration) (time.Duration, bool) {
			r, ok := subtractInt64Checked(int64(x), int64(y))
			return time.Duration(r), ok
		})
	case overloads.AddTimestampDuration:
		return binary(c, args, kTimestamp, kDuration, kTimestamp, addTimeDurationChecked)
	case overloads.AddDurationTimestamp:
		return binary(c, args, kDuration, kTimestamp, kTimestamp, func(d time.Duration, t time.Time) (time.Time, bool) {
			return addTimeDurationChecked(t, d)
		})
	case overloads.SubtractTimestampDuration:
		return binary(c, args, kTimestamp, kDuration, kTimestamp, subtractTimeDurationChecked)
	case overloads.SubtractTimestampTimestamp:
		return c.timeDiff(args)
	}
	return node{}
}

// logical compiles a chain of && or || (the parser balances a chain into
// a tree; it is flattened back into one list of operands).
func (c *compiler) logical(e celast.Expr, overload string) node {
	var operands []celast.Expr
	var flatten func(e celast.Expr)
	flatten = func(e celast.Expr) {
		if e.Kind() == celast.CallKind && !c.isConstant(e) {
			if ref, ok := c.ast.ReferenceMap()[e.ID()]; ok && len(ref.OverloadIDs) == 1 && ref.OverloadIDs[0] == overload {
				for _, a := range e.AsCall().Args() {
					flatten(a)
				}
				return
			}
		}
		operands = append(operands, e)
	}
	flatten(e)
	and := overload == overloads.LogicalAnd
	// The identity of the operator (true for &&, false for ||) drops out;
	// its absorbing value decides the whole.
	identity, absorbing := rTrue, rFalse
	if !and {
		identity, absorbing = rFalse, rTrue
	}
	var fns []boolFn
	pure := true
	var errConst bool
	for _, o := range operands {
		n := c.compile(o)
		if !n.ok || n.kind != kBool {
			return node{}
		}
		if n.isConst {
			switch n.cres {
			case absorbing:
				return constNode(kBool, absorbing, nil)
			case identity:
				continue
			default:
				errConst = true
				continue
			}
		}
		pure = pure && n.pure
		fns = append(fns, boolFnOf(n))
	}
	if errConst {
		// An error is absorbed only by the absorbing value.
		fns = append(fns, func([]any) res { return rErr })
	}
	switch {
	case len(fns) == 0:
		return constNode(kBool, identity, nil)
	case len(fns) == 1:
		return fnNode(kBool, fns[0], pure)
	case and:
		n := fnNode(kBool, andFn(fns), pure)
		n.conj = fns
		return n
	default:
		return fnNode(kBool, orFn(fns), pure)
	}
}

// andFn is CEL's commutative &&: false if any operand is false, whatever
// the others are; otherwise the worst of true < error < defer.
func andFn(fs []boolFn) boolFn {
	if len(fs) == 2 {
		a, b := fs[0], fs[1]
		return func(v []any) res {
			ra := a(v)
			if ra == rFalse {
				return rFalse
			}
			rb := b(v)
			if rb == rFalse {
				return rFalse
			}
			return max(ra, rb)
		}
	}
	return func(v []any) res {
		acc := rTrue
		for _, f := range fs {
			r := f(v)
			if r == rFalse {
				return rFalse
			}
			acc = max(acc, r)
		}
		return acc
	}
}

// orFn is CEL's commutative ||: true if any operand is true; otherwise the
// worst of false < error < defer.
func orFn(fs []boolFn) boolFn {
	if len(fs) == 2 {
		a, b := fs[0], fs[1]
		return func(v []any) res {
			ra := a(v)
			if ra == rTrue {
				return rTrue
			}
			rb := b(v)
			if rb == rTrue {
				return rTrue
			}
			return max(ra, rb)
		}
	}
	return func(v []any) res {
		acc := rFalse
		for _, f := range fs {
			r := f(v)
			if r == rTrue {
				return rTrue
			}
			acc = max(acc, r)
		}
		return acc
	}
}

func notNode(n node) node {
	if !n.ok || n.kind != kBool {
		return node{}
	}
	if n.isConst {
		return constNode(kBool, not(n.cres), nil)
	}
	if n.field >= 0 {
		i := n.field
		return fnNode(kBool, boolFn(func(v []any) res {
			if b, ok := v[i].(bool); ok {
				return bres(!b)
			}
			return missing(v[i])
		}), true)
	}
	f := boolFnOf(n)
	return fnNode(kBool, boolFn(func(v []any) res { return not(f(v)) }), n.pure)
}

func not(r res) res {
	switch r {
	case rTrue:
		return rFalse
	case rFalse:
		return rTrue
	}
	return r
}

// missing is the result of reading a field that does not hold the Go type
// of its declared type: an absent field is a CEL error ("no such key");
// any other value is for cel-go to judge.
func missing(x any) res {
	if x == nil {
		return rErr
	}
	return rDefer
}

// conditional compiles `cond ? a : b`.
func (c *compiler) conditional(args []celast.Expr) node {
	cond := c.compile(args[0])
	a, b := c.compile(args[1]), c.compile(args[2])
	if !cond.ok || cond.kind != kBool || !a.ok || !b.ok || a.kind != b.kind {
		return node{}
	}
	if cond.isConst {
		switch cond.cres {
		case rTrue:
			return a
		case rFalse:
			return b
		}
		return errNode(a.kind)
	}
	pure := cond.pure && a.pure && b.pure
	cf := boolFnOf(cond)
	switch a.kind {
	case kBool:
		fa, fb := boolFnOf(a), boolFnOf(b)
		return fnNode(kBool, boolFn(func(v []any) res {
			switch r := cf(v); r {
			case rTrue:
				return fa(v)
			case rFalse:
				return fb(v)
			default:
				return r
			}
		}), pure)
	case kInt:
		return fnNode(a.kind, condFn(cf, fnOf[int64](a), fnOf[int64](b)), pure)
	case kDouble:
		return fnNode(a.kind, condFn(cf, fnOf[float64](a), fnOf[float64](b)), pure)
	case kString:
		return fnNode(a.kind, condFn(cf, fnOf[string](a), fnOf[string](b)), pure)
	case kTimestamp:
		return fnNode(a.kind, condFn(cf, fnOf[time.Time](a), fnOf[time.Time](b)), pure)
	case kDuration:
		return fnNode(a.kind, condFn(cf, fnOf[time.Duration](a), fnOf[time.Duration](b)), pure)
	}
	return node{}
}

func condFn[T any](cf boolFn, fa, fb valFn[T]) valFn[T] {
	return func(v []any) (T, res) {
		switch r := cf(v); r {
		case rTrue:
			return fa(v)
		case rFalse:
			return fb(v)
		default:
			var zero T
			return zero, r
		}
	}
}

// boolFnOf returns the closure of a boolean node.
func boolFnOf(n node) boolFn {
	switch {
	case n.isConst:
		r := n.cres
		return func([]any) res { return r }
	case n.field >= 0:
		i := n.field
		return func(v []any) res {
			if b, ok := v[i].(bool); ok {
				return bres(b)
			}
			return missing(v[i])
		}
	}
	return n.fn.(boolFn)
}

// fnOf returns the closure of a value node of Go type T.
func fnOf[T any](n node) valFn[T] {
	switch {
	case n.isConst:
		x, _ := n.cval.(T)
		r := n.cres
		return func([]any) (T, res) { return x, r }
	case n.field >= 0:
		i := n.field
		return func(v []any) (T, res) {
			if x, ok := v[i].(T); ok {
				return x, rOK
			}
			var zero T
			return zero, missing(v[i])
		}
	}
	return n.fn.(valFn[T])
}

// unary compiles a strict one-argument function.
func (c *compiler) unary(args []celast.Expr, in, out kind, f any) node {
	a := c.compile(args[0])
	if !a.ok || a.kind != in {
		return node{}
	}
	if a.isErrConst() {
		return errNode(out)
	}
	var fn any
	switch f := f.(type) {
	case func(string) (int64, bool):
		fn = unaryFn(fnOf[string](a), f)
	case func(string) (string, bool):
		fn = unaryFn(fnOf[string](a), f)
	case func(int64) (float64, bool):
		fn = unaryFn(fnOf[int64](a), f)
	case func(float64) (int64, bool):
		fn = unaryFn(fnOf[float64](a), f)
	case func(int64) (int64, bool):
		fn = unaryFn(fnOf[int64](a), f)
	case func(float64) (float64, bool):
		fn = unaryFn(fnOf[float64](a), f)
	default:
		return node{}
	}
	return fnNode(out, fn, a.pure)
}

func unaryFn[A, R any](fa valFn[A], f func(A) (R, bool)) valFn[R] {
	return func(v []any) (R, res) {
		var zero R
		x, r := fa(v)
		if r != rOK {
			return zero, r
		}
		y, ok := f(x)
		if !ok {
			return zero, rErr
		}
		return y, rOK
	}
}

// binary compiles a strict two-argument function; f reports false for a
// CEL error (an overflow, a division by zero).
func binary[A, B, R any](c *compiler, args []celast.Expr, ka, kb, kr kind, f func(A, B) (R, bool)) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if !a.ok || !b.ok || a.kind != ka || b.kind != kb {
		return node{}
	}
	if a.isErrConst() || b.isErrConst() {
		return errNode(kr)
	}
	fa, fb := fnOf[A](a), fnOf[B](b)
	return fnNode(kr, valFn[R](func(v []any) (R, res) {
		var zero R
		x, ra := fa(v)
		if ra == rErr {
			return zero, rErr
		}
		y, rb := fb(v)
		if rb == rErr {
			return zero, rErr
		}
		if ra != rOK || rb != rOK {
			return zero, rDefer
		}
		z, ok := f(x, y)
		if !ok {
			return zero, rErr
		}
		return z, rOK
	}), a.pure && b.pure)
}

// timeDiff compiles `timestamp - timestamp`; with a constant on the left
// (as `now` is) the node keeps the shape for compare to fuse.
func (c *compiler) timeDiff(args []celast.Expr) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if a.ok && b.ok && a.kind == kTimestamp && b.kind == kTimestamp && a.isConst && a.cres == rOK && b.field >= 0 {
		base, i := a.cval.(time.Time), b.field
		bs, bn := base.Unix(), int64(base.Nanosecond())
		n := fnNode(kDuration, valFn[time.Duration](func(v []any) (time.Duration, res) {
			t, ok := v[i].(time.Time)
			if !ok {
				return 0, missing(v[i])
			}
			d, ok := subtractTimeChecked(bs, bn, t)
			if !ok {
				return 0, rErr
			}
			return d, rOK
		}), true)
		n.diff = &tsDiff{base: base, field: i}
		return n
	}
	return binary(c, args, kTimestamp, kTimestamp, kDuration, func(x, y time.Time) (time.Duration, bool) {
		return subtractTimeChecked(x.Unix(), int64(x.Nanosecond()), y)
	})
}
