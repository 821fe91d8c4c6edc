package eval

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/traits"
)

// setThreshold is the size above which a constant `in` list is looked up
// in a map rather than scanned.
const setThreshold = 8

// inList compiles `x in list`: a constant list becomes a slice or a set, a
// list field is scanned.
func (c *compiler) inList(args []celast.Expr) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if !a.ok || !b.ok || !a.kind.scalar() || b.kind != kList {
		return node{}
	}
	if a.isErrConst() {
		return errNode(kBool)
	}
	pure := a.pure && b.pure
	if b.isConst {
		var fn boolFn
		switch a.kind {
		case kBool:
			fn = inConst[bool](a, b.cval.(traits.Lister), func(v any) (bool, bool) { x, ok := v.(types.Bool); return bool(x), ok })
		case kInt:
			fn = inConst[int64](a, b.cval.(traits.Lister), func(v any) (int64, bool) { x, ok := v.(types.Int); return int64(x), ok })
		case kDouble:
			fn = inConst[float64](a, b.cval.(traits.Lister), func(v any) (float64, bool) { x, ok := v.(types.Double); return float64(x), ok })
		case kString:
			fn = inConst[string](a, b.cval.(traits.Lister), func(v any) (string, bool) { x, ok := v.(types.String); return string(x), ok })
		case kDuration:
			fn = inConst[time.Duration](a, b.cval.(traits.Lister), func(v any) (time.Duration, bool) { x, ok := v.(types.Duration); return x.Duration, ok })
		}
		if fn == nil {
			return node{}
		}
		return fnNode(kBool, fn, pure)
	}
	if b.field < 0 || b.elem != a.kind {
		return node{}
	}
	var fn boolFn
	switch a.kind {
	case kBool:
		fn = inField[bool](fnOf[bool](boolValue(a)), b.field)
	case kInt:
		fn = inField[int64](fnOf[int64](a), b.field)
	case kDouble:
		fn = inField[float64](fnOf[float64](a), b.field)
	case kString:
		fn = inField[string](fnOf[string](a), b.field)
	case kDuration:
		fn = inField[time.Duration](fnOf[time.Duration](a), b.field)
	default:
		return node{}
	}
	return fnNode(kBool, fn, pure)
}

// boolValue turns a boolean node into a value node of Go type bool.
func boolValue(n node) node {
	if n.isConst {
		return constNode(kBool, n.cres, n.cres == rTrue)
	}
	if n.field >= 0 {
		return n
	}
	f := boolFnOf(n)
	return fnNode(kBool, valFn[bool](func(v []any) (bool, res) {
		switch r := f(v); r {
		case rTrue:
			return true, rOK
		case rFalse:
			return false, rOK
		default:
			return false, r
		}
	}), n.pure)
}

// inConst compiles `x in [constants]`. Every element must convert, or the
// list is not specialised. Equality is Go's ==, which is CEL's for these
// types (a NaN is in no list).
func inConst[T comparable](a node, list traits.Lister, conv func(any) (T, bool)) boolFn {
	var elems []T
	it := list.Iterator()
	for it.HasNext() == types.True {
		x, ok := conv(it.Next())
		if !ok {
			return nil
		}
		elems = append(elems, x)
	}
	var fa valFn[T]
	if a.kind == kBool {
		fa = fnOf[T](boolValue(a))
	} else {
		fa = fnOf[T](a)
	}
	i := a.field
	if len(elems) > setThreshold {
		set := make(map[T]struct{}, len(elems))
		for _, x := range elems {
			set[x] = struct{}{}
		}
		if i >= 0 && a.kind != kBool {
			return func(v []any) res {
				if x, ok := v[i].(T); ok {
					_, in := set[x]
					return bres(in)
				}
				return missing(v[i])
			}
		}
		return func(v []any) res {
			x, r := fa(v)
			if r != rOK {
				return r
			}
			_, in := set[x]
			return bres(in)
		}
	}
	if i >= 0 && a.kind != kBool {
		return func(v []any) res {
			if x, ok := v[i].(T); ok {
				for _, y := range elems {
					if x == y {
						return rTrue
					}
				}
				return rFalse
			}
			return missing(v[i])
		}
	}
	return func(v []any) res {
		x, r := fa(v)
		if r != rOK {
			return r
		}
		for _, y := range elems {
			if x == y {
				return rTrue
			}
		}
		return rFalse
	}
}

// inField compiles `x in list_field`. An element of another Go type is for
// cel-go to compare (CEL's equality across types).
func inField[T comparable](fa valFn[T], i int) boolFn {
	return func(v []any) res {
		x, r := fa(v)
		if r == rErr {
			return rErr
		}
		list, ok := v[i].([]any)
		if !ok {
			return missing(v[i])
		}
		if r != rOK {
			return rDefer
		}
		other := false
		for _, e := range list {
			y, ok := e.(T)
			if !ok {
				other = true
				continue
			}
			if x == y {
				return rTrue
			}
		}
		if other {
			return rDefer
		}
		return rFalse
	}
}

// inMap compiles `key in map_field`.
func (c *compiler) inMap(args []celast.Expr) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if !a.ok || !b.ok || a.kind != kString || b.kind != kMap || b.field < 0 {
		return node{}
	}
	if a.isErrConst() {
		return errNode(kBool)
	}
	fa, i := fnOf[string](a), b.field
	return fnNode(kBool, boolFn(func(v []any) res {
		k, r := fa(v)
		if r == rErr {
			return rErr
		}
		m, ok := v[i].(map[string]any)
		if !ok {
			return missing(v[i])
		}
		if r != rOK {
			return rDefer
		}
		_, in := m[k]
		return bres(in)
	}), a.pure)
}

// indexMap compiles `map_field[key]`; a missing key is an error.
func (c *compiler) indexMap(args []celast.Expr) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if !a.ok || !b.ok || a.kind != kMap || a.field < 0 || b.kind != kString {
		return node{}
	}
	if b.isErrConst() {
		return errNode(a.elem)
	}
	i, fb := a.field, fnOf[string](b)
	lookup := func(v []any) (any, res) {
		m, ok := v[i].(map[string]any)
		if !ok {
			return nil, missing(v[i])
		}
		k, r := fb(v)
		if r != rOK {
			return nil, r
		}
		x, in := m[k]
		if !in {
			return nil, rErr
		}
		return x, rOK
	}
	return elemNode(a.elem, lookup, b.pure)
}

// indexList compiles `list_field[index]`; an index out of range is an
// error.
func (c *compiler) indexList(args []celast.Expr) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if !a.ok || !b.ok || a.kind != kList || a.field < 0 || b.kind != kInt {
		return node{}
	}
	if b.isErrConst() {
		return errNode(a.elem)
	}
	i, fb := a.field, fnOf[int64](b)
	lookup := func(v []any) (any, res) {
		list, ok := v[i].([]any)
		if !ok {
			return nil, missing(v[i])
		}
		k, r := fb(v)
		if r != rOK {
			return nil, r
		}
		if k < 0 || k >= int64(len(list)) {
			return nil, rErr
		}
		return list[k], rOK
	}
	return elemNode(a.elem, lookup, b.pure)
}

// elemNode types an element read from a list or a map. An element of
// another Go type (or nil, CEL's null) is for cel-go to judge.
func elemNode(k kind, lookup func([]any) (any, res), pure bool) node {
	switch k {
	case kBool:
		return fnNode(k, boolFn(func(v []any) res {
			x, r := lookup(v)
			if r != rOK {
				return r
			}
			if b, ok := x.(bool); ok {
				return bres(b)
			}
			return rDefer
		}), pure)
	case kInt:
		return fnNode(k, elemFn[int64](lookup), pure)
	case kDouble:
		return fnNode(k, elemFn[float64](lookup), pure)
	case kString:
		return fnNode(k, elemFn[string](lookup), pure)
	case kTimestamp:
		return fnNode(k, elemFn[time.Time](lookup), pure)
	case kDuration:
		return fnNode(k, elemFn[time.Duration](lookup), pure)
	}
	return node{}
}

func elemFn[T any](lookup func([]any) (any, res)) valFn[T] {
	return func(v []any) (T, res) {
		var zero T
		x, r := lookup(v)
		if r != rOK {
			return zero, r
		}
		if y, ok := x.(T); ok {
			return y, rOK
		}
		return zero, rDefer
	}
}

// sizeField compiles size() of a list or map field.
func (c *compiler) sizeField(args []celast.Expr) node {
	a := c.compile(args[0])
	if !a.ok || a.field < 0 || (a.kind != kList && a.kind != kMap) {
		return node{}
	}
	i := a.field
	if a.kind == kList {
		return fnNode(kInt, valFn[int64](func(v []any) (int64, res) {
			if l, ok := v[i].([]any); ok {
				return int64(len(l)), rOK
			}
			return 0, missing(v[i])
		}), true)
	}
	return fnNode(kInt, valFn[int64](func(v []any) (int64, res) {
		if m, ok := v[i].(map[string]any); ok {
			return int64(len(m)), rOK
		}
		return 0, missing(v[i])
	}), true)
}

// stringTest compiles startsWith, endsWith and contains.
func (c *compiler) stringTest(overload string, args []celast.Expr) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if !a.ok || !b.ok || a.kind != kString || b.kind != kString {
		return node{}
	}
	if a.isErrConst() || b.isErrConst() {
		return errNode(kBool)
	}
	test := strings.Contains
	switch overload {
	case overloads.StartsWithString:
		test = strings.HasPrefix
	case overloads.EndsWithString:
		test = strings.HasSuffix
	}
	if a.field >= 0 && b.isConst {
		i, y := a.field, b.cval.(string)
		switch overload {
		case overloads.StartsWithString:
			return fnNode(kBool, boolFn(func(v []any) res {
				if x, ok := v[i].(string); ok {
					return bres(strings.HasPrefix(x, y))
				}
				return missing(v[i])
			}), true)
		case overloads.EndsWithString:
			return fnNode(kBool, boolFn(func(v []any) res {
				if x, ok := v[i].(string); ok {
					return bres(strings.HasSuffix(x, y))
				}
				return missing(v[i])
			}), true)
		}
		return fnNode(kBool, boolFn(func(v []any) res {
			if x, ok := v[i].(string); ok {
				return bres(strings.Contains(x, y))
			}
			return missing(v[i])
		}), true)
	}
	fa, fb := fnOf[string](a), fnOf[string](b)
	return fnNode(kBool, boolFn(func(v []any) res {
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
		return bres(test(x, y))
	}), a.pure && b.pure)
}

// matches compiles matches() with a constant pattern, compiled once. cel-go
// uses Go's regexp too; an invalid pattern is an error for every record.
func (c *compiler) matches(args []celast.Expr) node {
	a, b := c.compile(args[0]), c.compile(args[1])
	if !a.ok || !b.ok || a.kind != kString || b.kind != kString || !b.isConst {
		return node{}
	}
	if a.isErrConst() || b.isErrConst() {
		return errNode(kBool)
	}
	re, err := regexp.Compile(b.cval.(string))
	if err != nil {
		return errNode(kBool)
	}
	fa := fnOf[string](a)
	return fnNode(kBool, boolFn(func(v []any) res {
		x, r := fa(v)
		if r != rOK {
			return r
		}
		return bres(re.MatchString(x))
	}), a.pure)
}

// sizeString is size() of a string: its code points, as cel-go counts them
// (len([]rune(s)): an invalid byte counts as one).
func sizeString(s string) (int64, bool) { return int64(utf8.RuneCountInString(s)), true }

// lowerASCII is ext.Strings' lowerAscii: it converts through []rune, so an
// invalid byte becomes U+FFFD. A valid string without upper-case ASCII
// letters is returned as it is, without allocating.
func lowerASCII(s string) (string, bool) {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' }) >= 0 {
		runes := []rune(s)
		for i, r := range runes {
			if r <= unicode.MaxASCII {
				runes[i] = unicode.ToLower(r)
			}
		}
		return string(runes), true
	}
	return s, true
}

// upperASCII is ext.Strings' upperAscii, as lowerASCII.
func upperASCII(s string) (string, bool) {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return 'a' <= r && r <= 'z' }) >= 0 {
		runes := []rune(s)
		for i, r := range runes {
			if r <= unicode.MaxASCII {
				runes[i] = unicode.ToUpper(r)
			}
		}
		return string(runes), true
	}
	return s, true
}
