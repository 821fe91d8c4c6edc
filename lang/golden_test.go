package lang_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rogpeppe/go-internal/txtar"

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
func ruleFor(t *testing.T, name string) diag.Rule {
	var best diag.Rule
	for _, r := range ruleConstants(t) {
		if strings.HasPrefix(name, string(r)) && len(r) > len(best) {
			best = r
		}
	}
	return best
}

// ruleConstants returns every Rule constant that lang/diag declares, read
// from its source, so that a rule added there is known here at once.
func ruleConstants(t *testing.T) []diag.Rule {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "diag", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []diag.Rule
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Rule" {
						continue
					}
					for _, v := range vs.Values {
						if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							s, _ := strconv.Unquote(lit.Value)
							out = append(out, diag.Rule(s))
						}
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	if len(out) < 40 {
		t.Fatalf("found only %d Rule constants in lang/diag: has the declaration changed shape?", len(out))
	}
	return out
}

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
			want := ruleFor(t, name)
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

// ruleCases are the golden cases of lang/testdata/rules: rules that no
// broken example shows, because they need options that validate never sets
// (a value for every variable, -var values), or that are a second form of a
// rule. Each is a project directory with the Options it is loaded with.
var ruleCases = []struct {
	name string
	opts lang.Options
}{
	{"env-unset", lang.Options{NeedValues: true}},
	{"function-calls", lang.Options{NeedValues: true}},
	{"variable-value", lang.Options{NeedValues: true, Vars: []string{"holdout=lots", "regoin=eu", "novalue"}}},
	{"duplicate-waiver", lang.Options{}},
	{"email-sender-settings", lang.Options{}},
	{"email-unsubscribe-conditional", lang.Options{}},
	{"sms-double-opt-in-legitimate-interest", lang.Options{}},
	{"sms-opt-out-text-conditional", lang.Options{}},
}

// TestRuleGoldens: the cases of ruleCases give the diagnostics in their
// golden text and JSON renderings.
func TestRuleGoldens(t *testing.T) {
	for _, c := range ruleCases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			opts.LookupEnv = noEnv
			cfg, diags := lang.Load(filepath.Join("testdata", "rules", c.name), opts)
			if len(diags) == 0 {
				t.Fatal("no diagnostics")
			}
			var text bytes.Buffer
			if err := diag.WriteText(&text, diags, cfg.FileText(), false); err != nil {
				t.Fatal(err)
			}
			js, err := diag.MarshalJSON(diags, cfg.FileText())
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "rules", c.name+".txt"), text.Bytes())
			golden(t, filepath.Join("testdata", "rules", c.name+".json"), append(js, '\n'))
		})
	}
}

// scriptDir holds the CLI's testscript scripts, whose golden_*.txtar files
// keep the goldens of the rules only plan and apply raise.
const scriptDir = "../cmd/herald/internal/cli/testdata/script"

// untagged are rules whose diagnostics do not yet carry their rule id in the
// output, each with where that is. Their goldens must exist under their
// names (want/RULE.txt and want/RULE.json in a script); once the output
// carries the id, the test asks for the entry to be removed.
var untagged = map[diag.Rule]string{}

// TestRuleGoldenCoverage: every rule of lang/diag has a golden in text
// (its "[rule]" tag) and in JSON (its "rule" field): from the broken
// examples, from ruleCases, or from the golden_*.txtar scripts. And every
// policy diagnostic in them names the law it comes from.
func TestRuleGoldenCoverage(t *testing.T) {
	texts, jsons := map[string]string{}, map[string]string{}
	for _, dir := range []string{"testdata/broken", "testdata/rules"} {
		for _, ext := range []string{".txt", ".json"} {
			paths, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
			for _, p := range paths {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if ext == ".txt" {
					texts[p] = string(b)
				} else {
					jsons[p] = string(b)
				}
			}
		}
	}
	scripts, _ := filepath.Glob(filepath.Join(scriptDir, "golden_*.txtar"))
	if len(scripts) == 0 {
		t.Fatalf("no golden_*.txtar scripts in %s", scriptDir)
	}
	for _, p := range scripts {
		a, err := txtar.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			name := filepath.Base(p) + ":" + f.Name
			switch {
			case strings.HasPrefix(f.Name, "want/") && strings.HasSuffix(f.Name, ".txt"):
				texts[name] = string(f.Data)
			case strings.HasPrefix(f.Name, "want/") && strings.HasSuffix(f.Name, ".json"):
				jsons[name] = string(f.Data)
			}
		}
	}
	has := func(goldens map[string]string, needle string) bool {
		for _, g := range goldens {
			if strings.Contains(g, needle) {
				return true
			}
		}
		return false
	}
	hasFile := func(goldens map[string]string, suffix string) bool {
		for name := range goldens {
			if strings.HasSuffix(name, suffix) {
				return true
			}
		}
		return false
	}
	for _, r := range ruleConstants(t) {
		// The field as diagnostics print it, or as a compact JSON event
		// of apply -json carries it.
		tag, field, compact := "["+string(r)+"]", fmt.Sprintf("\"rule\": %q", r), fmt.Sprintf("\"rule\":%q", r)
		if where, ok := untagged[r]; ok {
			if has(texts, tag) || has(jsons, field) || has(jsons, compact) {
				t.Errorf("%s now appears in a golden: remove it from untagged", r)
			}
			if !hasFile(texts, "want/"+string(r)+".txt") || !hasFile(jsons, "want/"+string(r)+".json") {
				t.Errorf("%s has no want/%s.txt and want/%s.json in a golden_*.txtar script (%s)", r, r, r, where)
			}
			continue
		}
		if !has(texts, tag) {
			t.Errorf("no text golden shows %s: add a broken example, a ruleCases entry, or a golden_*.txtar script", r)
		}
		if !has(jsons, field) && !has(jsons, compact) {
			t.Errorf("no JSON golden shows %s: add a broken example, a ruleCases entry, or a golden_*.txtar script", r)
		}
	}
	for name, js := range jsons {
		var out struct {
			Diagnostics []struct {
				Rule, Summary, Detail string
			}
		}
		if json.Unmarshal([]byte(js), &out) != nil {
			continue // an apply event, not diagnostics
		}
		for _, d := range out.Diagnostics {
			if diag.IsPolicy(diag.Rule(d.Rule)) && !lawRe.MatchString(d.Summary+" "+d.Detail) {
				t.Errorf("%s: %s %q does not name the law it comes from", name, d.Rule, d.Summary)
			}
		}
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
