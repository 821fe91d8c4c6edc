package lang_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// projects lists the example projects, each a directory of *.hcl files.
func projects(t *testing.T, pattern string) []string {
	t.Helper()
	dirs, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		if hcls, _ := filepath.Glob(filepath.Join(d, "*.hcl")); len(hcls) > 0 {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// TestExamplesValidate: the example projects and the DESIGN.md sketch
// validate with no error, and the quickstart with no warning either.
func TestExamplesValidate(t *testing.T) {
	for _, dir := range projects(t, "../examples/*") {
		if strings.Contains(dir, "broken") {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, diags := lang.Load(dir, lang.Options{LookupEnv: noEnv})
			var buf bytes.Buffer
			_ = diag.WriteText(&buf, diags, cfg.FileText(), false)
			if diags.HasErrors() {
				t.Fatalf("%s does not validate:\n%s", dir, buf.String())
			}
			if filepath.Base(dir) == "quickstart" && len(diags) > 0 {
				t.Fatalf("the quickstart has warnings:\n%s", buf.String())
			}
		})
	}
}

func noEnv(string) (string, bool) { return "", false }

// ruleFor returns the rule a broken example demonstrates: the longest rule
// id that its directory name starts with.
func ruleFor(name string) diag.Rule {
	var best diag.Rule
	for _, r := range allRules {
		if strings.HasPrefix(name, string(r)) && len(r) > len(best) {
			best = r
		}
	}
	return best
}

var allRules = append([]diag.Rule{
	diag.Syntax, diag.Structure, diag.Duplicate, diag.UnknownReference, diag.WrongReference,
	diag.ReferenceCycle, diag.TypeMismatch, diag.InvalidValue, diag.InvalidDuration,
	diag.InvalidTimestamp, diag.InvalidTimezone, diag.InvalidWeight, diag.InvalidHoldout,
	diag.InvalidQuietHours, diag.CELSyntax, diag.CELType, diag.NotBoolean, diag.TemplateSyntax,
	diag.FileNotFound, diag.EnvUnset, diag.UnknownProvider, diag.ProviderKind, diag.VariableValue,
	diag.InvalidWaiver, diag.UnusedWaiver, diag.NamePattern, diag.OwnerRequired, diag.SecretLiteral,
}, diag.PolicyRules...)

var (
	mistakeRe = regexp.MustCompile(`<-\s*mistake`)
	// caretRe is the line under a "<- mistake" line whose caret marks the
	// column: a comment whose text starts with "^ mistake".
	caretRe = regexp.MustCompile(`^(\s*(?:#|//|<!--)\s*)\^ mistake`)
)

// mark is where a broken example's mistake is: a line marked "<- mistake",
// and the column marked by a caret on the line under it.
//
//	holdout = 0.9 # <- mistake
//	#         ^ mistake
//
// A comment cannot put a caret in column 1, so a caret right after a "#"
// or "//" that starts the line marks column 1:
//
//	campaign "x" { # <- mistake
//	#^ mistake
type mark struct {
	line, column int
}

// mistakes finds the marked mistakes in a project's files, by file. A
// "<- mistake" line without a caret line under it is an error.
func mistakes(t *testing.T, dir string) map[string][]mark {
	t.Helper()
	out := map[string][]mark{}
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Name() == "README.md" {
			return nil // a README may quote the marker
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		lines := strings.Split(string(b), "\n")
		for i, line := range lines {
			if !mistakeRe.MatchString(line) {
				continue
			}
			var m []string
			if i+1 < len(lines) {
				m = caretRe.FindStringSubmatch(lines[i+1])
			}
			if m == nil {
				t.Errorf("%s:%d: no caret line (\"# ^ mistake\") under the \"<- mistake\" line to mark the column", rel, i+1)
				continue
			}
			col := utf8.RuneCountInString(m[1]) + 1
			if m[1] == "#" || m[1] == "//" {
				col = 1 // "#^" marks column 1
			}
			out[rel] = append(out[rel], mark{line: i + 1, column: col})
		}
		return nil
	})
	return out
}

// TestBrokenExamples: every project in examples/broken reports its rule at
// the line marked "<- mistake" and the column marked by the caret under it,
// and its whole output matches the golden text and JSON renderings.
func TestBrokenExamples(t *testing.T) {
	dirs := projects(t, "../examples/broken/*")
	if len(dirs) == 0 {
		t.Fatal("no broken examples found")
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			want := ruleFor(name)
			if want == "" {
				t.Fatalf("directory %s is not named after a rule", name)
			}
			cfg, diags := lang.Load(dir, lang.Options{LookupEnv: noEnv})
			var text bytes.Buffer
			if err := diag.WriteText(&text, diags, cfg.FileText(), false); err != nil {
				t.Fatal(err)
			}
			js, err := diag.MarshalJSON(diags, cfg.FileText())
			if err != nil {
				t.Fatal(err)
			}
			var found *hcl.Diagnostic
			for _, d := range diags {
				if diag.RuleOf(d) == want {
					found = d
					break
				}
			}
			if found == nil {
				t.Fatalf("no %s diagnostic; got:\n%s", want, text.String())
			}
			marks := mistakes(t, dir)
			if len(marks) == 0 {
				t.Errorf("no line marked \"<- mistake\" in %s", dir)
			} else if found.Subject == nil {
				t.Errorf("%s reported without a position, but the mistake is marked at %v", want, marks)
			} else {
				ok := false
				for _, m := range marks[found.Subject.Filename] {
					if m.line == found.Subject.Start.Line && m.column == found.Subject.Start.Column {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s reported at %s, but the mistake is marked at %v", want, found.Subject, marks)
				}
			}
			golden(t, filepath.Join("testdata", "broken", name+".txt"), text.Bytes())
			golden(t, filepath.Join("testdata", "broken", name+".json"), append(js, '\n'))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (run go test -update and review the diff):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// TestDesignSketchVerbatim: examples/design/main.hcl is the language sketch
// of DESIGN.md as written, so TestExamplesValidate proves the sketch
// validates. DESIGN.md lives beside the repository, in shared/.
func TestDesignSketchVerbatim(t *testing.T) {
	design, err := os.ReadFile("../../shared/DESIGN.md")
	if err != nil {
		t.Skipf("DESIGN.md not beside the repository: %v", err)
	}
	m := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindSubmatch(design)
	if m == nil {
		t.Fatal("no hcl block in DESIGN.md")
	}
	got, err := os.ReadFile("../examples/design/main.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(m[1]), bytes.TrimSpace(got)) {
		t.Fatal("examples/design/main.hcl is not the DESIGN.md sketch as written")
	}
}
