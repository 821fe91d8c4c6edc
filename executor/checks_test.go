package executor

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/state"
)

// TestApplyRechecksCapAndSuppression: two campaigns to the same customers
// under a cap of one message a week are both planned (the ledger was empty
// when planned), but the second is skipped at send time; a customer
// suppressed between plan and apply is skipped too.
func TestApplyRechecksCapAndSuppression(t *testing.T) {
	forEachBackend(t, func(t *testing.T, sb string) {
		ctx := context.Background()
		name := fakeName()
		dir := smallProject(t, sb, name, 6, "")
		b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
		s := strings.Replace(string(b), "  utm {", "  frequency_cap {\n    limit = 1\n    per   = \"168h\"\n  }\n  utm {", 1)
		s += `campaign "promo2" {
  audience    = segment.all
  channel     = "email"
  via         = provider.testmail.` + name + `
  legal_basis = "consent"
  template    = template.a
  frequency_cap {
    limit = 1
    per   = "168h"
  }
}
`
		os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s), 0o644)
		cfg, st := load(t, dir)
		p := makePlan(t, cfg, st, planNow)
		if n := p.Summary.Messages; n != 12 {
			t.Fatalf("planned %d messages, want 12", n)
		}
		if err := st.AddSuppressions(ctx, []state.Suppression{{CustomerID: "c0002", Channel: "email", Reason: "complaint"}}); err != nil {
			t.Fatal(err)
		}
		res, err := Apply(ctx, cfg, st, p, applyOpts(planNow))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(fakeFor(name).messages()); n != 5 {
			t.Fatalf("%d messages, want 5: one per customer not suppressed", n)
		}
		byAddr := map[string]Counts{}
		for _, c := range res.Campaigns {
			byAddr[c.Address] = c.Counts
		}
		// Campaigns are applied in address order.
		if c := byAddr["campaign.promo"]; c.Sent != 5 || c.Skipped[SkipSuppressed] != 1 {
			t.Errorf("promo %+v", c)
		}
		if c := byAddr["campaign.promo2"]; c.Sent != 0 || c.Skipped[SkipCap] != 5 || c.Skipped[SkipSuppressed] != 1 {
			t.Errorf("promo2 %+v", c)
		}
	})
}

// TestRender: holes are CEL, fallbacks apply to unset fields, conditions
// choose branches, and values are escaped in HTML.
func TestRender(t *testing.T) {
	ctx := context.Background()
	name := fakeName()
	dir := smallProject(t, "", name, 2, "")
	b, _ := os.ReadFile(filepath.Join(dir, "main.hcl"))
	subject := `subject = "{{ if customer.ltv > 100.0 }}VIP {{ else }}Hi {{ end }}{{ customer.first_name ?? \"there\" }} {{ customer.ltv * 2.0 }}"`
	s := strings.Replace(string(b), `subject = "Hi {{ customer.first_name }}"`, subject, 1)
	s = strings.Replace(s, `subject = "Deal for {{ customer.first_name }}"`, subject, 1)
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s), 0o644)
	csv := "id,email,first_name,ltv,timezone\nc0000,c0000@example.com,<b>Al</b>,100,UTC\nc0001,c0001@example.com,,150.5,UTC\n"
	os.WriteFile(filepath.Join(dir, "data/customers.csv"), []byte(csv), 0o644)
	cfg, st := load(t, dir)
	p := makePlan(t, cfg, st, planNow)
	if _, err := Apply(ctx, cfg, st, p, applyOpts(planNow)); err != nil {
		t.Fatal(err)
	}
	msgs := fakeFor(name).messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	if got := msgs[0].Subject; got != "Hi <b>Al</b> 200" {
		t.Errorf("subject %q", got)
	}
	if got := msgs[1].Subject; got != "VIP there 301" {
		t.Errorf("subject %q", got)
	}
	for _, m := range msgs {
		if m.Variant == "a" && m.CustomerID == "c0000" && !strings.Contains(m.HTML, "Hello &lt;b&gt;Al&lt;/b&gt; &amp; co") {
			t.Errorf("html not escaped: %s", m.HTML)
		}
		if m.Variant == "b" && m.CustomerID == "c0000" && !strings.Contains(m.HTML, "&lt;b&gt;Al&lt;/b&gt;:") {
			t.Errorf("html not escaped: %s", m.HTML)
		}
	}
}

func TestAddUTM(t *testing.T) {
	utm := url.Values{"utm_source": {"herald"}, "utm_campaign": {"x"}}
	for _, c := range []struct {
		in, want string
		html     bool
	}{
		{"see https://a.example/p.", "see https://a.example/p?utm_campaign=x&utm_source=herald.", false},
		{`<a href="https://a.example/?q=1&amp;r=2">`, `<a href="https://a.example/?q=1&amp;r=2&amp;utm_campaign=x&amp;utm_source=herald">`, true},
		{"https://a.example/?utm_source=mine", "https://a.example/?utm_campaign=x&utm_source=mine", false},
		{"https://h.example/u/TOKEN", "https://h.example/u/TOKEN", false},
		{"mailto:x@example.com ftp://a", "mailto:x@example.com ftp://a", false},
	} {
		if got := addUTM(c.in, utm, "https://h.example/u/", c.html); got != c.want {
			t.Errorf("addUTM(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUnsubscribeToken(t *testing.T) {
	key := []byte("k")
	tok := unsubscribeToken(key, "campaign.x", "c1", planNow.Add(24*60*60*1e9))
	if c, camp, ok := VerifyUnsubscribeToken(key, tok, planNow); !ok || c != "c1" || camp != "campaign.x" {
		t.Fatalf("%v %v %v", c, camp, ok)
	}
	if _, _, ok := VerifyUnsubscribeToken([]byte("other"), tok, planNow); ok {
		t.Fatal("a token verified with another key")
	}
	if _, _, ok := VerifyUnsubscribeToken(key, tok, planNow.Add(48*60*60*1e9)); ok {
		t.Fatal("an expired token verified")
	}
	if _, _, ok := VerifyUnsubscribeToken(key, tok[:len(tok)-2]+"AA", planNow); ok {
		t.Fatal("a forged token verified")
	}
}

// TestApplySMS: an SMS goes to the customer's phone field, with the
// rendered body as its text and no e-mail headers.
func TestApplySMS(t *testing.T) {
	ctx := context.Background()
	name := fakeName()
	dir := project(t, map[string]string{
		"main.hcl": `herald {
  sender {
    name           = "Acme"
    email          = "news@acme.example"
    postal_address = "1 Main St"
  }
}
provider "files" "cdp" { dir = "data" }
provider "testmail" "` + name + `" {}
schema "customer" {
  field "id" { type = string }
  field "phone" { pii = "phone" }
  field "first_name" { pii = "name" }
}
source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}
source "consents" {
  from  = provider.files.cdp
  table = "consents.csv"
}
consent {
  from = source.consents
  channel "sms" {
    basis  = "consent"
    opt_in = "double"
  }
}
segment "all" { from = source.customers }
template "s" {
  channel = "sms"
  body    = "Hi {{ customer.first_name }}, new gear is in. Reply STOP to opt out."
}
campaign "drop" {
  audience    = segment.all
  channel     = "sms"
  via         = provider.testmail.` + name + `
  legal_basis = "consent"
  template    = template.s
}
`,
		"data/customers.csv": "id,phone,first_name\nc1,+15415550101,Ann\nc2,+15415550102,Bob\n",
		"data/consents.csv":  "customer_id,channel,status,method,recorded_at,policy_version\nc1,sms,confirmed,sms,2026-01-01T00:00:00Z,1\nc2,sms,granted,sms,2026-01-01T00:00:00Z,1\n",
	})
	cfg, st := load(t, dir)
	p := makePlan(t, cfg, st, planNow)
	if _, err := Apply(ctx, cfg, st, p, applyOpts(planNow)); err != nil {
		t.Fatal(err)
	}
	msgs := fakeFor(name).messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1 (c2 has not confirmed the double opt-in)", len(msgs))
	}
	m := msgs[0]
	if m.To != "+15415550101" || m.Text != "Hi Ann, new gear is in. Reply STOP to opt out." || m.Channel != "sms" || m.Headers != nil {
		t.Fatalf("message %+v", m)
	}
}
