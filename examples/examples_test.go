// Package examples holds runnable herald projects. This test only checks
// what can be checked without the compiler: that every project parses as
// HCL, and that each broken example is what its README says.
package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
)

// hclFiles returns the *.hcl files under dir.
func hclFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".hcl") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestParse(t *testing.T) {
	files := hclFiles(t, ".")
	if len(files) < 40 {
		t.Fatalf("only %d .hcl files", len(files))
	}
	p := hclparse.NewParser()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, diags := p.ParseHCL(src, f)
		if filepath.ToSlash(filepath.Dir(f)) == "broken/syntax" {
			if !diags.HasErrors() {
				t.Errorf("%s: parses, but should not", f)
			} else if got, want := diags[0].Subject.Start.Line, mistakeLine(src); got != want {
				t.Errorf("%s: syntax error on line %d, the mistake is on line %d", f, got, want)
			}
			continue
		}
		if diags.HasErrors() {
			t.Errorf("%s", diags.Error())
		}
	}
}

func mistakeLine(src []byte) int {
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, "<- mistake") {
			return i + 1
		}
	}
	return 0
}

var expectRE = regexp.MustCompile("expect `([a-z-]+)` \\((error|warning)\\)")

// BrokenRules maps each directory of broken/ to the rule its one mistake
// breaks, from its README.
func brokenRules(t *testing.T) map[string]string {
	t.Helper()
	dirs, err := os.ReadDir("broken")
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{}
	for _, d := range dirs {
		readme, err := os.ReadFile(filepath.Join("broken", d.Name(), "README.md"))
		if err != nil {
			t.Error(err)
			continue
		}
		m := expectRE.FindSubmatch(readme)
		if m == nil || strings.Count(strings.TrimSpace(string(readme)), "\n") != 0 {
			t.Errorf("broken/%s/README.md: want one line saying expect `rule` (error|warning)", d.Name())
			continue
		}
		rules[d.Name()] = string(m[1])
	}
	return rules
}

func TestBroken(t *testing.T) {
	rules := brokenRules(t)
	if len(rules) < 30 {
		t.Fatalf("only %d broken examples", len(rules))
	}
	for dir, rule := range rules {
		if !strings.HasPrefix(dir, rule) {
			t.Errorf("broken/%s demonstrates %s: name it after the rule", dir, rule)
		}
		// One mistake, marked on its line (or lines: where it is made and
		// where it is reported), in main.hcl or a file it reads.
		marks := 0
		filepath.WalkDir(filepath.Join("broken", dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, "README.md") {
				b, _ := os.ReadFile(p)
				marks += strings.Count(string(b), "<- mistake")
			}
			return nil
		})
		if marks < 1 || marks > 2 {
			t.Errorf("broken/%s: %d lines marked `<- mistake`, want 1 or 2", dir, marks)
		}
	}
}
