// Package template parses herald message templates: literal text with
// {{ … }} holes whose contents are CEL expressions.
//
// The syntax is:
//
//	literal text                 copied as is
//	{{ expr }}                   the value of the CEL expression expr
//	{{ expr ?? "fallback" }}     the same, or the fallback when the value is empty
//	{{ if expr }} … {{ end }}    a conditional block, with optional
//	{{ else if expr }} …         branches and at most one
//	{{ else }} …                 final else branch; blocks nest
//
// The parser does not parse CEL. It finds where each hole ends, respecting
// CEL's string literals ('…' and "…", triple-quoted, raw r'…' and bytes
// b'…' strings), // comments and braces, so that {{ "}}" }} and
// {{ {'a': {'b': 1}} }} are single holes, and it hands out each expression's
// source with its offset in the template and its range in the file.
//
// The fallback after ?? is a single- or double-quoted string literal with the
// escapes \\ \" \' \n \r \t. The ?? is found outside string literals and
// outside parentheses, brackets and braces, so it never splits a CEL
// expression (CEL has no ?? operator).
//
// "if" and "else" are reserved words in CEL, so a hole that starts with them
// is always a directive. "end" is not reserved: only a hole that is exactly
// {{ end }} closes a block, so {{ end.date }} is an expression.
//
// There is no escape for a literal "{{": write {{ "{{" }}. A "}}" outside a
// hole is literal text, as is a lone "{" or "}".
package template

import (
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
)

// Template is a parsed message template.
type Template struct {
	// Nodes are the template's top-level nodes, in source order.
	Nodes []Node
}

// Node is one piece of a template: *Text, *Hole or *If.
type Node interface {
	// Range returns where the node is in the file.
	Range() hcl.Range
}

// Text is literal text, copied to the output as is.
type Text struct {
	// Value is the text.
	Value string
	// Rng is where the text is in the file.
	Rng hcl.Range
}

// Range returns where the text is in the file.
func (t *Text) Range() hcl.Range { return t.Rng }

// Expr is a CEL expression of a template: a hole's value or a condition.
type Expr struct {
	// Source is the CEL source, trimmed of surrounding white space.
	Source string
	// Offset is the byte offset of Source[0] in the template string, so that
	// Source == src[Offset:Offset+len(Source)].
	Offset int
	// Rng is where Source is in the file.
	Rng hcl.Range
}

// Hole is a {{ expr }} or {{ expr ?? "fallback" }} hole.
type Hole struct {
	// Expr is the expression whose value the hole inserts.
	Expr Expr
	// Fallback is the decoded fallback text, or nil when the hole has none.
	Fallback *string
	// Rng is where the whole hole, from "{{" to "}}", is in the file.
	Rng hcl.Range
}

// Range returns where the hole is in the file.
func (h *Hole) Range() hcl.Range { return h.Rng }

// If is a {{ if }} … {{ end }} block.
type If struct {
	// Branches are the if branch and then each else-if branch, in order.
	Branches []Branch
	// Else is the body of the {{ else }} branch, nil when there is none.
	Else []Node
	// Rng is where the block is in the file, from "{{ if" to the "}}" of
	// its {{ end }}.
	Rng hcl.Range
}

// Range returns where the block is in the file.
func (n *If) Range() hcl.Range { return n.Rng }

// Branch is one conditional branch of an If.
type Branch struct {
	// Cond is the condition, a CEL expression that must be a bool.
	Cond Expr
	// Body is rendered when Cond is the first true condition of the block.
	Body []Node
}

// ExprRef is an expression of a template, as listed by Template.Exprs.
type ExprRef struct {
	// Expr is the expression.
	Expr Expr
	// Condition is true for the condition of an if or else-if, false for
	// the value of a hole.
	Condition bool
}

// Exprs returns every CEL expression of the template, hole values and
// conditions, in source order. It leaves out the empty conditions of a
// Template that Parse reported errors in.
func (t *Template) Exprs() []ExprRef {
	var refs []ExprRef
	var walk func(nodes []Node)
	walk = func(nodes []Node) {
		for _, n := range nodes {
			switch n := n.(type) {
			case *Hole:
				refs = append(refs, ExprRef{Expr: n.Expr})
			case *If:
				for _, b := range n.Branches {
					if b.Cond.Source != "" { // a condition that did not parse
						refs = append(refs, ExprRef{Expr: b.Cond, Condition: true})
					}
					walk(b.Body)
				}
				walk(n.Else)
			}
		}
	}
	walk(t.Nodes)
	return refs
}

// Render writes the template to w. It calls eval for each expression it
// meets: a hole inserts the value eval returns, or its fallback when that
// value is empty; a branch is taken when eval says its condition is truthy.
// escape is applied to every inserted value and fallback (html.EscapeString
// for an HTML body, say), never to literal text; nil means no escaping.
//
// Render stops at the first error from eval or w. Render a Template only
// when Parse returned no errors.
func (t *Template) Render(w io.Writer, eval func(e Expr) (value string, truthy bool, err error), escape func(string) string) error {
	if escape == nil {
		escape = func(s string) string { return s }
	}
	r := renderer{w: w, eval: eval, escape: escape}
	return r.nodes(t.Nodes)
}

type renderer struct {
	w      io.Writer
	eval   func(Expr) (string, bool, error)
	escape func(string) string
}

func (r *renderer) nodes(nodes []Node) error {
	for _, n := range nodes {
		if err := r.node(n); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) node(n Node) error {
	switch n := n.(type) {
	case *Text:
		_, err := io.WriteString(r.w, n.Value)
		return err
	case *Hole:
		v, _, err := r.eval(n.Expr)
		if err != nil {
			return exprError(n.Expr, err)
		}
		if v == "" && n.Fallback != nil {
			v = *n.Fallback
		}
		_, err = io.WriteString(r.w, r.escape(v))
		return err
	case *If:
		for _, b := range n.Branches {
			_, truthy, err := r.eval(b.Cond)
			if err != nil {
				return exprError(b.Cond, err)
			}
			if truthy {
				return r.nodes(b.Body)
			}
		}
		return r.nodes(n.Else)
	case nil:
		return errors.New("template: nil node")
	default:
		return fmt.Errorf("template: unknown node %T", n)
	}
}

func exprError(e Expr, err error) error {
	return fmt.Errorf("%s: evaluating %s: %w", e.Rng, e.Source, err)
}
