package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/heraldhq/herald/lang/diag"
)

// Format returns src in herald's canonical layout, which is hclwrite's:
// two-space indentation, aligned equals signs, normalised spacing. It does
// not check src, and formatting formatted source changes nothing.
func Format(src []byte) []byte {
	return hclwrite.Format(src)
}

// FormatFile formats the HCL file filename whose contents are src. A file
// that does not parse is not formatted, since rewriting it could make the
// mistake harder to find: the diagnostics (rule diag.Syntax) come back with
// src unchanged.
func FormatFile(filename string, src []byte) ([]byte, hcl.Diagnostics) {
	if _, diags := parseConfig(src, filename); diags.HasErrors() {
		return src, diag.Tag(diags, diag.Syntax)
	}
	out := Format(src)
	// hclwrite works on tokens and can, on odd input, join two of them
	// into one that does not scan ("0.0. 0" becomes "0.0.0"). A formatter
	// must never break a file, so such a file is left as it was.
	if _, diags := parseConfig(out, filename); diags.HasErrors() {
		return src, nil
	}
	return out, nil
}
