package lang_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// secret is the value of the sensitive variable in TestSensitiveNotQuoted:
// wrong for every attribute it is put in.
const secret = "hunter2-secret"

// TestSensitiveNotQuoted: a sensitive variable's value is never printed
// in a diagnostic, text or JSON, whatever attribute it reaches and however
// (directly, interpolated, through a conditional or a function), while
// each mistake is still reported at its attribute.
func TestSensitiveNotQuoted(t *testing.T) {
	const decl = `variable "pw" {
  sensitive = true
  default   = "` + secret + `"
}
variable "pws" {
  type      = list(string)
  sensitive = true
  default   = ["` + secret + `"]
}
variable "pin" {
  type      = number
  sensitive = true
  default   = 987654321
}
`
	tests := []struct {
		name  string
		edits []string // old → new pairs on smallProject
		rule  diag.Rule
	}{
		{"one of", []string{`dir = ".herald/outbox"`, `dir = ".herald/outbox"` + "\n  format = var.pw"}, diag.InvalidValue},
		{"one of interpolated", []string{`dir = ".herald/outbox"`, `dir = ".herald/outbox"` + "\n  format = \"${var.pw}x\""}, diag.InvalidValue},
		{"one of conditional", []string{`dir = ".herald/outbox"`, `dir = ".herald/outbox"` + "\n  format = var.pw != \"\" ? var.pw : \"eml\""}, diag.InvalidValue},
		{"one of index", []string{`dir = ".herald/outbox"`, `dir = ".herald/outbox"` + "\n  format = var.pws[0]"}, diag.InvalidValue},
		{"one of for", []string{`dir = ".herald/outbox"`, `dir = ".herald/outbox"` + "\n  format = [for s in var.pws : s][0]"}, diag.InvalidValue},
		{"duration", []string{`dir = ".herald/outbox"`, `dir = ".herald/outbox"` + "\n  timeout = var.pw"}, diag.InvalidDuration},
		{"number", []string{`dir = ".herald/outbox"`, `dir = ".herald/outbox"` + "\n  concurrency = -var.pin"}, diag.InvalidValue},
		{"email", []string{`email          = "news@shop.example.com"`, `email          = "${var.pw} <x>"`}, diag.InvalidValue},
		{"public url", []string{`public_url = "https://shop.example.com"`, `public_url = var.pw`}, diag.InvalidValue},
		{"file path", []string{`html    = file("templates/welcome.html")`, `html    = file(var.pw)`}, diag.FileNotFound},
		{"channel", []string{`channel = "email"`, `channel = var.pw`}, diag.InvalidValue},
		{"cel", []string{`where = "customer.ltv > 1.0"`, `where = var.pw`}, diag.CELType},
		{"cel interpolated", []string{`where = "customer.ltv > 1.0"`, `where = "customer.${replace}"`, "${replace}", "${var.pw} == 1"}, diag.CELType},
		{"template", []string{`subject = "Thanks"`, `subject = "{{ ${var.pw} }}"`}, diag.CELType},
		{"table", []string{`table  = "customers.csv"`, `table  = var.pw`}, diag.InvalidValue},
		{"timezone", []string{"    template = template.welcome\n  }\n", "    template = template.welcome\n  }\n  schedule {\n    at       = \"2026-12-01T09:00\"\n    timezone = var.pw\n  }\n"}, diag.InvalidTimezone},
		{"schedule", []string{"    template = template.welcome\n  }\n", "    template = template.welcome\n  }\n  schedule {\n    at = var.pw\n  }\n"}, diag.InvalidTimestamp},
		{"name pattern", []string{`public_url = "https://shop.example.com"`, "public_url = \"https://shop.example.com\"\n  rules {\n    name_pattern = \"${var.pw}(\"\n  }"}, diag.InvalidValue},
		{"label", []string{`legal_basis = "consent"`, `legal_basis = var.pw`}, diag.InvalidValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			edits := tc.edits
			fsys := smallFS(t, edits[:2]...)
			src := decl + string(fsys["main.hcl"].Data)
			for i := 2; i+1 < len(edits); i += 2 {
				src = strings.Replace(src, edits[i], edits[i+1], 1)
			}
			fsys["main.hcl"].Data = []byte(src)
			cfg, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: env(nil)})
			if !hasRule(diags, tc.rule) {
				t.Errorf("no %s diagnostic: %v", tc.rule, diags)
			}
			var text bytes.Buffer
			if err := diag.WriteText(&text, diags, cfg.FileText(), false); err != nil {
				t.Fatal(err)
			}
			js, err := diag.MarshalJSON(diags, cfg.FileText())
			if err != nil {
				t.Fatal(err)
			}
			for _, leak := range []string{"hunter2", "987654321", "9.87654321e+08"} {
				for what, out := range map[string]string{"text": text.String(), "JSON": string(js)} {
					if strings.Contains(out, leak) {
						t.Errorf("the %s output holds %q:\n%s", what, leak, out)
					}
				}
			}
			for _, d := range diags {
				if diag.RuleOf(d) == tc.rule && d.Subject == nil {
					t.Errorf("%q has no position", d.Summary)
				}
			}
		})
	}
}

// TestSensitiveValuesDecode: values from sensitive variables decode like
// any other — marks stop at the decoders, which would panic on them — and
// reach the Config without marks.
func TestSensitiveValuesDecode(t *testing.T) {
	const decl = `variable "pw" {
  sensitive = true
  default   = "s3cret"
}
variable "tags" {
  type      = list(string)
  sensitive = true
  default   = ["a", "b"]
}
variable "share" {
  type      = number
  sensitive = true
  default   = 0.1
}
`
	fsys := smallFS(t,
		`dir = ".herald/outbox"`, `dir = ".herald/outbox"`+"\n  format = var.pw == \"\" ? \"jsonl\" : \"eml\"",
		`  where = "customer.ltv > 1.0"`, "  where = \"customer.ltv > 1.0\"\n  labels = var.tags\n  owner = \"team-${var.pw}\"",
		`legal_basis = "consent"`, "legal_basis = \"consent\"\n  holdout = var.share\n  utm {\n    source = var.pw\n  }",
	)
	src := decl + string(fsys["main.hcl"].Data)
	fsys["main.hcl"].Data = []byte(src)
	cfg, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: env(nil)})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	seg := cfg.Segments["valued"]
	if got := strings.Join(seg.Labels, ","); got != "a,b" {
		t.Errorf("labels = %q", got)
	}
	if seg.Owner != "team-s3cret" {
		t.Errorf("owner = %q", seg.Owner)
	}
	c := cfg.Campaigns["welcome"]
	if c.Holdout != 0.1 || c.UTM["source"] != "s3cret" {
		t.Errorf("holdout %v, utm %v", c.Holdout, c.UTM)
	}
	if v := cfg.Providers["outbox.local"].Attributes["format"]; v.IsMarked() || v.AsString() != "eml" {
		t.Errorf("format = %#v", v)
	}
}
