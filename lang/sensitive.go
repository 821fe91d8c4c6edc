package lang

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// sensitiveText stands for the value of a sensitive variable wherever a
// diagnostic would quote it.
const sensitiveText = "(sensitive value)"

// sensitiveMark marks the values of sensitive variables in the evaluation
// context, so that cty carries it through interpolation, conditionals and
// function calls to every value computed from them.
type sensitiveMark struct{}

// sensitiveExpr is an expression whose value came from sensitive
// variables, and which they are.
type sensitiveExpr struct {
	rng  hcl.Range
	vars []string
}

// unmark returns v without marks, which would make AsString and the like
// panic in the decoders, and remembers expr when its value came from a
// sensitive variable — or would have, had it not failed (file(var.pw) of a
// missing file): a diagnostic about it must not quote the value.
func (l *loader) unmark(expr hcl.Expression, v cty.Value, failed bool) cty.Value {
	marked := v.ContainsMarked()
	if marked {
		v, _ = v.UnmarkDeep()
	}
	if !marked && !failed {
		return v
	}
	var vars []string
	for _, t := range expr.Variables() {
		if t.RootName() == "var" && len(t) > 1 {
			name := traverseName(t[1])
			if decl := l.cfg.Variables[name]; decl != nil && decl.Sensitive {
				vars = append(vars, name)
			}
		}
	}
	if len(vars) > 0 || marked {
		l.sensitive = append(l.sensitive, sensitiveExpr{rng: expr.Range(), vars: vars})
	}
	return v
}

// isSensitive reports whether expr's value came from a sensitive variable.
func (l *loader) isSensitive(expr hcl.Expression) bool {
	return l.sensitiveAt(expr.Range()) != nil
}

// sensitiveAt is the sensitive expression that holds r, or nil.
func (l *loader) sensitiveAt(r hcl.Range) *sensitiveExpr {
	for i, s := range l.sensitive {
		if r.Filename == s.rng.Filename && s.rng.Start.Byte <= r.Start.Byte && r.End.Byte <= s.rng.End.Byte {
			return &l.sensitive[i]
		}
	}
	return nil
}

// redactSensitive replaces the values of sensitive variables in the
// summary and detail of every diagnostic about an expression computed
// from them: a value that is not one of the allowed, a duration that does
// not parse, a CEL expression or template with an error quote the text
// they were given, or a word of it ("unknown name \"hunter2\""), and that
// text is a secret. A quoted secret loses its quotes, so that "hunter2"
// reads (sensitive value). Only the variables the expression reads are
// redacted, so a sensitive 1 elsewhere does not blank out "1h30m".
func (l *loader) redactSensitive() {
	for _, d := range l.diags {
		if d.Subject == nil {
			continue
		}
		se := l.sensitiveAt(*d.Subject)
		if se == nil {
			continue
		}
		names := se.vars
		if len(names) == 0 { // marked through a path the names did not show
			for n, v := range l.cfg.Variables {
				if v.Sensitive {
					names = append(names, n)
				}
			}
		}
		redact := l.redactor(names)
		d.Summary = redact(d.Summary)
		d.Detail = redact(d.Detail)
	}
}

// redactor replaces the values of the named variables in a text.
func (l *loader) redactor(names []string) func(string) string {
	var whole, words []string
	for _, n := range names {
		v := l.cfg.Variables[n]
		if v == nil {
			continue
		}
		for _, s := range leafStrings(v.Value) {
			if wordRe.FindString(s) == s {
				// A number, or one word: only where it stands alone.
				words = append(words, `\b`+regexp.QuoteMeta(s)+`\b`)
				continue
			}
			whole = append(whole, regexp.QuoteMeta(s))
			if q := strconv.Quote(s); q[1:len(q)-1] != s {
				whole = append(whole, regexp.QuoteMeta(q[1:len(q)-1]))
			}
			for _, w := range wordRe.FindAllString(s, -1) {
				if len(w) >= 3 {
					words = append(words, `\b`+regexp.QuoteMeta(w)+`\b`)
				}
			}
		}
	}
	if len(whole)+len(words) == 0 {
		return func(s string) string { return s }
	}
	// Leftmost-first alternation: the longest secret first, words last.
	sort.Slice(whole, func(i, j int) bool { return len(whole[i]) > len(whole[j]) })
	sort.Slice(words, func(i, j int) bool { return len(words[i]) > len(words[j]) })
	alts := strings.Join(append(whole, words...), "|")
	quoted := regexp.MustCompile(`["'](?:` + alts + `)["']`)
	bare := regexp.MustCompile(alts)
	return func(s string) string {
		return bare.ReplaceAllLiteralString(quoted.ReplaceAllLiteralString(s, sensitiveText), sensitiveText)
	}
}

// wordRe finds the words of a secret, which a CEL or template error may
// quote on their own.
var wordRe = regexp.MustCompile(`[A-Za-z0-9_]+`)

// leafStrings are the known strings, numbers and bools in v, as text.
func leafStrings(v cty.Value) []string {
	var out []string
	if v == cty.NilVal {
		return nil
	}
	v, _ = v.UnmarkDeep()
	_ = cty.Walk(v, func(_ cty.Path, e cty.Value) (bool, error) {
		if !e.IsKnown() || e.IsNull() {
			return false, nil
		}
		switch e.Type() {
		case cty.String:
			if s := e.AsString(); s != "" {
				out = append(out, s)
			}
		case cty.Number:
			f := e.AsBigFloat()
			out = append(out, f.Text('f', -1), f.Text('g', 10))
		}
		return true, nil
	})
	return out
}
