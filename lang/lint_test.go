package lang_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
)

// lintBase is a small project that validates clean: a marketing e-mail
// campaign, a marketing SMS campaign and a trigger that sends SMS. The
// cases below replace one piece of it.
const lintBase = `
herald {
  public_url = "https://herald.example.com"
  sender {
    name           = "Acme"
    email          = "news@acme.example"
    postal_address = "1 Main St, Springfield"
  }
}
provider "files" "cdp" { dir = "data" }
provider "outbox" "mail" { dir = ".herald/outbox" }
provider "outbox" "sms" { dir = ".herald/sms" }
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "phone" { pii = "phone" }
  field "timezone" { type = string }
  field "ltv" { type = double }
}
schema "event" {
  field "id" { type = string }
  field "customer_id" { type = string }
  field "type" { type = string }
  field "at" { type = timestamp }
}
source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}
source "events" {
  from   = provider.files.cdp
  table  = "events.csv"
  schema = schema.event
}
source "consents" {
  from  = provider.files.cdp
  table = "consents.csv"
}
consent {
  from = source.consents
  channel "email" {
    basis = "consent"
  }
  channel "sms" {
    SMS_CONSENT
    quiet_hours = "21:00-08:00"
    SMS_WAIVERS
  }
}
segment "big" {
  from  = source.customers
  where = "customer.ltv >= 100.0"
}
template "mail" {
  channel = "email"
  subject = MAIL_SUBJECT
  MAIL_PARTS
}
template "sms" {
  channel = "sms"
  body    = SMS_BODY
}
campaign "mail" {
  audience    = segment.big
  channel     = "email"
  via         = provider.outbox.mail
  legal_basis = "consent"
  template    = template.mail
}
CAMPAIGN_SMS
trigger "cart" {
  from        = source.events
  on          = "cart"
  purpose     = TRIGGER_PURPOSE
  legal_basis = "consent"
  step "nudge" {
    wait = "1h"
    send {
      template = template.sms
      via      = provider.outbox.sms
    }
  }
}
`

const campaignSMS = `campaign "sms" {
  audience    = segment.big
  channel     = "sms"
  via         = provider.outbox.sms
  legal_basis = "consent"
  template    = template.sms
}`

// lintProject returns lintBase with the given replacements over defaults
// that validate clean.
func lintProject(repl map[string]string) string {
	def := map[string]string{
		"SMS_CONSENT":     "basis = \"consent\"\n    opt_in = \"double\"",
		"SMS_WAIVERS":     "",
		"MAIL_SUBJECT":    `"News"`,
		"MAIL_PARTS":      `html = "<p>News</p><p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> {{ sender.postal_address }}</p>"`,
		"SMS_BODY":        `"Acme: boots are back. Reply STOP to opt out."`,
		"CAMPAIGN_SMS":    campaignSMS,
		"TRIGGER_PURPOSE": `"marketing"`,
	}
	for k, v := range repl {
		def[k] = v
	}
	src := lintBase
	for k, v := range def {
		src = strings.ReplaceAll(src, k, v)
	}
	return src
}

func loadLint(t *testing.T, src string) hcl.Diagnostics {
	t.Helper()
	fsys := fstest.MapFS{"main.hcl": {Data: []byte(src)}}
	cfg, diags := lang.LoadFS(fsys, ".", lang.Options{LookupEnv: noEnv})
	if testing.Verbose() {
		var buf bytes.Buffer
		_ = diag.WriteText(&buf, diags, cfg.FileText(), false)
		t.Log(buf.String())
	}
	return diags
}

// TestLintBaseClean: the base project of the lint tests has no diagnostic,
// so each case below shows what its one change causes.
func TestLintBaseClean(t *testing.T) {
	if diags := loadLint(t, lintProject(nil)); len(diags) > 0 {
		t.Fatalf("the base project is not clean: %v", diags)
	}
}

// TestContentLints: what the law asks for in a message must reach every
// recipient, so text some recipients never get does not count.
func TestContentLints(t *testing.T) {
	const somewhere = "some recipients"
	cases := []struct {
		name string
		repl map[string]string
		rule diag.Rule // "" when the case must be clean
		why  string    // a phrase the detail must contain
	}{
		{"unsubscribe only under an if", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }}{{ if customer.ltv > 5.0 }}{{ unsubscribe_url }}{{ end }}</p>"`,
		}, diag.EmailUnsubscribe, somewhere},
		{"unsubscribe only in one branch of an if/else", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }}{{ if customer.ltv > 5.0 }}{{ unsubscribe_url }}{{ else }}bye{{ end }}</p>"`,
		}, diag.EmailUnsubscribe, somewhere},
		{"unsubscribe only in an else-if chain without else", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }}{{ if customer.ltv > 5.0 }}{{ unsubscribe_url }}{{ else if customer.ltv > 1.0 }}{{ unsubscribe_url }}{{ end }}</p>"`,
		}, diag.EmailUnsubscribe, somewhere},
		{"unsubscribe in both branches", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }}{{ if customer.ltv > 5.0 }}<a href=\"{{ unsubscribe_url }}\">VIP unsubscribe</a>{{ else }}{{ unsubscribe_url }}{{ end }}</p>"`,
		}, "", ""},
		{"unsubscribe in a ternary", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }}{{ customer.ltv > 5.0 ? \"\" : unsubscribe_url }}</p>"`,
		}, diag.EmailUnsubscribe, "expression"},
		{"unsubscribe only in the subject", map[string]string{
			"MAIL_SUBJECT": `"News {{ unsubscribe_url }}"`,
			"MAIL_PARTS":   `html = "<p>{{ sender.postal_address }}</p>"`,
		}, diag.EmailUnsubscribe, "only in the subject"},
		{"postal address only in the subject", map[string]string{
			"MAIL_SUBJECT": `"News from {{ sender.postal_address }}"`,
			"MAIL_PARTS":   `html = "<p>{{ unsubscribe_url }}</p>"`,
		}, diag.EmailPostalAddress, "only in the subject"},
		{"postal address only under an if", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ unsubscribe_url }}{{ if customer.ltv > 5.0 }}{{ sender.postal_address }}{{ end }}</p>"`,
		}, diag.EmailPostalAddress, somewhere},
		{"unsubscribe in an HTML comment", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }}</p><!-- <a href=\"{{ unsubscribe_url }}\">x</a> -->"`,
		}, diag.EmailUnsubscribe, "HTML comment"},
		{"unsubscribe after an HTML comment", map[string]string{
			"MAIL_PARTS": `html = "<!-- footer --><p>{{ sender.postal_address }} {{ unsubscribe_url }}</p>"`,
		}, "", ""},
		{"comment markers in a text part are text", map[string]string{
			"MAIL_PARTS": `text = "<!-- {{ sender.postal_address }} {{ unsubscribe_url }}"`,
		}, "", ""},
		{"text part without the link", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }} {{ unsubscribe_url }}</p>"
  text = "{{ sender.postal_address }}"`,
		}, diag.EmailUnsubscribe, "text part"},
		{"html and text parts both with the link", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }} {{ unsubscribe_url }}</p>"
  text = "{{ sender.postal_address }} {{ unsubscribe_url }}"`,
		}, "", ""},
		{"unsubscribe with a fallback", map[string]string{
			"MAIL_PARTS": `html = "<p>{{ sender.postal_address }} {{ unsubscribe_url ?? \"#\" }}</p>"`,
		}, "", ""},
		{"sms opt-out only under an if", map[string]string{
			"SMS_BODY": `"Acme: sale!{{ if customer.ltv > 5.0 }} Reply STOP to opt out.{{ end }}"`,
		}, diag.SMSOptOutText, somewhere},
		{"sms opt-out only in a fallback", map[string]string{
			"SMS_BODY": `"Acme: sale! {{ customer.id ?? \"Reply STOP to opt out.\" }}"`,
		}, diag.SMSOptOutText, "fallback"},
		{"sms opt-out in both branches", map[string]string{
			"SMS_BODY": `"Acme: sale!{{ if customer.ltv > 5.0 }} VIPs: reply STOP to opt out.{{ else }} Text STOP to opt out.{{ end }}"`,
		}, "", ""},
		{"sms opt-out around a hole", map[string]string{
			"SMS_BODY": `"Acme: sale, {{ customer.id }}! Reply STOP to opt out."`,
		}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			diags := loadLint(t, lintProject(c.repl))
			if c.rule == "" {
				if len(diags) > 0 {
					t.Fatalf("want no diagnostic, got %v", diags)
				}
				return
			}
			d := findRule(diags, c.rule)
			if d == nil {
				t.Fatalf("want %s, got %v", c.rule, diags)
			}
			if !strings.Contains(d.Detail, c.why) {
				t.Errorf("the detail does not say %q: %s", c.why, d.Detail)
			}
		})
	}
}

func findRule(diags hcl.Diagnostics, r diag.Rule) *hcl.Diagnostic {
	for _, d := range diags {
		if diag.RuleOf(d) == r {
			return d
		}
	}
	return nil
}

// TestSMSDoubleOptIn: marketing SMS needs a double opt-in consent channel
// whatever its basis, from a campaign or a trigger.
func TestSMSDoubleOptIn(t *testing.T) {
	cases := []struct {
		name string
		repl map[string]string
		want bool
	}{
		{"legitimate interest", map[string]string{"SMS_CONSENT": `basis = "legitimate_interest"`}, true},
		{"legitimate interest, trigger only", map[string]string{"SMS_CONSENT": `basis = "legitimate_interest"`, "CAMPAIGN_SMS": ""}, true},
		{"single opt-in, trigger only", map[string]string{"SMS_CONSENT": "basis = \"consent\"\n    opt_in = \"single\"", "CAMPAIGN_SMS": ""}, true},
		{"single opt-in, transactional only", map[string]string{"SMS_CONSENT": "basis = \"consent\"\n    opt_in = \"single\"", "CAMPAIGN_SMS": "", "TRIGGER_PURPOSE": `"transactional"`}, false},
		{"double opt-in", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			diags := loadLint(t, lintProject(c.repl))
			d := findRule(diags, diag.SMSDoubleOptIn)
			if (d != nil) != c.want {
				t.Fatalf("want sms-double-opt-in %v, got %v", c.want, diags)
			}
			if d != nil && !strings.Contains(d.Detail, "TCPA") {
				t.Errorf("the detail does not name the law: %s", d.Detail)
			}
		})
	}
}

// TestDuplicateWaiver: a second waiver of one rule on one block is a
// mistake, not a second reason.
func TestDuplicateWaiver(t *testing.T) {
	w := `waive "sms-quiet-hours" {
      reason = "we never text at night"
    }`
	src := lintProject(map[string]string{"SMS_WAIVERS": w + "\n    " + w})
	second := strings.Count(src[:strings.LastIndex(src, "waive ")], "\n") + 1
	diags := loadLint(t, src)
	// quiet_hours is set, so the waivers also waive nothing; the second is
	// reported as a duplicate, not as unused twice.
	var dups, unused int
	for _, d := range diags {
		switch diag.RuleOf(d) {
		case diag.Duplicate:
			dups++
			if d.Subject == nil || d.Subject.Start.Line != second {
				t.Errorf("duplicate waiver reported at %v, want line %d", d.Subject, second)
			}
		case diag.UnusedWaiver:
			unused++
		}
	}
	if dups != 1 || unused != 1 {
		t.Fatalf("want one duplicate and one unused-waiver, got %v", diags)
	}
}

// lawRe names the laws herald's policy rules come from.
var lawRe = regexp.MustCompile(`GDPR|CCPA|CAN-SPAM|CASL|TCPA|CTIA|ePrivacy`)
