package lang_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// smallFS is smallProject's files with main.hcl edited by each old → new
// pair, in order.
func smallFS(t *testing.T, edits ...string) fstest.MapFS {
	t.Helper()
	src := strings.Replace(smallProject, "WHERE", "customer.ltv > 1.0", 1)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(src, edits[i]) {
			t.Fatalf("smallProject has no %q", edits[i])
		}
		src = strings.Replace(src, edits[i], edits[i+1], 1)
	}
	return fstest.MapFS{
		"main.hcl":               {Data: []byte(src)},
		"templates/welcome.html": {Data: []byte(`<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a> {{ sender.postal_address }}`)},
		"data/customers.csv":     {Data: []byte("id,email,first_name,ltv\n")},
		"data/consents.csv":      {Data: []byte("customer_id,channel,status,method,recorded_at,policy_version\n")},
	}
}

func loadSmall(t *testing.T, edits ...string) (*lang.Config, hcl.Diagnostics, []byte) {
	t.Helper()
	fsys := smallFS(t, edits...)
	cfg, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	return cfg, diags, fsys["main.hcl"].Data
}

// wantOne checks that diags is one error of rule with summary, whose
// subject is the text subject in src.
func wantOne(t *testing.T, diags hcl.Diagnostics, src []byte, rule diag.Rule, summary, subject string) {
	t.Helper()
	if len(diags) != 1 {
		t.Fatalf("%d diagnostics, want 1 %q: %v", len(diags), summary, diags)
	}
	d := diags[0]
	if diag.RuleOf(d) != rule || d.Summary != summary {
		t.Errorf("got %q [%s], want %q [%s]", d.Summary, diag.RuleOf(d), summary, rule)
	}
	if d.Subject == nil {
		t.Fatalf("%q has no subject", d.Summary)
	}
	if got := string(src[d.Subject.Start.Byte:d.Subject.End.Byte]); got != subject {
		t.Errorf("subject is %q, want %q", got, subject)
	}
	if d.Detail == "" {
		t.Errorf("%q has no detail", d.Summary)
	}
}

// TestNumberRanges: HCL numbers are arbitrary precision; one that does not
// fit what herald stores is an error at the attribute, not clamped.
func TestNumberRanges(t *testing.T) {
	const variant = "    template = template.welcome\n"
	tests := []struct {
		name, attr, value string
		rule              diag.Rule
		summary           string // "" when the value is fine
	}{
		{"limit 1e30", "limit", "1e30", diag.InvalidValue, "Whole number out of range"},
		{"limit 2^63", "limit", "9223372036854775808", diag.InvalidValue, "Whole number out of range"},
		{"limit max int64", "limit", "9223372036854775807", "", ""},
		{"limit fraction", "limit", "1.5", diag.TypeMismatch, "Whole number required"},
		{"weight subnormal", "weight", "1e-320", diag.InvalidWeight, "Variant weight out of range"},
		{"weight underflows", "weight", "1e-400", diag.InvalidValue, "Number out of range"},
		{"weight overflows", "weight", "1e400", diag.InvalidValue, "Number out of range"},
		{"weight huge", "weight", "1e300", diag.InvalidWeight, "Variant weight out of range"},
		{"weight small", "weight", "0.000001", "", ""},
		{"weight large", "weight", "1000000", "", ""},
		{"holdout overflows", "holdout", "1e400", diag.InvalidValue, "Number out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var edit []string
			switch tc.attr {
			case "limit":
				edit = []string{variant, variant + "  }\n  frequency_cap {\n    limit = " + tc.value + "\n    per   = \"7d\"\n"}
			case "weight":
				edit = []string{variant, variant + "    weight   = " + tc.value + "\n"}
			case "holdout":
				edit = []string{variant, variant + "  }\n  holdout = " + tc.value + "\n  variant \"b\" {\n" + variant}
			}
			cfg, diags, src := loadSmall(t, edit...)
			if tc.summary == "" {
				if diags.HasErrors() {
					t.Fatalf("%s = %s: %v", tc.attr, tc.value, diags)
				}
				return
			}
			wantOne(t, diags, src, tc.rule, tc.summary, tc.value)
			if c := cfg.Campaigns["welcome"]; c != nil && c.FrequencyCap != nil {
				t.Errorf("frequency cap kept with limit %d", c.FrequencyCap.Limit)
			}
		})
	}
}

// TestDurationTooLong: a duration past time.Duration's range is "too
// long", not "not longer than zero", which is what the overflowed
// conversion made of it.
func TestDurationTooLong(t *testing.T) {
	for _, s := range []string{"9999999999999999999h", "15251w", "15250w15250w", "1" + strings.Repeat("0", 400) + "h"} {
		if _, err := lang.ParseDuration(s); err == nil || !strings.Contains(err.Error(), "too long") {
			t.Errorf("ParseDuration(%q): %v, want too long", s, err)
		}
	}
	if d, err := lang.ParseDuration("15250w"); err != nil || d <= 0 {
		t.Errorf("ParseDuration(15250w) = %v, %v", d, err)
	}
	_, diags, src := loadSmall(t, "    template = template.welcome\n",
		"    template = template.welcome\n  }\n  frequency_cap {\n    limit = 1\n    per   = \"9999999999999999999h\"\n")
	wantOne(t, diags, src, diag.InvalidDuration, "Duration for per is too long", `"9999999999999999999h"`)
}

// TestBlockNames: a name no reference can reach is an error at the label.
func TestBlockNames(t *testing.T) {
	for _, name := range []string{"", "has space", "😀", "1st", "-x", "a.b"} {
		t.Run(name, func(t *testing.T) {
			_, diags, src := loadSmall(t, `segment "valued"`, `segment "`+name+`"`)
			var found bool
			for _, d := range diags {
				if d.Summary == `Invalid segment name "`+name+`"` {
					found = true
					if diag.RuleOf(d) != diag.InvalidValue || string(src[d.Subject.Start.Byte:d.Subject.End.Byte]) != `"`+name+`"` {
						t.Errorf("got [%s] at %q", diag.RuleOf(d), src[d.Subject.Start.Byte:d.Subject.End.Byte])
					}
					if !strings.Contains(d.Detail, "Rename it") {
						t.Errorf("detail: %s", d.Detail)
					}
				}
			}
			if !found {
				t.Errorf("no error for segment %q: %v", name, diags)
			}
		})
	}
	for _, name := range []string{"ok-name", "_x", "café", "a1"} {
		if _, diags, _ := loadSmall(t, `segment "valued"`, `segment "`+name+`"`, "segment.valued", "segment."+name); diags.HasErrors() {
			t.Errorf("segment %q: %v", name, diags)
		}
	}
	_, diags, src := loadSmall(t, `provider "files" "data"`, `provider "files" "my data"`)
	for _, d := range diags {
		if d.Summary == `Invalid provider name "my data"` {
			if got := string(src[d.Subject.Start.Byte:d.Subject.End.Byte]); got != `"my data"` {
				t.Errorf("provider name error at %q", got)
			}
			return
		}
	}
	t.Errorf("no error for provider \"files\" \"my data\": %v", diags)
}

// TestFileSymlink: file() of a link that leads out of the project is
// file-not-found, as docs/language.md says of paths outside it; links
// within the project, and a project reached through a link, are fine.
func TestFileSymlink(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "passwd")
	if err := os.WriteFile(secret, []byte("root:x:0:0"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(dir string) {
		for name, f := range smallFS(t) {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	opts := lang.Options{LookupEnv: func(string) (string, bool) { return "", false }}

	dir := t.TempDir()
	write(dir)
	html := filepath.Join(dir, "templates", "welcome.html")
	if err := os.Rename(html, filepath.Join(dir, "templates", "real.html")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.html", html); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if _, diags := lang.Load(dir, opts); diags.HasErrors() {
		t.Errorf("a link within the project: %v", diags)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if _, diags := lang.Load(link, opts); diags.HasErrors() {
		t.Errorf("a project reached through a link: %v", diags)
	}

	for _, target := range []string{secret, outside} {
		if err := os.Remove(html); err != nil {
			t.Fatal(err)
		}
		to := target
		if target == outside {
			// A link to a directory outside, read through.
			if err := os.Symlink(outside, filepath.Join(dir, "templates", "out")); err != nil {
				t.Fatal(err)
			}
			to = filepath.Join("out", "passwd")
		}
		if err := os.Symlink(to, html); err != nil {
			t.Fatal(err)
		}
		_, diags := lang.Load(dir, opts)
		if len(diags) != 1 || diag.RuleOf(diags[0]) != diag.FileNotFound || !strings.Contains(diags[0].Detail, "outside the project") {
			t.Fatalf("link to %s: want one file-not-found error, got %v", to, diags)
		}
		if src, _ := os.ReadFile(filepath.Join(dir, "main.hcl")); diags[0].Subject == nil ||
			string(src[diags[0].Subject.Start.Byte:diags[0].Subject.End.Byte]) != `file("templates/welcome.html")` {
			t.Errorf("subject %v", diags[0].Subject)
		}
	}
}

// TestProviderNumbers: a provider's counts, rates and port are checked for
// range too, since the providers read them into ints and float64s.
func TestProviderNumbers(t *testing.T) {
	const outbox = "  dir = \".herald/outbox\"\n"
	for _, tc := range []struct{ attr, value, summary string }{
		{"rate_limit", "1e400", "Invalid rate_limit"},
		{"burst", "1e30", "Invalid burst"},
		{"concurrency", "2.5", "Invalid concurrency"},
		{"max_retries", "9223372036854775808", "Invalid max_retries"},
		{"concurrency", "0", "Invalid concurrency"},
		{"rate_limit", "0.5", ""},
		{"max_retries", "0", ""},
	} {
		t.Run(tc.attr+"="+tc.value, func(t *testing.T) {
			_, diags, src := loadSmall(t, outbox, outbox+"  "+tc.attr+" = "+tc.value+"\n")
			if tc.summary == "" {
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				return
			}
			wantOne(t, diags, src, diag.InvalidValue, tc.summary, tc.value)
		})
	}
	for _, port := range []string{"70000", "587.5", "1e30"} {
		src := "provider \"smtp\" \"mail\" {\n  host = \"localhost\"\n  port = " + port + "\n}\n"
		_, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, "p", lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
		wantOne(t, diags, []byte(src), diag.InvalidValue, "Invalid port", port)
	}
}

// TestNestedNames: a variant or step name must be an identifier too: it is
// a key in the ledger, the plan and the runner's metrics.
func TestNestedNames(t *testing.T) {
	_, diags, src := loadSmall(t, `variant "a"`, `variant "a b"`)
	wantOne(t, diags, src, diag.InvalidValue, `Invalid variant name "a b"`, `"a b"`)

	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../examples/quickstart")); err != nil {
		t.Fatal(err)
	}
	main, err := os.ReadFile(filepath.Join(dir, "triggers.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	main = []byte(strings.Replace(string(main), `step "nudge"`, `step "nudge me"`, 1))
	if err := os.WriteFile(filepath.Join(dir, "triggers.hcl"), main, 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags = lang.Load(dir, lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	var found bool
	for _, d := range diags {
		if d.Summary == `Invalid step name "nudge me"` && diag.RuleOf(d) == diag.InvalidValue {
			found = true
		}
	}
	if !found {
		t.Errorf("no error for step \"nudge me\": %v", diags)
	}
}
