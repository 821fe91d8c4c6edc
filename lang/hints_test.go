package lang_test

import (
	"github.com/hashicorp/hcl/v2"
	"slices"
	"testing/fstest"

	"github.com/heraldhq/herald/lang"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/lang/diag"
)

// moreFields widens smallProject's schema with a field of each CEL kind.
var moreFields = []string{`  field "ltv" { type = double }`, `  field "ltv" { type = double }
  field "orders" { type = int }
  field "tags" { type = list(string) }
  field "attrs" { type = map(string) }
  field "seen_at" { type = timestamp }
  field "idle" { type = duration }`}

var exampleRe = regexp.MustCompile(`for example "([^"]+)"`)

// TestNotBoolHint: the hint for a condition that is not a bool suggests a
// comparison of the right type, and the suggestion validates.
func TestNotBoolHint(t *testing.T) {
	tests := []struct {
		where, example string
	}{
		{"customer.ltv", "customer.ltv > 0.0"},
		{"customer.ltv * 2.0", "(customer.ltv * 2.0) > 0.0"},
		{"customer.orders", "customer.orders > 0"},
		{"customer.first_name", "customer.first_name == 'value'"},
		{"customer.tags", "customer.tags.size() > 0"},
		{"customer.attrs", "customer.attrs.size() > 0"},
		{"customer.seen_at", "customer.seen_at < now"},
		{"customer.idle", "customer.idle > duration('24h')"},
		{"customer.ltv > 1.0 ? customer.first_name : 'x'", "(customer.ltv > 1.0 ? customer.first_name : 'x') == 'value'"},
		{"customer.tags[0]", "customer.tags[0] == 'value'"},
	}
	for _, tc := range tests {
		t.Run(tc.where, func(t *testing.T) {
			edits := append(append([]string{}, moreFields...), "customer.ltv > 1.0", tc.where)
			_, diags, _ := loadSmall(t, edits...)
			if len(diags) != 1 || diag.RuleOf(diags[0]) != diag.NotBoolean {
				t.Fatalf("want one %s, got %v", diag.NotBoolean, diags)
			}
			m := exampleRe.FindStringSubmatch(diags[0].Detail)
			if m == nil || m[1] != tc.example {
				t.Fatalf("detail %q, want the example %q", diags[0].Detail, tc.example)
			}
			edits = append(append([]string{}, moreFields...), "customer.ltv > 1.0", m[1])
			if _, diags, _ := loadSmall(t, edits...); len(diags) > 0 {
				t.Errorf("the suggested %q does not validate: %v", m[1], diags)
			}
		})
	}
}

// TestMixedNumbersHint: comparing a double with an int literal says to
// write a double.
func TestMixedNumbersHint(t *testing.T) {
	for _, where := range []string{"customer.ltv > 0", "500 <= customer.ltv", "customer.ltv + 1 > 2.0", "customer.orders == 1.5"} {
		t.Run(where, func(t *testing.T) {
			edits := append(append([]string{}, moreFields...), "customer.ltv > 1.0", where)
			_, diags, _ := loadSmall(t, edits...)
			if len(diags) != 1 || diag.RuleOf(diags[0]) != diag.CELType {
				t.Fatalf("want one %s, got %v", diag.CELType, diags)
			}
			if !strings.Contains(diags[0].Detail, "write 0.0 to compare a double with a number") {
				t.Errorf("detail %q has no hint", diags[0].Detail)
			}
		})
	}
}

// leadProject adds to smallProject a lead schema with the fields given, its
// source and a segment, and campaign lead_news sending template.welcome to
// it.
func leadProject(fields string) []string {
	return []string{"segment \"valued\" {", `schema "lead" {
  field "id" { type = string }
  field "email" { pii = "email" }
` + fields + `}
source "leads" {
  from   = provider.files.data
  table  = "leads.csv"
  schema = schema.lead
  key    = "id"
}
segment "all_leads" {
  from = source.leads
}
campaign "lead_news" {
  audience    = segment.all_leads
  channel     = "email"
  via         = provider.outbox.local
  purpose     = "marketing"
  legal_basis = "consent"
  template    = template.welcome
}
segment "valued" {`}
}

// TestTemplateAudienceSchema: a template's holes are checked against the
// schema of every audience it is sent to, not only the customer schema.
func TestTemplateAudienceSchema(t *testing.T) {
	tests := []struct {
		name       string
		fields     string // more fields of schema.lead
		subject    string
		welcomeToo bool   // campaign welcome (customers) still sends template.welcome
		wantDetail string // "" when it validates
	}{
		{"field only customers have", "", "Hi {{ customer.first_name }}", true,
			`campaign.lead_news sends template.welcome to segment.all_leads, whose rows come from source.leads (schema.lead). schema.lead has no field "first_name". Declare the field in the schema, or correct the name.`},
		{"did you mean", "  field \"firstname\" {}\n", "Hi {{ customer.first_name ?? 'there' }}", false,
			`campaign.lead_news sends template.welcome to segment.all_leads, whose rows come from source.leads (schema.lead). schema.lead has no field "first_name". Did you mean "firstname"? Declare the field in the schema, or correct the name.`},
		{"field both have", "", "Hi {{ customer.email }}", true, ""},
		{"condition", "", "{{ if customer.ltv > 100.0 }}Hi{{ end }}", false,
			`campaign.lead_news sends template.welcome to segment.all_leads, whose rows come from source.leads (schema.lead). schema.lead has no field "ltv". Declare the field in the schema, or correct the name.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			edits := append(leadProject(tc.fields), `subject = "Thanks"`, `subject = "`+tc.subject+`"`)
			if !tc.welcomeToo {
				edits = append(edits, "campaign \"welcome\" {\n  audience    = segment.valued", "campaign \"welcome\" {\n  audience    = segment.valued\n  template = template.other")
				edits = append(edits, "  variant \"a\" {\n    template = template.welcome\n  }\n", "")
				edits = append(edits, "template \"welcome\" {", "template \"other\" {\n  channel = \"email\"\n  subject = \"x\"\n  html    = file(\"templates/welcome.html\")\n}\ntemplate \"welcome\" {")
			}
			fsys := smallFS(t, edits...)
			fsys["data/leads.csv"] = &fstest.MapFile{Data: []byte("id,email\n")}
			_, diags := lang.LoadFS(fsys, "p", lang.Options{LookupEnv: noEnv})
			if tc.wantDetail == "" {
				if len(diags) > 0 {
					t.Fatalf("want no diagnostics, got %v", diags)
				}
				return
			}
			if len(diags) != 1 || diag.RuleOf(diags[0]) != diag.CELType {
				t.Fatalf("want one %s, got %v", diag.CELType, diags)
			}
			d := diags[0]
			if d.Detail != tc.wantDetail {
				t.Errorf("detail\n%s\nwant\n%s", d.Detail, tc.wantDetail)
			}
			field := regexp.MustCompile(`no field "([^"]+)"`).FindStringSubmatch(tc.wantDetail)[1]
			if src := fsys["main.hcl"].Data; d.Subject == nil || string(src[d.Subject.Start.Byte:d.Subject.End.Byte]) != field {
				t.Errorf("reported at %v, not at the field %s", d.Subject, field)
			}
		})
	}
}

// TestParseQuietHours: "HH:MM-HH:MM", with spaces allowed around the
// times; equal times, an empty string and anything else are errors.
func TestParseQuietHours(t *testing.T) {
	tests := []struct {
		in         string
		start, end string // "" when invalid
	}{
		{"21:00-08:00", "21h0m0s", "8h0m0s"},
		{"21:00 - 08:00", "21h0m0s", "8h0m0s"},
		{" 9:30-17:00 ", "9h30m0s", "17h0m0s"},
		{"00:00-23:59", "0s", "23h59m0s"},
		{"21:00-21:00", "", ""},
		{"21:00 - 21:00", "", ""},
		{"", "", ""},
		{" ", "", ""},
		{"-", "", ""},
		{"21:00", "", ""},
		{"21-08", "", ""},
		{"24:00-08:00", "", ""},
		{"21:60-08:00", "", ""},
		{"+9:00-17:00", "", ""},
		{"21:00--08:00", "", ""},
		{"21:00-08:00-09:00", "", ""},
		{"9 pm - 8 am", "", ""},
	}
	for _, tc := range tests {
		q, err := lang.ParseQuietHours(tc.in)
		switch {
		case tc.start == "" && err == nil:
			t.Errorf("ParseQuietHours(%q) = %v-%v, want an error", tc.in, q.Start, q.End)
		case tc.start != "" && err != nil:
			t.Errorf("ParseQuietHours(%q): %v", tc.in, err)
		case tc.start != "" && (q.Start.String() != tc.start || q.End.String() != tc.end):
			t.Errorf("ParseQuietHours(%q) = %v-%v, want %s-%s", tc.in, q.Start, q.End, tc.start, tc.end)
		}
	}
}

// TestUnknownBlockHidesNothing: an unknown top-level block is reported
// with the project's other mistakes, not instead of them; a syntax error
// still stops the check.
func TestUnknownBlockHidesNothing(t *testing.T) {
	mistakes := []string{"customer.ltv > 1.0", "customer.lvt > 1.0", "legal_basis = \"consent\"", "legal_basis = \"consnt\""}
	tests := []struct {
		name  string
		extra string
		want  []diag.Rule
	}{
		{"none", "", []diag.Rule{diag.CELType, diag.InvalidValue, diag.LegalBasisMissing}},
		{"unknown block", "segmnt \"x\" {}\n", []diag.Rule{diag.Structure, diag.CELType, diag.InvalidValue, diag.LegalBasisMissing}},
		{"two unknown blocks", "segmnt \"x\" {}\ncampagn \"y\" {\n  a = 1\n}\n", []diag.Rule{diag.Structure, diag.Structure, diag.CELType, diag.InvalidValue, diag.LegalBasisMissing}},
		{"top-level attribute", "channel = \"email\"\n", []diag.Rule{diag.Structure, diag.CELType, diag.InvalidValue, diag.LegalBasisMissing}},
		{"missing label", "segment {}\n", []diag.Rule{diag.Structure, diag.CELType, diag.InvalidValue, diag.LegalBasisMissing}},
		{"syntax error", "segment \"x\" {\n", []diag.Rule{diag.Syntax}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			edits := append(append([]string{}, mistakes...), "herald {", tc.extra+"herald {")
			_, diags, _ := loadSmall(t, edits...)
			var got []diag.Rule
			for _, d := range diags {
				got = append(got, diag.RuleOf(d))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rules %v, want %v: %v", got, tc.want, diags)
			}
		})
	}
}

// TestFieldMessages: unknown field types and fields say what to write
// instead, without advice that does not apply.
func TestFieldMessages(t *testing.T) {
	tests := []struct {
		name, old, new string
		rule           diag.Rule
		summary        string
		detail         string // the whole detail
	}{
		{"bare list", `field "ltv" { type = double }`, `field "ltv" { type = list }`, diag.TypeMismatch, "Field type list without an element type",
			"A list says what its elements are: write list(T), for example list(string). T is one of string, int, double, bool, timestamp, duration."},
		{"bare map", `field "ltv" { type = double }`, `field "ltv" { type = map }`, diag.TypeMismatch, "Field type map without an element type",
			"A map says what its elements are: write map(T), for example map(string). T is one of string, int, double, bool, timestamp, duration."},
		{"bare list element", `field "ltv" { type = double }`, `field "ltv" { type = list(list) }`, diag.TypeMismatch, "Field type list without an element type",
			"A list says what its elements are: write list(T), for example list(string). T is one of string, int, double, bool, timestamp, duration."},
		{"misspelt type", `field "ltv" { type = double }`, `field "ltv" { type = dobule }`, diag.TypeMismatch, "Unknown field type dobule",
			`A field type is one of string, int, double, bool, timestamp, duration, or list(T) or map(T) of one of them. Did you mean "double"?`},
		{"sender", `subject = "Thanks"`, `subject = "From {{ sender.nmae }}"`, diag.CELType, `Unknown field "nmae"`,
			`sender has the fields name, email, postal_address, reply_to; not "nmae". Did you mean "name"? Those are all of sender's fields; their values are set in herald { sender { … } }.`},
		{"recipient", `subject = "Thanks"`, `subject = "To {{ recipient.mail }}"`, diag.CELType, `Unknown field "mail"`,
			`recipient has the fields id, email, phone, timezone; not "mail". Did you mean "email"? Those are all of recipient's fields; for another field of the customer's profile, write customer.FIELD.`},
		{"customer", `subject = "Thanks"`, `subject = "To {{ customer.frist_name }}"`, diag.CELType, `Unknown field "frist_name"`,
			`schema.customer has no field "frist_name". Did you mean "first_name"? Declare the field in the schema, or correct the name.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, diags, _ := loadSmall(t, tc.old, tc.new)
			var d *hcl.Diagnostic
			for _, x := range diags {
				if diag.RuleOf(x) == tc.rule {
					d = x
					break
				}
			}
			if d == nil {
				t.Fatalf("no %s: %v", tc.rule, diags)
			}
			if d.Summary != tc.summary || d.Detail != tc.detail {
				t.Errorf("got\n%s\n%s\nwant\n%s\n%s", d.Summary, d.Detail, tc.summary, tc.detail)
			}
		})
	}
}

// TestWeightsFinite: weights whose sum overflows (two variants of 1e308)
// are each an error at the weight, so the plan never splits by +Inf.
func TestWeightsFinite(t *testing.T) {
	for _, w := range []string{"1e308", "1e300", "1e7", "1e400"} {
		t.Run(w, func(t *testing.T) {
			_, diags, src := loadSmall(t, "  variant \"a\" {\n    template = template.welcome\n  }\n",
				"  variant \"a\" {\n    template = template.welcome\n    weight   = "+w+"\n  }\n  variant \"b\" {\n    template = template.welcome\n    weight   = "+w+"\n  }\n")
			if len(diags) != 2 {
				t.Fatalf("want an error at each weight, got %v", diags)
			}
			for _, d := range diags {
				if d.Severity != hcl.DiagError || d.Subject == nil || string(src[d.Subject.Start.Byte:d.Subject.End.Byte]) != w {
					t.Errorf("not an error at the weight: %v", d)
				}
			}
		})
	}
}
