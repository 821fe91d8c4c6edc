package eval

import (
	"cmp"
	"time"

	celast "cel.dev/cel-go/common/ast"
)

// op is a comparison operator.
type op uint8

const (
	opEq op = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

// flip returns the operator with its operands swapped: a < b is b > a.
func (o op) flip() op {
	switch o {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return o
}

// comparisons maps the ordering overloads of the types herald's schemas
// declare to their operator and operand kind. Mixed int/double overloads
// exist in cel-go but herald's environment does not declare them.
var comparisons = map[string]struct {
	op   op
	kind kind
}{}

func init() {
	ops := map[string]op{"less": opLt, "less_equals": opLe, "greater": opGt, "greater_equals": opGe}
	kinds := map[string]kind{"bool": kBool, "int64": kInt, "double": kDouble, "string": kString, "timestamp": kTimestamp, "duration": kDuration}
	for on, o := range ops {
		for kn, k := range kinds {
			comparisons[on+"_"+kn] = struct {
				op   op
				kind kind
			}{o, k}
		}
	}
}

// compare compiles `a OP b` for operands of kind k. CEL's ordering and
// equality on these kinds are Go's: IEEE for doubles (NaN is unordered
// and unequal to itself; cel-go's ordering overloads return false on NaN),
// byte order for strings, instants for timestamps.
func (c *compiler) compare(o op, k kind, args []celast.Expr) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if !a.ok || !b.ok || a.kind != k || b.kind != k {
		return node{}
	}
	if a.isErrConst() || b.isErrConst() {
		return errNode(kBool)
	}
	// Put a constant on the right.
	if a.isConst && !b.isConst {
		a, b, o = b, a, o.flip()
	}
	pure := a.pure && b.pure
	var fn boolFn
	switch k {
	case kBool:
		fn = compareBools(o, a, b)
	case kInt:
		fn = compareOrdered[int64](o, a, b)
	case kDouble:
		fn = compareOrdered[float64](o, a, b)
	case kString:
		fn = compareOrdered[string](o, a, b)
	case kDuration:
		if a.diff != nil && b.isConst {
			fn = compareDiff(o, a.diff, b.cval.(time.Duration))
		} else {
			fn = compareOrdered[time.Duration](o, a, b)
		}
	case kTimestamp:
		fn = compareTimes(o, a, b)
	default:
		return node{}
	}
	return fnNode(kBool, fn, pure)
}

func ordered[T cmp.Ordered](o op, x, y T) bool {
	switch o {
	case opEq:
		return x == y
	case opNe:
		return x != y
	case opLt:
		return x < y
	case opLe:
		return x <= y
	case opGt:
		return x > y
	default:
		return x >= y
	}
}

// compareOrdered compiles a comparison of kinds whose Go type orders as
// CEL does. `field OP constant`, the most common condition of all, gets a
// closure of its own per operator.
func compareOrdered[T cmp.Ordered](o op, a, b node) boolFn {
	if a.field >= 0 && b.isConst {
		i, y := a.field, b.cval.(T)
		switch o {
		case opEq:
			return func(v []any) res {
				if x, ok := v[i].(T); ok {
					return bres(x == y)
				}
				return missing(v[i])
			}
		case opNe:
			return func(v []any) res {
				if x, ok := v[i].(T); ok {
					return bres(x != y)
				}
				return missing(v[i])
			}
		case opLt:
			return func(v []any) res {
				if x, ok := v[i].(T); ok {
					return bres(x < y)
				}
				return missing(v[i])
			}
		case opLe:
			return func(v []any) res {
				if x, ok := v[i].(T); ok {
					return bres(x <= y)
				}
				return missing(v[i])
			}
		case opGt:
			return func(v []any) res {
				if x, ok := v[i].(T); ok {
					return bres(x > y)
				}
				return missing(v[i])
			}
		default:
			return func(v []any) res {
				if x, ok := v[i].(T); ok {
					return bres(x >= y)
				}
				return missing(v[i])
			}
		}
	}
	if b.isConst {
		fa, y := fnOf[T](a), b.cval.(T)
		return func(v []any) res {
			x, r := fa(v)
			if r != rOK {
				return r
			}
			return bres(ordered(o, x, y))
		}
	}
	fa, fb := fnOf[T](a), fnOf[T](b)
	return func(v []any) res {
		x, ra := fa(v)
		if ra == rErr {
			return rErr
		}
		y, rb := fb(v)
		if rb == rErr {
			return rErr
		}
		if ra != rOK || rb != rOK {
			return rDefer
		}
		return bres(ordered(o, x, y))
	}
}

// compareDiff compiles `constant - field OP constant duration`, as in
// `now - customer.last_purchase_at > duration('2160h')`, into one closure.
func compareDiff(o op, d *tsDiff, y time.Duration) boolFn {
	bs, bn, i := d.base.Unix(), int64(d.base.Nanosecond()), d.field
	return func(v []any) res {
		t, ok := v[i].(time.Time)
		if !ok {
			return missing(v[i])
		}
		x, ok := subtractTimeChecked(bs, bn, t)
		if !ok {
			return rErr
		}
		return bres(ordered(o, x, y))
	}
}

func timeOrdered(o op, x, y time.Time) bool {
	switch o {
	case opEq:
		return x.Equal(y)
	case opNe:
		return !x.Equal(y)
	case opLt:
		return x.Before(y)
	case opLe:
		return !x.After(y)
	case opGt:
		return x.After(y)
	default:
		return !x.Before(y)
	}
}

func compareTimes(o op, a, b node) boolFn {
	if a.field >= 0 && b.isConst {
		i, y := a.field, b.cval.(time.Time)
		return func(v []any) res {
			if x, ok := v[i].(time.Time); ok {
				return bres(timeOrdered(o, x, y))
			}
			return missing(v[i])
		}
	}
	fa, fb := fnOf[time.Time](a), fnOf[time.Time](b)
	return func(v []any) res {
		x, ra := fa(v)
		if ra == rErr {
			return rErr
		}
		y, rb := fb(v)
		if rb == rErr {
			return rErr
		}
		if ra != rOK || rb != rOK {
			return rDefer
		}
		return bres(timeOrdered(o, x, y))
	}
}

// compareBools compares booleans, false < true.
func compareBools(o op, a, b node) boolFn {
	fa, fb := boolFnOf(a), boolFnOf(b)
	if a.field >= 0 && b.isConst && (o == opEq || o == opNe) {
		i, y := a.field, b.cres == rTrue
		if o == opNe {
			y = !y
		}
		return func(v []any) res {
			if x, ok := v[i].(bool); ok {
				return bres(x == y)
			}
			return missing(v[i])
		}
	}
	return func(v []any) res {
		ra := fa(v)
		if ra == rErr {
			return rErr
		}
		rb := fb(v)
		if rb == rErr {
			return rErr
		}
		if ra == rDefer || rb == rDefer {
			return rDefer
		}
		return bres(ordered(o, int(ra), int(rb)))
	}
}
