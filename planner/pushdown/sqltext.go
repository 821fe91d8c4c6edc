package pushdown

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// frag is a piece of SQL text with parameters in it. Parameters are numbered
// only when the whole condition is rendered, so that pieces can be built,
// combined and dropped in any order.
type frag []any // string | param

// param is a value bound as $n, with an optional ::type cast.
type param struct {
	value any
	cast  string
}

// Operator precedence, loosest first, after PostgreSQL's table
// (https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-PRECEDENCE).
const (
	precOr = iota + 1
	precAnd
	precNot
	precIs      // IS NULL, IS NOT NULL
	precCmp     // = <> < <= > >=, = ANY(…)
	precLike    // LIKE
	precOp      // ||
	precAdd     // + -
	precMul     // * / %
	precUnary   // unary -
	precCollate // COLLATE, ::
	precAtom    // names, parameters, function calls, CASE, parentheses
)

// sqlExpr is a frag with its precedence.
type sqlExpr struct {
	f    frag
	prec int
}

func atom(parts ...any) sqlExpr { return sqlExpr{f: cat(parts...), prec: precAtom} }

// cat concatenates strings, params, frags and sqlExprs.
func cat(parts ...any) frag {
	var f frag
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			f = append(f, p)
		case param:
			f = append(f, p)
		case frag:
			f = append(f, p...)
		case sqlExpr:
			f = append(f, p.f...)
		default:
			panic(fmt.Sprintf("pushdown: cannot render %T", p))
		}
	}
	return f
}

// at returns e's text, parenthesized when it binds looser than prec.
func (e sqlExpr) at(prec int) frag {
	if e.prec < prec {
		return cat("(", e.f, ")")
	}
	return e.f
}

// binary renders "a op b". Associative operators (AND, OR, ||) chain without
// parentheses on either side; the others parenthesize a right operand of
// the same precedence.
func binary(a sqlExpr, op string, b sqlExpr, prec int, assoc bool) sqlExpr {
	rp := prec + 1
	if assoc {
		rp = prec
	}
	return sqlExpr{f: cat(a.at(prec), " "+op+" ", b.at(rp)), prec: prec}
}

// compare renders a comparison, which PostgreSQL does not chain.
func compare(a sqlExpr, op string, b sqlExpr) sqlExpr {
	return sqlExpr{f: cat(a.at(precCmp+1), " "+op+" ", b.at(precCmp+1)), prec: precCmp}
}

func and(parts ...sqlExpr) sqlExpr { return chain("AND", precAnd, parts) }

// or parenthesizes AND operands, which bind tighter anyway, for the reader.
func or(parts ...sqlExpr) sqlExpr {
	for i, p := range parts {
		if p.prec == precAnd {
			parts[i] = sqlExpr{f: cat("(", p.f, ")"), prec: precAtom}
		}
	}
	return chain("OR", precOr, parts)
}

func chain(op string, prec int, parts []sqlExpr) sqlExpr {
	if len(parts) == 1 {
		return parts[0]
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out = binary(out, op, p, prec, true)
	}
	return out
}

// not renders NOT, with parentheses around anything but a name or call so
// that the SQL reads the way it parses.
func not(a sqlExpr) sqlExpr {
	return sqlExpr{f: cat("NOT ", a.at(precAtom)), prec: precNot}
}

func isNull(a sqlExpr) sqlExpr { return sqlExpr{f: cat(a.at(precIs+1), " IS NULL"), prec: precIs} }
func isNotNull(a sqlExpr) sqlExpr {
	return sqlExpr{f: cat(a.at(precIs+1), " IS NOT NULL"), prec: precIs}
}

// falseUnlessNull is FALSE, or NULL when a is NULL: what CEL gives for a
// comparison that can never hold (an error when the operand is).
func falseUnlessNull(a sqlExpr) sqlExpr {
	return and(isNull(a), atom("NULL"))
}

// trueUnlessNull is TRUE, or NULL when a is NULL.
func trueUnlessNull(a sqlExpr) sqlExpr {
	return or(isNotNull(a), atom("NULL"))
}

// render numbers the parameters from first and returns the text and args.
func render(f frag, first int) (string, []any) {
	var b strings.Builder
	var args []any
	for _, p := range f {
		switch p := p.(type) {
		case string:
			b.WriteString(p)
		case param:
			args = append(args, p.value)
			b.WriteString("$" + strconv.Itoa(first+len(args)-1))
			if p.cast != "" {
				b.WriteString("::" + p.cast)
			}
		}
	}
	return b.String(), args
}

// quoteIdent quotes a column name.
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// likeEscape escapes the LIKE wildcards % and _ and the escape character \
// in a literal.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
