package diag

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// ANSI escapes used when colour is on. Nothing else in the output is styled,
// so that a terminal without colour support still reads well.
const (
	ansiReset      = "\x1b[0m"
	ansiBold       = "\x1b[1m"
	ansiBoldRed    = "\x1b[1;31m"
	ansiBoldYellow = "\x1b[1;33m"
)

// WriteText renders diags for people, the way terraform validate does: a
// header with the severity, the summary and the rule id, then the location
// and the offending source line with the subject underlined by carets, then
// the detail as written. sources maps the file names used in the ranges to
// their contents; a diagnostic whose file is not in sources is rendered
// without a snippet. Diagnostics are separated by a blank line. With color
// set, the severity and the summary are styled with ANSI escapes; without
// it the output contains none.
func WriteText(w io.Writer, diags hcl.Diagnostics, sources map[string][]byte, color bool) error {
	bw := bufio.NewWriter(w)
	first := true
	for _, d := range diags {
		if d == nil {
			continue
		}
		if !first {
			bw.WriteString("\n")
		}
		first = false
		writeOne(bw, d, sources, color)
	}
	return bw.Flush()
}

func writeOne(w *bufio.Writer, d *hcl.Diagnostic, sources map[string][]byte, color bool) {
	sev, sevColor := "Error", ansiBoldRed
	if d.Severity == hcl.DiagWarning {
		sev, sevColor = "Warning", ansiBoldYellow
	}
	if color {
		fmt.Fprintf(w, "%s%s:%s %s%s%s", sevColor, sev, ansiReset, ansiBold, d.Summary, ansiReset)
	} else {
		fmt.Fprintf(w, "%s: %s", sev, d.Summary)
	}
	if r := RuleOf(d); r != "" {
		fmt.Fprintf(w, " [%s]", r)
	}
	w.WriteString("\n")

	if s := d.Subject; s != nil {
		fmt.Fprintf(w, "\n  on %s line %d, column %d:\n", s.Filename, s.Start.Line, s.Start.Column)
		if line, ok := sourceLine(sources[s.Filename], s.Start.Line); ok {
			line, r := clipLine(line, *s)
			num := fmt.Sprintf("%4d:", s.Start.Line)
			if line != "" { // no trailing space after the number of an empty line
				fmt.Fprintf(w, "%s %s\n", num, line)
			} else {
				fmt.Fprintf(w, "%s\n", num)
			}
			fmt.Fprintf(w, "%s%s\n", strings.Repeat(" ", len(num)+1), caretLine(line, r))
		}
	}

	if detail := strings.TrimRight(d.Detail, "\n"); detail != "" {
		if d.Subject == nil {
			w.WriteString("\n")
		}
		w.WriteString(detail)
		w.WriteString("\n")
	}
}

// sourceLine returns line n (1-based) of src without its line ending.
func sourceLine(src []byte, n int) (string, bool) {
	if src == nil || n < 1 {
		return "", false
	}
	for i := 1; ; i++ {
		line, rest, found := bytes.Cut(src, []byte("\n"))
		if i == n {
			return string(bytes.TrimSuffix(line, []byte("\r"))), true
		}
		if !found {
			return "", false
		}
		src = rest
	}
}

// maxShown is the most characters of a source line a diagnostic shows: a
// minified template or a generated value can put a whole file on one line.
const maxShown = 160

// clipLine cuts a line longer than maxShown to a window around the start
// of r, marking each cut with "…", and moves r's columns to match.
func clipLine(line string, r hcl.Range) (string, hcl.Range) {
	runes := []rune(line)
	if len(runes) <= maxShown {
		return line, r
	}
	from := max(0, min(r.Start.Column-1-maxShown/4, len(runes)-maxShown))
	to := from + maxShown
	out := string(runes[from:to])
	shift := from
	if from > 0 {
		out = "…" + out
		shift-- // the "…" takes one column
	}
	if to < len(runes) {
		out += "…"
	}
	r.Start.Column -= shift
	if r.End.Line == r.Start.Line {
		r.End.Column = min(r.End.Column-shift, to-shift+1)
	}
	return out, r
}

// caretLine underlines the part of line that r covers. The padding copies
// the tabs of line so that the carets sit under the subject whatever the
// tab width; a range that runs past the end of the line is underlined to
// the end of it, and the underline is never empty.
//
// Columns are counted in characters, as HCL counts them; the byte offsets
// of r are not used since ranges mapped from CEL or templates may not carry
// them.
func caretLine(line string, r hcl.Range) string {
	runes := []rune(line)
	start := r.Start.Column - 1
	start = max(0, min(start, len(runes)))
	end := len(runes)
	if r.End.Line == r.Start.Line {
		end = min(r.End.Column-1, len(runes))
	}
	n := max(1, end-start)

	var b strings.Builder
	for _, c := range runes[:start] {
		if c == '\t' {
			b.WriteRune('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString(strings.Repeat("^", n))
	return b.String()
}

// report is the JSON form of a set of diagnostics, as herald validate -json
// prints it. Field order is part of the output format.
type report struct {
	Valid        bool             `json:"valid"`
	ErrorCount   int              `json:"error_count"`
	WarningCount int              `json:"warning_count"`
	Diagnostics  []jsonDiagnostic `json:"diagnostics"`
}

// jsonDiagnostic is the JSON form of one diagnostic. Lines and columns are
// 1-based; EndColumn is exclusive, as in hcl.Range. The location fields and
// Snippet are absent when the diagnostic has no subject.
type jsonDiagnostic struct {
	Severity  string `json:"severity"`
	Rule      string `json:"rule"`
	Summary   string `json:"summary"`
	Detail    string `json:"detail"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	EndColumn int    `json:"end_column,omitempty"`
	Snippet   string `json:"snippet,omitempty"`
}

// newReport converts diags to their JSON form; sources supplies the snippet
// (the source line where each subject starts).
func newReport(diags hcl.Diagnostics, sources map[string][]byte) report {
	rep := report{Diagnostics: []jsonDiagnostic{}}
	for _, d := range diags {
		if d == nil {
			continue
		}
		jd := jsonDiagnostic{
			Severity: "error",
			Rule:     string(RuleOf(d)),
			Summary:  d.Summary,
			Detail:   d.Detail,
		}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if s := d.Subject; s != nil {
			jd.File = s.Filename
			jd.Line, jd.Column = s.Start.Line, s.Start.Column
			jd.EndLine, jd.EndColumn = s.End.Line, s.End.Column
			line, _ := sourceLine(sources[s.Filename], s.Start.Line)
			jd.Snippet, _ = clipLine(line, *s)
		}
		rep.Diagnostics = append(rep.Diagnostics, jd)
	}
	rep.ErrorCount, rep.WarningCount = Count(diags)
	rep.Valid = rep.ErrorCount == 0
	return rep
}

// Count returns how many of diags are errors and how many are warnings.
// A diagnostic of no valid severity counts as an error, as WriteText
// renders it.
func Count(diags hcl.Diagnostics) (errors, warnings int) {
	for _, d := range diags {
		switch {
		case d == nil:
		case d.Severity == hcl.DiagWarning:
			warnings++
		default:
			errors++
		}
	}
	return errors, warnings
}

// MarshalJSON renders diags for machines: an indented JSON object holding
// whether the configuration is valid, the counts of errors and warnings, and
// every diagnostic (an empty array, never null, when there are none). The
// result has no trailing newline. Characters such as < and > are written as
// they are, not escaped for HTML, since snippets are full of them.
func MarshalJSON(diags hcl.Diagnostics, sources map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(newReport(diags, sources)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
