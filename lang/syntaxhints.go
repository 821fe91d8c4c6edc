package lang

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// syntaxHints rewrites hcl's parse errors for the mistakes people make most
// into diagnostics that point at the mistake and say how to fix it. src is
// the text of the file the diagnostics are about.
//
// It handles a missing "=" after an attribute name: hcl reads
// `where "a > 1"` as the header of a block labelled "a > 1" and reports
// the missing "{" after the label, at the end of the line (on the trailing
// comment, if any). The name is where the mistake is.
func syntaxHints(diags hcl.Diagnostics, src []byte) hcl.Diagnostics {
	for _, d := range diags {
		if d.Summary != "Invalid block definition" || d.Context == nil || d.Subject == nil {
			continue
		}
		missingEquals(d, src)
	}
	return diags
}

// missingEquals rewrites d when the block header it complains about is a
// name followed by a value on one line, with no "{" on the next line that
// would make it a block whose brace is misplaced.
func missingEquals(d *hcl.Diagnostic, src []byte) {
	start := d.Context.Start.Byte
	if start < 0 || start >= len(src) {
		return
	}
	end := strings.IndexByte(string(src[start:]), '\n')
	if end < 0 {
		end = len(src) - start
	}
	line := src[start : start+end]
	toks, lexDiags := hclsyntax.LexConfig(line, d.Subject.Filename, d.Context.Start)
	if lexDiags.HasErrors() {
		return
	}
	var value []hclsyntax.Token
	for _, t := range toks {
		switch t.Type {
		case hclsyntax.TokenComment, hclsyntax.TokenNewline, hclsyntax.TokenEOF:
			continue
		}
		value = append(value, t)
	}
	if len(value) < 2 || value[0].Type != hclsyntax.TokenIdent {
		return
	}
	for _, t := range value {
		if t.Type == hclsyntax.TokenOBrace || t.Type == hclsyntax.TokenEqual {
			return
		}
	}
	if nextLineOpensBrace(src[start+end:]) {
		return
	}
	name := value[0]
	val := strings.TrimSpace(string(src[value[1].Range.Start.Byte:value[len(value)-1].Range.End.Byte]))
	rng := name.Range
	d.Subject = &rng
	d.Summary = fmt.Sprintf("Missing \"=\" after %q", name.Bytes)
	d.Detail = fmt.Sprintf("An attribute needs \"=\" between its name and its value: %s = %s. (Written without \"=\", it reads as the header of a block, which needs { … } on the same line.)", name.Bytes, val)
}

// nextLineOpensBrace reports whether the first line after rest's first
// line that is not blank or a comment starts with "{".
func nextLineOpensBrace(rest []byte) bool {
	lines := strings.Split(string(rest), "\n")
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "//") {
			continue
		}
		return strings.HasPrefix(l, "{")
	}
	return false
}
