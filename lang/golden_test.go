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

var mistakeRe = regexp.MustCompile(`<-\s*mistake`)

// mistakeLines finds the lines marked "<- mistake" in a project's files.
func mistakeLines(t *testing.T, dir string) map[string][]int {
	out := map[string][]int{}
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		for i, line := range strings.Split(string(b), "\n") {
			if mistakeRe.MatchString(line) {
				out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], i+1)
			}
		}
		return nil
	})
	return out
}

// TestBrokenExamples: every project in examples/broken reports its rule at
// the line marked "<- mistake", and its whole output matches the golden
// text and JSON renderings.
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
			marks := mistakeLines(t, dir)
			if len(marks) > 0 && found.Subject != nil {
				lines := marks[found.Subject.Filename]
				ok := false
				for _, ln := range lines {
					if ln == found.Subject.Start.Line {
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
