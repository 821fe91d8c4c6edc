// Package eval decides, record by record, whether a profile is in a
// segment. A segment's condition is a checked CEL expression; Compile turns
// it once into a Predicate that is then asked about every streamed record,
// from as many goroutines as there are cores.
//
// cel-go's interpreter is exact but slow on this path: every field read goes
// through an activation, a qualifier and a boxed ref.Val. Compile therefore
// specialises the common shapes of a checked AST — field comparisons with
// literals, `in` lists, `&&`/`||`/`!`, has(), timestamp and duration
// arithmetic against the fixed `now`, startsWith/endsWith/contains/matches,
// size() and lowerAscii(), int↔double conversions — into Go closures that
// read a Record's Values by index and allocate nothing. Any other subtree is
// evaluated by a cel-go Program planned from that subtree alone, so one
// unusual clause does not send the whole expression to the interpreter.
//
// The closures reproduce CEL's semantics exactly, errors included: they
// compute a four-state result (false, true, error, and "defer" for values
// they cannot judge, such as a field holding an unexpected Go type), and
// `&&`/`||` absorb errors as CEL does (false && error is false, true ||
// error is true). When the result is "defer", the whole expression is
// evaluated by cel-go for that record. The differential test holds the two
// to the same answer on every record.
package eval

import (
	"errors"
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/heraldhq/herald/providers"
)

// Predicate decides one record. It is safe for concurrent use: it holds no
// mutable state after Compile.
type Predicate struct {
	variable string
	layout   *providers.Layout
	now      ref.Val

	// root is the specialised expression; nil when nothing of it could be
	// specialised, and then every record goes to prg.
	root boolFn
	// conj holds the operands when root is a chain of &&, which Match runs
	// itself: segments are mostly conjunctions, and most records leave at
	// the first operand, so this saves a call on nearly every record.
	conj []boolFn
	// specialised is true when root never calls cel-go.
	specialised bool
	// prg is cel-go's program for the whole expression: the fallback for
	// records root defers on and for records of another layout.
	prg cel.Program
}

// Compile builds a predicate from a checked boolean expression over
// variable (such as "customer"), whose object type is laid out by layout;
// `now` is fixed to now. Records given to Match must be of that layout to
// take the specialised path (others are evaluated by cel-go, by field name).
//
// The expression may reference only variable and `now`. The cel-go
// environment used for subtrees that are not specialised is rebuilt here
// with the same options as lang's (see newEnv), from the declared field
// types in layout and the object type name the checker recorded.
func Compile(ast *cel.Ast, variable string, layout *providers.Layout, now time.Time) (*Predicate, error) {
	if ast == nil || !ast.IsChecked() {
		return nil, errors.New("eval: the expression is not type-checked")
	}
	if layout == nil {
		return nil, errors.New("eval: no layout")
	}
	if out := ast.OutputType(); !out.IsExactType(types.BoolType) && !out.IsExactType(types.DynType) {
		return nil, fmt.Errorf("eval: the expression gives %s, not bool", out)
	}
	native := ast.NativeRep()
	for name := range freeIdents(native, native.Expr()) {
		if name != variable && name != nowName {
			return nil, fmt.Errorf("eval: the expression references %q; only %s and now are bound", name, variable)
		}
	}
	typeName := objectTypeName(native, variable)
	env, err := newEnv(variable, typeName, layout)
	if err != nil {
		return nil, fmt.Errorf("eval: building the CEL environment: %w", err)
	}
	prg, err := plan(env, native)
	if err != nil {
		return nil, fmt.Errorf("eval: planning the expression: %w", err)
	}
	p := &Predicate{variable: variable, layout: layout, now: types.Timestamp{Time: now}, prg: prg}
	c := &compiler{
		ast:      native,
		variable: variable,
		layout:   layout,
		nowVal:   p.now,
		env:      env,
	}
	root := c.compile(native.Expr())
	// A root that is itself one cel-go subtree would only wrap prg.
	if root.ok && root.kind == kBool && !root.fallback {
		p.root = boolFnOf(root)
		p.conj = root.conj
		p.specialised = root.pure
	}
	return p, nil
}

// Match reports whether the record is selected. A CEL evaluation error (a
// missing field, an overflow) means not selected.
func (p *Predicate) Match(r *providers.Record) bool {
	if p.root != nil && r.Layout == p.layout {
		var out res
		if p.conj != nil {
			out = rTrue
			for _, f := range p.conj {
				x := f(r.Values)
				if x == rFalse {
					return false
				}
				out = max(out, x)
			}
		} else {
			out = p.root(r.Values)
		}
		switch out {
		case rTrue:
			return true
		case rFalse, rErr:
			return false
		}
	}
	return p.evalCEL(r)
}

// Specialised reports whether the whole expression runs without cel-go (for
// the plan and the benchmark report). Records that the specialised code
// defers on still go to cel-go.
func (p *Predicate) Specialised() bool { return p.specialised }

// evalCEL evaluates the whole expression with cel-go.
func (p *Predicate) evalCEL(r *providers.Record) bool {
	out, _, err := p.prg.Eval(&activation{variable: p.variable, rec: r, now: p.now})
	return err == nil && out == types.True
}

// res is the result of a boolean subexpression, and the status of a value
// subexpression (where rTrue means "a value").
type res uint8

const (
	rFalse res = iota
	rTrue
	// rErr is a CEL error: absorbed by && and ||, otherwise not selected.
	rErr
	// rDefer says the specialised code cannot judge (a field holds an
	// unexpected Go type): cel-go decides. Like CEL's unknowns it is
	// absorbed by a false && and a true ||.
	rDefer
)

// rOK marks a value subexpression that produced a value.
const rOK = rTrue

func bres(b bool) res {
	if b {
		return rTrue
	}
	return rFalse
}
