package cli_test

import (
	"os"
	"regexp"
	"testing"
)

// TestDocsDiagnostics: the Diagnostics example of docs/language.md, text
// and JSON, is what herald validate prints for testdata/docs-diagnostics,
// whose line 13 is the line the example shows.
func TestDocsDiagnostics(t *testing.T) {
	doc, err := os.ReadFile("../../../../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		block *regexp.Regexp // the example: its first group
		args  []string
	}{
		{"text", regexp.MustCompile("(?s)\n## Diagnostics\n.*?```\n(.*?)```"), []string{"validate", "-no-color"}},
		{"json", regexp.MustCompile("(?s)\n### `herald validate -json`\n.*?```json\n(.*?)```"), []string{"validate", "-json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.block.FindSubmatch(doc)
			if m == nil {
				t.Fatalf("no %s example in docs/language.md", tc.name)
			}
			stdout, stderr, code := herald(t, append([]string{"-chdir", "testdata/docs-diagnostics"}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit code %d, want 1; stderr: %s", code, stderr)
			}
			if got := stdout + stderr; got != string(m[1]) {
				t.Errorf("docs/language.md shows\n%s\nherald prints\n%s", m[1], got)
			}
		})
	}
}
