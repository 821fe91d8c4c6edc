package template

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/lang/srcmap"
)

// Parse parses the template src. m maps src's bytes to the file it came
// from and gives every range and diagnostic its place; nil means
// srcmap.Identity("", src).
//
// Every diagnostic has the rule diag.TemplateSyntax. Parse always returns a
// Template; when there are errors it holds what could be made sense of
// (holes that did not parse are left out, and an if whose condition did not
// parse has an empty Cond, which Exprs skips), for tools that want to show
// more than the first mistake. Do not render it.
func Parse(src string, m *srcmap.Map) (*Template, hcl.Diagnostics) {
	if m == nil {
		m = srcmap.Identity("", src)
	}
	p := &parser{src: src, m: m}
	p.lex()
	nodes, _ := p.body(false)
	return &Template{Nodes: nodes}, p.diags
}

// kind is the kind of a lexical item of a template.
type kind int

const (
	kText   kind = iota // literal text
	kValue              // {{ expr }}, {{ expr ?? "fallback" }}
	kIf                 // {{ if cond }}
	kElseIf             // {{ else if cond }}
	kElse               // {{ else }}
	kEnd                // {{ end }}
)

// item is a lexical item: a run of text or a hole.
type item struct {
	kind       kind
	start, end int // the whole item, "{{" to "}}" for a hole
	expr       Expr
	fallback   *string
}

type parser struct {
	src   string
	m     *srcmap.Map
	items []item
	pos   int // next item for body
	diags hcl.Diagnostics
	depth int // open {{ if }} blocks around body
	// unclosed is set when a block too deep to parse ran to the end of the
	// template: the blocks around it are then unclosed too, which one
	// error is enough to say.
	unclosed bool
}

// MaxDepth is how deeply {{ if }} blocks may nest. Blocks are parsed,
// checked and rendered recursively; a limit keeps the stack small whatever
// the input, and no real message nests more than a few levels.
const MaxDepth = 100

func (p *parser) rng(start, end int) *hcl.Range {
	r := p.m.Range(start, end)
	return &r
}

func (p *parser) errorf(start, end int, summary, detail string) {
	p.diags = append(p.diags, diag.Error(diag.TemplateSyntax, p.rng(start, end), summary, detail))
}

// lex splits src into text and holes.
func (p *parser) lex() {
	src := p.src
	i := 0
	for i < len(src) {
		open := strings.Index(src[i:], "{{")
		if open < 0 {
			break
		}
		open += i
		p.text(i, open)
		h := scanHole(src, open+2)
		switch {
		case h.close >= 0:
			p.hole(open, h)
			i = h.close + 2
		case h.quote >= 0:
			// Most likely an apostrophe or a missing quote: report the string,
			// and take the next "}}" as the end of the hole to carry on.
			end := strings.Index(src[h.quote:], "}}")
			stop := len(src)
			if end >= 0 {
				stop = h.quote + end
			}
			if nl := strings.IndexAny(src[h.quote:stop], "\r\n"); nl >= 0 {
				stop = h.quote + nl
			}
			p.errorf(h.quote, stop, "Unterminated string in template hole",
				"This string literal has no closing quote. Close it with "+quoteName(src[h.quote])+", or write "+
					`\`+src[h.quote:h.quote+1]+` for a quote inside the string.`)
			if end < 0 {
				return
			}
			p.broken(open, h.quote+end)
			i = h.quote + end + 2
		default:
			p.errorf(open, open+2, `Unclosed template hole`,
				`This "{{" has no matching "}}". Close the hole with "}}".`)
			return
		}
	}
	p.text(i, len(src))
}

// broken keeps the structure of a hole from open to close that could not
// be scanned: when it is an if or else directive, it adds one with an
// empty condition, so that its block does not cause more errors.
func (p *parser) broken(open, close int) {
	cs, ce := trim(p.src, open+2, close)
	it := item{start: open, end: close + 2, expr: Expr{Offset: cs, Rng: *p.rng(cs, cs)}}
	switch content := p.src[cs:ce]; content[:identLen(content)] {
	case "if":
		it.kind = kIf
	case "else":
		it.kind = kElse
		if rs, re := trim(p.src, cs+len("else"), ce); p.src[rs:rs+identLen(p.src[rs:re])] == "if" {
			it.kind = kElseIf
		}
	default:
		return
	}
	p.items = append(p.items, it)
}

func quoteName(q byte) string {
	if q == '\'' {
		return "a single quote (')"
	}
	return `a double quote (")`
}

func (p *parser) text(start, end int) {
	if start < end {
		p.items = append(p.items, item{kind: kText, start: start, end: end})
	}
}

// hole turns the hole from open (its "{{") to h.close (its "}}") into an
// item, or reports why it cannot.
func (p *parser) hole(open int, h holeScan) {
	it := item{start: open, end: h.close + 2}
	cs, ce := trim(p.src, open+2, h.close)
	content := p.src[cs:ce]
	if content == "" {
		p.errorf(it.start, it.end, "Empty template hole",
			`Put an expression between "{{" and "}}", for example {{ customer.first_name }}, or remove them.`)
		return
	}
	word := p.src[cs : cs+identLen(content)]
	switch {
	case word == "if":
		it.kind = kIf
		it.expr = p.cond(it, cs+len("if"), ce, h.fallback, "if")
	case word == "else":
		rs, re := trim(p.src, cs+len("else"), ce)
		rest := p.src[rs:re]
		switch {
		case rest == "":
			it.kind = kElse
		case rest[:identLen(rest)] == "if":
			it.kind = kElseIf
			it.expr = p.cond(it, rs+len("if"), re, h.fallback, "else if")
		default:
			p.errorf(rs, re, `Unexpected text after "else"`,
				`Write {{ else }} for the last branch, or {{ else if condition }} for another condition.`)
			it.kind = kElse
		}
	case content == "end":
		it.kind = kEnd
	default:
		if !p.value(&it, open+2, h.close, h.fallback) {
			return
		}
	}
	p.items = append(p.items, it)
}

// cond makes the condition of an if or else-if from src[start:end]. It
// returns an Expr with no Source when there is none or it is not valid.
func (p *parser) cond(it item, start, end, fallback int, directive string) Expr {
	e := p.expr(start, end)
	switch {
	case e.Source == "":
		p.errorf(it.start, it.end, `Missing condition in "`+directive+`"`,
			`Write a condition after "`+directive+`", for example {{ `+directive+` customer.ltv > 500.0 }}.`)
	case fallback >= 0:
		p.errorf(fallback, e.Offset+len(e.Source), `Fallback in a condition`,
			`"??" gives a hole a fallback text; a condition cannot have one. Test the value in CEL instead, for example {{ `+directive+` has(customer.nickname) }}.`)
		e.Source = ""
	}
	return e
}

// value fills in a value hole whose contents are src[start:end], with a
// top-level "??" at fallback (or -1), and reports whether it is valid.
func (p *parser) value(it *item, start, end, fallback int) bool {
	it.kind = kValue
	if fallback < 0 {
		it.expr = p.expr(start, end)
		return true
	}
	it.expr = p.expr(start, fallback)
	fs, fe := trim(p.src, fallback+2, end)
	ok := true
	if it.expr.Source == "" {
		p.errorf(it.start, it.end, `Missing expression before "??"`,
			`Write the expression to show before "??" and the text to show when it is empty after it, for example {{ customer.first_name ?? "there" }}.`)
		ok = false
	}
	if fs == fe {
		p.errorf(fallback, fallback+2, `Missing fallback after "??"`,
			`Write the text to show when the value is empty as a quoted string, for example {{ customer.first_name ?? "there" }}, or remove the "??".`)
		return false
	}
	text, esc, valid := unquote(p.src[fs:fe])
	switch {
	case esc >= 0:
		p.errorf(fs+esc, min(fs+esc+2, fe), "Invalid escape in fallback",
			`A fallback knows only the escapes \\ \" \' \n \r and \t. Write \\ for a backslash.`)
		return false
	case !valid:
		p.errorf(fs, fe, "Fallback is not a string literal",
			`The fallback after "??" must be one quoted string, for example {{ customer.first_name ?? "there" }}. Compute other values in the expression itself.`)
		return false
	}
	it.fallback = &text
	return ok
}

// expr makes an Expr of src[start:end] trimmed of white space.
func (p *parser) expr(start, end int) Expr {
	start, end = trim(p.src, start, end)
	return Expr{Source: p.src[start:end], Offset: start, Rng: *p.rng(start, end)}
}

// body builds the nodes of items from p.pos on. Inside a block (inBlock),
// it stops at an else, else-if or end and returns it; at the top level
// those are errors.
func (p *parser) body(inBlock bool) ([]Node, *item) {
	var nodes []Node
	for p.pos < len(p.items) {
		it := &p.items[p.pos]
		p.pos++
		switch it.kind {
		case kText:
			nodes = append(nodes, &Text{Value: p.src[it.start:it.end], Rng: *p.rng(it.start, it.end)})
		case kValue:
			nodes = append(nodes, &Hole{Expr: it.expr, Fallback: it.fallback, Rng: *p.rng(it.start, it.end)})
		case kIf:
			if p.depth >= MaxDepth {
				p.errorf(it.start, it.end, "Blocks nested too deeply",
					fmt.Sprintf("This {{ if }} is inside %d other {{ if }} blocks, more than herald reads. Combine conditions with && instead of nesting blocks, or split the message.", p.depth))
				p.skipBlock()
				continue
			}
			nodes = append(nodes, p.ifBlock(it))
		default:
			if inBlock {
				return nodes, it
			}
			switch it.kind {
			case kEnd:
				p.errorf(it.start, it.end, `"end" without "if"`,
					`There is no open {{ if }} block for this {{ end }} to close. Remove it, or open the block with {{ if condition }} before it.`)
			case kElse:
				p.errorf(it.start, it.end, `"else" without "if"`,
					`An {{ else }} belongs inside an {{ if condition }} … {{ end }} block. Remove it, or open the block before it.`)
			default:
				p.errorf(it.start, it.end, `"else if" without "if"`,
					`An {{ else if }} belongs inside an {{ if condition }} … {{ end }} block. Write {{ if condition }} instead, or open the block before it.`)
			}
		}
	}
	return nodes, nil
}

// skipBlock passes over the items of a block whose {{ if }} was just
// read, up to and including its {{ end }}, without building it.
func (p *parser) skipBlock() {
	for level := 1; level > 0; p.pos++ {
		if p.pos == len(p.items) {
			p.unclosed = true
			return
		}
		switch p.items[p.pos].kind {
		case kIf:
			level++
		case kEnd:
			level--
		}
	}
}

// ifBlock builds the block opened by the item open, up to its end.
func (p *parser) ifBlock(open *item) *If {
	p.depth++
	defer func() { p.depth-- }()
	n := &If{}
	cond := open.expr
	inElse := false
	for {
		body, term := p.body(true)
		if inElse {
			n.Else = append(n.Else, body...)
			if n.Else == nil {
				n.Else = []Node{}
			}
		} else {
			n.Branches = append(n.Branches, Branch{Cond: cond, Body: body})
		}
		if term == nil {
			if p.unclosed {
				n.Rng = *p.rng(open.start, len(p.src))
				return n
			}
			p.errorf(open.start, open.end, `"if" without "end"`,
				`This {{ if }} block is never closed. Close it with {{ end }}.`)
			n.Rng = *p.rng(open.start, len(p.src))
			return n
		}
		switch term.kind {
		case kEnd:
			n.Rng = *p.rng(open.start, term.end)
			return n
		case kElseIf:
			if inElse {
				p.errorf(term.start, term.end, `"else if" after "else"`,
					`The {{ else }} branch of a block comes last. Move this {{ else if }} before the {{ else }}, or close the block with {{ end }} first.`)
				continue
			}
			cond = term.expr
		case kElse:
			if inElse {
				p.errorf(term.start, term.end, `Second "else" in one "if" block`,
					`A block has at most one {{ else }}, and it comes last. Remove this one, or close the block with {{ end }} first.`)
				continue
			}
			inElse = true
		}
	}
}

// trim returns the bounds of src[start:end] without leading and trailing
// white space. Unicode spaces count too: CEL would reject a no-break space
// that an editor put around an expression, and it cannot be seen.
func trim(src string, start, end int) (int, int) {
	for start < end {
		r, n := utf8.DecodeRuneInString(src[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		start += n
	}
	for end > start {
		r, n := utf8.DecodeLastRuneInString(src[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		end -= n
	}
	return start, end
}

func isIdent(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// identLen is the length of the identifier-like word s starts with.
func identLen(s string) int {
	n := 0
	for n < len(s) && isIdent(s[n]) {
		n++
	}
	return n
}

// unquote decodes a fallback string literal. ok is false when s is not
// one quoted string; esc is the offset in s of an invalid escape, or -1.
func unquote(s string) (text string, esc int, ok bool) {
	if s == "" || s[0] != '"' && s[0] != '\'' {
		return "", -1, false
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case q:
			return b.String(), -1, i == len(s)-1
		case '\\':
			if i+1 == len(s) {
				return "", -1, false
			}
			i++
			switch s[i] {
			case '\\', '"', '\'':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				return "", i - 1, false
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", -1, false
}
