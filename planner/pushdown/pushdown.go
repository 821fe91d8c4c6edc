// Package pushdown compiles a segment's CEL condition to a parameterised SQL
// condition, so that a segment over a postgres source is selected where the
// data lives instead of by streaming every row through CEL.
//
// The SQL selects exactly the rows for which CEL evaluates to true. Herald
// treats a CEL error — above all reading a field that is not set — as "not
// selected", and SQL's NULL behaves the same way through AND, OR and NOT
// (both follow Kleene's three-valued logic), so a missing field becomes a
// NULL column and the translation keeps "NULL exactly where CEL errors" at
// every step. Where PostgreSQL and CEL disagree — NaN ordering, string
// collation, ASCII-only case mapping, microsecond timestamps, CEL's
// overflow errors on timestamp arithmetic — the SQL says precisely what CEL
// means; where that cannot be said, nothing is pushed down and the reason is
// returned for the plan.
//
// Two kinds of CEL error are not NULLs: integer overflow and division by
// zero. PostgreSQL raises them as errors for the whole query (SQLSTATE class
// 22); see Fallback.
package pushdown

import (
	"errors"
	"strings"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/heraldhq/herald/lang"
)

// Result is a segment condition compiled to SQL.
type Result struct {
	// Where is a boolean SQL expression over the table's columns, with
	// placeholders $FirstParam… for Args.
	Where string
	// Args are the parameters, in order: string, int64, float64, bool,
	// time.Time, time.Duration, or slices of them, as pgx encodes them.
	Args []any
	// Partial is set when only some conjuncts of a top-level && could be
	// translated: Where then selects a superset, and the caller must
	// evaluate the whole expression in memory on the rows it selects.
	Partial bool
	// Reason says, when the condition is not or only partly pushed down,
	// what could not be translated, for the plan: "function matches() has
	// no SQL equivalent".
	Reason string
}

// Options say how to compile a condition.
type Options struct {
	// Variable is the name of the row variable, "customer" when empty.
	Variable string
	// Schema declares the row's fields.
	Schema *lang.Schema
	// Now is the plan's fixed time. Where a column is compared with a time
	// computed from it (now - 2160h) the time is written as a timestamptz
	// literal, so that PostgreSQL's planner sees it; elsewhere now is a
	// parameter.
	Now time.Time
	// FirstParam is the number of the first placeholder, 1 when zero.
	FirstParam int
	// Columns maps field names to column names; a field not in it is the
	// column of the same name.
	Columns map[string]string
	// Env is the environment the expression was checked in, used to
	// evaluate its constant parts (duration('2160h'), now - duration(…)).
	// When nil, a standard environment with the same libraries as lang's
	// is used.
	Env *cel.Env
}

// Compile translates the checked expression ast, in which variable (for
// segments "customer") is a row of schema. now is the plan's fixed time (see
// Options.Now). Placeholders are numbered from firstParam. ok is false when
// nothing can be pushed down; Reason then says why.
func Compile(ast *cel.Ast, variable string, schema *lang.Schema, now time.Time, firstParam int) (res Result, ok bool) {
	return Options{Variable: variable, Schema: schema, Now: now, FirstParam: firstParam}.Compile(ast)
}

// Compile translates the checked expression ast; see the package function.
func (o Options) Compile(ast *cel.Ast) (res Result, ok bool) {
	if o.Variable == "" {
		o.Variable = "customer"
	}
	if o.FirstParam <= 0 {
		o.FirstParam = 1
	}
	if ast == nil || !ast.IsChecked() {
		return Result{Reason: "the condition is not type-checked"}, false
	}
	c := newCompiler(o, ast)
	// The conjuncts of a top-level && are translated one by one: those that
	// translate select a superset of the rows when others do not.
	var parts []sqlExpr
	var reasons []string
	for _, e := range conjuncts(c.ast.Expr()) {
		v, err := c.boolean(e, pos)
		if err != nil {
			reasons = appendUnique(reasons, reason(err))
			continue
		}
		parts = append(parts, v)
	}
	if len(parts) == 0 {
		return Result{Reason: strings.Join(reasons, "; ")}, false
	}
	res.Where, res.Args = render(and(parts...).f, o.FirstParam)
	if len(reasons) > 0 {
		res.Partial = true
		res.Reason = strings.Join(reasons, "; ")
	}
	return res, true
}

// Fallback reports whether err, from running a pushed-down query, is a
// PostgreSQL data exception (SQLSTATE class 22: integer or floating-point
// overflow, division by zero) — an error that CEL reports for one row but
// PostgreSQL for the whole query. The caller then evaluates the segment in
// memory instead, which gives the right answer row by row.
func Fallback(err error) bool {
	var pg interface{ SQLState() string }
	return errors.As(err, &pg) && strings.HasPrefix(pg.SQLState(), "22")
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
