package lang

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/heraldhq/herald/lang/diag"
)

// MaxNesting is how deeply herald lets HCL nest: brackets, braces,
// parentheses, strings, ${ } and %{ if/for } blocks, and chains of
// operators each count as a level. hcl's parser is recursive descent and
// runs out of stack, a fatal error no recover can catch, somewhere between
// tens and hundreds of thousands of levels; no real configuration comes
// near a thousand.
const MaxNesting = 1000

// frame is one open level of nesting: what opened it, and how many
// operators have been chained in it since the last comma, newline or "=".
type frame struct {
	open hcl.Range
	kind hclsyntax.TokenType
	ops  int
	// word is the directive of a %{ … } frame ("if", "endif" …).
	word string
}

// checkNesting lexes src, a whole file (or an expression when expr is
// set), without parsing it, and returns a diag.Syntax error at the token
// where it nests more than MaxNesting levels deep, or nil. Call it before
// hclsyntax.ParseConfig or ParseExpression: those recurse once per level.
// The lexer is a state machine with an explicit stack, so it is safe on
// any input; its errors are left for the parser to report.
func checkNesting(src []byte, filename string, expr bool) *hcl.Diagnostic {
	var toks hclsyntax.Tokens
	if expr {
		toks, _ = hclsyntax.LexExpression(src, filename, hcl.InitialPos)
	} else {
		toks, _ = hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	}
	stack := []frame{{kind: hclsyntax.TokenNil}}
	depth := 0 // len(stack)-1 plus every frame's ops
	push := func(f frame) {
		stack = append(stack, f)
		depth++
	}
	pop := func() frame {
		f := stack[len(stack)-1]
		if len(stack) > 1 {
			stack = stack[:len(stack)-1]
			depth -= 1 + f.ops
		}
		return f
	}
	for i, t := range toks {
		top := &stack[len(stack)-1]
		switch t.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp:
			push(frame{open: t.Range, kind: t.Type})
		case hclsyntax.TokenTemplateControl:
			f := frame{open: t.Range, kind: t.Type}
			// A strip marker is part of the "%{~" token, so the directive's
			// name is the next token.
			if i+1 < len(toks) && toks[i+1].Type == hclsyntax.TokenIdent {
				f.word = string(toks[i+1].Bytes)
			}
			push(f)
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			pop()
		case hclsyntax.TokenTemplateSeqEnd:
			// The body of %{ if } or %{ for } is one more level, up to the
			// matching %{ endif } or %{ endfor }.
			switch f := pop(); f.word {
			case "if", "for":
				if f.kind == hclsyntax.TokenTemplateControl {
					push(frame{open: f.open, kind: hclsyntax.TokenTemplateControl})
				}
			case "endif", "endfor":
				if top := stack[len(stack)-1]; top.kind == hclsyntax.TokenTemplateControl && top.word == "" {
					pop()
				}
			}
		case hclsyntax.TokenComma, hclsyntax.TokenEqual:
			depth -= top.ops
			top.ops = 0
		case hclsyntax.TokenNewline:
			// Newlines end an item at the top level and in braces; inside
			// parentheses, brackets and ${ } they are ignored, so a chain
			// of operators can go on over many lines.
			if top.kind == hclsyntax.TokenNil || top.kind == hclsyntax.TokenOBrace {
				depth -= top.ops
				top.ops = 0
			}
		case hclsyntax.TokenQuestion, hclsyntax.TokenBang, hclsyntax.TokenMinus,
			hclsyntax.TokenPlus, hclsyntax.TokenStar, hclsyntax.TokenSlash, hclsyntax.TokenPercent,
			hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual,
			hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq:
			// hcl builds (and evaluates) a chain of operators as a tree as
			// deep as the chain is long.
			top.ops++
			depth++
		default:
			continue
		}
		if depth > MaxNesting {
			rng := t.Range
			return diag.Error(diag.Syntax, &rng, "Nested too deeply",
				fmt.Sprintf("Here the configuration is nested more than %d levels deep (brackets, braces, parentheses, strings, ${ } and %%{ } blocks, and chained operators each count as one), which herald does not read. Split the value into smaller variables or values, or read large data from a file with file() or a source.", MaxNesting))
		}
	}
	return nil
}

// parseConfig is hclsyntax.ParseConfig behind checkNesting. Every HCL file
// herald reads goes through it.
func parseConfig(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	if d := checkNesting(src, filename, false); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
}

// parseExpression is hclsyntax.ParseExpression behind checkNesting.
func parseExpression(src []byte, filename string) (hclsyntax.Expression, hcl.Diagnostics) {
	if d := checkNesting(src, filename, true); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return hclsyntax.ParseExpression(src, filename, hcl.InitialPos)
}
