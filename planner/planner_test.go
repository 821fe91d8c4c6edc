package planner_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	_ "github.com/heraldhq/herald/providers/all"
	"github.com/heraldhq/herald/state"
)

// project is a small project whose customers each hit one step of the
// funnel, so every count below is known by construction.
var project = map[string]string{
	"main.hcl": `
herald {
  public_url = "https://herald.example.com"
  sender {
    name           = "Acme"
    email          = "news@acme.example"
    postal_address = "1 Main St"
  }
}
provider "files" "cdp" { dir = "data" }
provider "outbox" "mail" { dir = ".herald/outbox" }
provider "google_ads" "main" { customer_id = "123" }
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "ltv" { type = double }
  field "vip" { type = bool }
  field "timezone" { type = string }
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
  channel "email" {
    basis = "consent"
  }
  channel "ads" {
    basis = "legitimate_interest"
  }
}
segment "big" {
  from  = source.customers
  where = "customer.ltv >= 100.0"
}
segment "vips" {
  from  = source.customers
  where = "customer.vip"
}
template "t" {
  channel = "email"
  subject = "Hi"
  html    = "{{ unsubscribe_url }} {{ sender.postal_address }}"
}
campaign "promo" {
  audience    = segment.big
  exclude     = [segment.vips]
  channel     = "email"
  via         = provider.outbox.mail
  legal_basis = "consent"
  frequency_cap {
    limit = 1
    per   = "7d"
  }
  template = template.t
}
audience "seed" {
  segment  = segment.big
  to       = provider.google_ads.main
  match_on = ["email"]
}
`,
	// c1 receives; c2 is not in the segment; c3 is a VIP (excluded); c4
	// has no consent; c5 was messaged this week (cap); c6 is suppressed;
	// c7 withdrew; c8 receives.
	"data/customers.csv": `id,email,ltv,vip,timezone
c1,a@example.com,150,false,Europe/Berlin
c2,b@example.com,50,false,UTC
c3,c@example.com,500,true,UTC
c4,d@example.com,120,false,UTC
c5,e@example.com,130,false,UTC
c6,f@example.com,140,false,UTC
c7,g@example.com,160,false,UTC
c8,h@example.com,170,,America/New_York
`,
	"data/consents.csv": `customer_id,channel,status,method,recorded_at,policy_version
c1,email,granted,form,2026-01-01T00:00:00Z,1
c3,email,granted,form,2026-01-01T00:00:00Z,1
c5,email,granted,form,2026-01-01T00:00:00Z,1
c6,email,granted,form,2026-01-01T00:00:00Z,1
c7,email,granted,form,2026-01-01T00:00:00Z,1
c7,email,withdrawn,link,2026-06-01T00:00:00Z,1
c8,email,granted,form,2026-01-01T00:00:00Z,1
c4,ads,objected,form,2026-01-01T00:00:00Z,1
`,
}

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T) (string, *lang.Config, state.Backend) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range project {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, diags := lang.Load(dir, lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	st, err := state.OpenSQLite(context.Background(), filepath.Join(dir, ".herald", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return dir, cfg, st
}

func change(t *testing.T, p *planner.Plan, addr string) *planner.Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Address == addr {
			return c
		}
	}
	t.Fatalf("no change for %s", addr)
	return nil
}

func TestFunnel(t *testing.T) {
	ctx := context.Background()
	_, cfg, st := setup(t)
	if err := st.RecordSends(ctx, []state.Send{
		{Key: "k1", Campaign: "campaign.old", CustomerID: "c5", Channel: "email", Provider: "outbox.mail", Status: "sent", CreatedAt: now.Add(-24 * time.Hour)},
		// Outside the 7-day window: does not count.
		{Key: "k2", Campaign: "campaign.old", CustomerID: "c1", Channel: "email", Provider: "outbox.mail", Status: "sent", CreatedAt: now.Add(-10 * 24 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddSuppressions(ctx, []state.Suppression{{CustomerID: "c6", Reason: "bounce"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetAudienceMembers(ctx, "seed", []string{"c2", "c5"}, nil); err != nil {
		t.Fatal(err)
	}
	p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cp := change(t, p, "campaign.promo").Campaign
	var got []string
	for _, s := range cp.Funnel {
		got = append(got, s.Name+"="+itoa(s.Removed)+"/"+itoa(s.Remain))
	}
	want := "in_segment=0/7 excluded=1/6 no_consent=2/4 frequency_cap=1/3 suppressed=1/2"
	if strings.Join(got, " ") != want {
		t.Errorf("funnel %s, want %s", strings.Join(got, " "), want)
	}
	var ids []string
	for _, r := range cp.Recipients {
		ids = append(ids, r.CustomerID)
	}
	if strings.Join(ids, ",") != "c1,c8" {
		t.Errorf("recipients %v, want c1,c8", ids)
	}
	// Ads: legitimate interest admits all but c4 (objected) and c6
	// (suppressed); c2 left the segment and is removed.
	ap := change(t, p, "audience.seed").Audience
	if ap.Members != 5 || strings.Join(ap.AddIDs, ",") != "c1,c3,c7,c8" || strings.Join(ap.RemoveIDs, ",") != "c2" {
		t.Errorf("audience: members %d add %v remove %v", ap.Members, ap.AddIDs, ap.RemoveIDs)
	}
	if p.Summary.Messages != 2 || p.Summary.AudienceChanges != 5 {
		t.Errorf("summary %+v", p.Summary)
	}

	// The plan file round-trips, recipients included.
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := planner.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := change(t, back, "campaign.promo").Campaign.Recipients; len(got) != 2 || got[0].CustomerID != "c1" {
		t.Errorf("recipients after reading the plan file: %v", got)
	}
	if stale, err := planner.Stale(ctx, back, cfg, st); err != nil || len(stale) != 0 {
		t.Errorf("fresh plan reported stale: %v %v", stale, err)
	}
	if _, err := st.WriteObjects(ctx, []state.Object{{Address: "segment.other", Kind: "segment"}}, nil); err != nil {
		t.Fatal(err)
	}
	if stale, _ := planner.Stale(ctx, back, cfg, st); len(stale) != 1 || !strings.Contains(stale[0], "serial") {
		t.Errorf("plan not stale after a state write: %v", stale)
	}
}

func TestDiff(t *testing.T) {
	ctx := context.Background()
	_, cfg, st := setup(t)
	p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Apply is a later issue: record what it would, by hand.
	var objs []state.Object
	for _, c := range p.Changes {
		objs = append(objs, state.Object{Address: c.Address, Kind: c.Kind, Attrs: c.After})
	}
	objs = append(objs, state.Object{Address: "trigger.gone", Kind: "trigger", Attrs: map[string]string{"on": `"x"`}})
	for i := range objs {
		if objs[i].Address == "segment.big" {
			objs[i].Attrs = map[string]string{"from": "source.customers", "where": `"customer.ltv >= 50.0"`}
		}
	}
	if _, err := st.WriteObjects(ctx, objs, nil); err != nil {
		t.Fatal(err)
	}
	p, diags = planner.Make(ctx, cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	seg := change(t, p, "segment.big")
	if seg.Action != planner.Update || len(seg.Attrs) != 1 || seg.Attrs[0].Before != `"customer.ltv >= 50.0"` || seg.Attrs[0].After != `"customer.ltv >= 100.0"` {
		t.Errorf("segment.big: %+v", seg)
	}
	if c := change(t, p, "trigger.gone"); c.Action != planner.Delete {
		t.Errorf("trigger.gone: %s", c.Action)
	}
	if c := change(t, p, "campaign.promo"); c.Action != planner.NoOp || c.Campaign != nil {
		t.Errorf("unchanged campaign: %s", c.Action)
	}
	// -target limits the plan.
	p, _ = planner.Make(ctx, cfg, st, planner.Options{Now: now, Targets: []string{"segment"}})
	for _, c := range p.Changes {
		if c.Kind != "segment" {
			t.Errorf("-target segment planned %s", c.Address)
		}
	}

	// A campaign that started sending cannot change, whatever herald
	// apply or herald campaign made of it since; one that never did can.
	for _, tc := range []struct {
		status  string
		started bool
		hint    string
	}{
		{"sending", true, "create a new campaign block"},
		{"sent", true, "create a new campaign block"},
		{"scheduled", true, "herald campaign pause"},
		{"paused", true, "herald campaign cancel"},
		{"cancelled", true, "never sent again"},
		{"active", false, ""},
	} {
		for i := range objs {
			if objs[i].Address == "campaign.promo" {
				objs[i].Status = tc.status
				objs[i].Attrs = map[string]string{"channel": `"email"`}
			}
		}
		if _, err := st.WriteObjects(ctx, objs, nil); err != nil {
			t.Fatal(err)
		}
		_, diags = planner.Make(ctx, cfg, st, planner.Options{Now: now})
		if got := diags.HasErrors() && strings.Contains(diags.Error(), "has started sending"); got != tc.started {
			t.Errorf("status %s: campaign-started error = %v, want %v (%v)", tc.status, got, tc.started, diags)
		}
		if tc.started && !strings.Contains(diags.Error(), tc.hint) {
			t.Errorf("status %s: the detail does not say %q: %v", tc.status, tc.hint, diags)
		}
	}
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}

// appliedState records in the state what an apply of the plan would have,
// with campaign.promo in status and the ledger holding its deferred sends.
func appliedState(t *testing.T, cfg *lang.Config, st state.Backend, status string, deferred int) {
	t.Helper()
	ctx := context.Background()
	p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var objs []state.Object
	for _, c := range p.Changes {
		o := state.Object{Address: c.Address, Kind: c.Kind, Attrs: c.After}
		if c.Address == "campaign.promo" {
			o.Status = status
		}
		objs = append(objs, o)
	}
	if _, err := st.WriteObjects(ctx, objs, nil); err != nil {
		t.Fatal(err)
	}
	var sends []state.Send
	for i := range deferred {
		sends = append(sends, state.Send{Key: "k" + strconv.Itoa(i), Campaign: "campaign.promo", CustomerID: "c" + strconv.Itoa(i),
			Channel: "email", Provider: "outbox.mail", Status: state.SendDeferred, DueAt: now.Add(time.Hour)})
	}
	sends = append(sends, state.Send{Key: "done", Campaign: "campaign.promo", CustomerID: "c9", Channel: "email", Provider: "outbox.mail", Status: state.SendSent})
	if err := st.RecordSends(ctx, sends); err != nil {
		t.Fatal(err)
	}
}

// A template sent by a campaign that still has sends to make cannot
// change: each message is rendered from it when it goes out.
func TestTemplateOfStartedCampaign(t *testing.T) {
	for _, tc := range []struct {
		status string
		err    bool
	}{
		{"scheduled", true},
		{"sending", true},
		{"paused", true},
		{"sent", false},
		{"cancelled", false},
		{"none", false},
	} {
		t.Run(tc.status, func(t *testing.T) {
			_, cfg, st := setup(t)
			appliedState(t, cfg, st, tc.status, 3)
			cfg.Templates["t"].Parts["subject"].Source = "Hi again"
			p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
			if got := diags.HasErrors(); got != tc.err {
				t.Fatalf("error = %v, want %v: %v", got, tc.err, diags)
			}
			if !tc.err {
				if c := change(t, p, "template.t"); c.Action != planner.Update {
					t.Errorf("template.t: %s", c.Action)
				}
				return
			}
			d := diags[0]
			for _, want := range []string{"template.t is sent by campaign.promo", "create a new template block", "herald campaign cancel promo"} {
				if !strings.Contains(d.Summary+" "+d.Detail, want) {
					t.Errorf("the error does not say %q: %s: %s", want, d.Summary, d.Detail)
				}
			}
			if want := cfg.Templates["t"].DeclRange; d.Subject == nil || *d.Subject != want {
				t.Errorf("the error is at %v, want template.t's block (%v)", d.Subject, want)
			}
		})
	}
}

// Deleting a campaign that still has sends to make is an error until it
// is cancelled; any deleted campaign says what the ledger still holds.
func TestDeleteStartedCampaign(t *testing.T) {
	for _, tc := range []struct {
		status    string
		deferred  int
		err       bool
		sendsLeft int
	}{
		{"scheduled", 173, true, 0},
		{"sending", 2, true, 0},
		{"paused", 5, true, 0},
		{"cancelled", 0, false, 0},
		// Rows an operator's cancel has not reached yet still count.
		{"cancelled", 4, false, 4},
		{"sent", 0, false, 0},
	} {
		t.Run(tc.status+"/"+strconv.Itoa(tc.deferred), func(t *testing.T) {
			_, cfg, st := setup(t)
			appliedState(t, cfg, st, tc.status, tc.deferred)
			delete(cfg.Campaigns, "promo")
			p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
			if got := diags.HasErrors(); got != tc.err {
				t.Fatalf("error = %v, want %v: %v", got, tc.err, diags)
			}
			if tc.err {
				msg := diags.Error()
				for _, want := range []string{"campaign.promo has started sending and cannot be deleted", "herald campaign cancel promo first", strconv.Itoa(tc.deferred) + " sends left"} {
					if !strings.Contains(msg, want) {
						t.Errorf("the error does not say %q: %s", want, msg)
					}
				}
				return
			}
			c := change(t, p, "campaign.promo")
			if c.Action != planner.Delete || c.SendsLeft != tc.sendsLeft {
				t.Errorf("campaign.promo: %s with %d sends left, want delete with %d", c.Action, c.SendsLeft, tc.sendsLeft)
			}
			var text bytes.Buffer
			planner.WriteText(&text, p, false)
			want := "no sends left in the ledger"
			if tc.sendsLeft > 0 {
				want = strconv.Itoa(tc.sendsLeft) + " sends left in the ledger will be skipped"
			}
			if !strings.Contains(text.String(), "- campaign.promo  (delete)   "+want) || !strings.Contains(text.String(), `- channel         = "email"`) {
				t.Errorf("text plan:\n%s", text.String())
			}
		})
	}
}

// A -target or -exclude that matches nothing is an error with a did you
// mean, not a silent empty plan.
func TestSelectionMatchesNothing(t *testing.T) {
	_, cfg, st := setup(t)
	if _, err := st.WriteObjects(context.Background(), []state.Object{{Address: "trigger.gone", Kind: "trigger"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		targets, excludes []string
		want              string // "" for no error
	}{
		{[]string{"campaign.promo"}, nil, ""},
		{[]string{"campaign"}, nil, ""},
		{[]string{"provider.files"}, nil, ""},
		{[]string{"consent"}, nil, ""},
		{[]string{"herald"}, nil, ""},
		{[]string{"trigger.gone"}, nil, ""}, // only in the state: it is being deleted
		{nil, []string{"audience"}, ""},
		{[]string{"campaign.nonexistent"}, nil, "-target=campaign.nonexistent matches nothing"},
		{[]string{"campaign.prommo"}, nil, "Did you mean campaign.promo?"},
		{[]string{"campaigns"}, nil, "Did you mean campaign?"},
		{nil, []string{"segment.bigg"}, "-exclude=segment.bigg matches nothing"},
		{nil, []string{"nothing_like_it"}, "Give an address such as campaign.NAME, or a kind"},
		{[]string{"campaign.promo"}, []string{"trigger"}, ""},
	} {
		_, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now, Targets: tc.targets, Excludes: tc.excludes})
		got := ""
		if diags.HasErrors() {
			got = diags.Error()
		}
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("-target %v -exclude %v: error %q, want %q", tc.targets, tc.excludes, got, tc.want)
		}
	}
}

// Changes to the herald block are in the diff: every message is rendered
// with its sender and public URL. E-mail addresses are not shown.
func TestHeraldBlockDiff(t *testing.T) {
	ctx := context.Background()
	_, cfg, st := setup(t)
	appliedState(t, cfg, st, "sent", 0)
	cfg.Herald.Sender.Name = "Acme Corp"
	cfg.Herald.Sender.Email = "hello@acme.example"
	cfg.Herald.PublicURL = "https://go.acme.example"
	p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := change(t, p, "herald")
	got := map[string]planner.AttrChange{}
	for _, a := range c.Attrs {
		got[a.Name] = a
	}
	if c.Action != planner.Update || len(c.Attrs) != 3 ||
		got["sender.name"].After != `"Acme Corp"` || got["public_url"].After != `"https://go.acme.example"` ||
		!strings.HasPrefix(got["sender.email"].After, "(an address at acme.example, sha256:") {
		t.Errorf("herald: %s %+v", c.Action, c.Attrs)
	}
	js, _ := planner.MarshalJSON(p, nil)
	if strings.Contains(string(js), "@") {
		t.Errorf("the JSON plan shows an e-mail address:\n%s", js)
	}
	// The campaign was sent in full: nothing waits for the new sender.
	for _, w := range p.Warnings {
		if strings.Contains(w, "sends waiting") {
			t.Errorf("warning with no campaign waiting: %s", w)
		}
	}
}

// TestSenderChangeWarns: a sender or public_url change while a campaign's
// sends wait in the ledger warns that they go out with the new value.
func TestSenderChangeWarns(t *testing.T) {
	_, cfg, st := setup(t)
	appliedState(t, cfg, st, "scheduled", 3)
	cfg.Herald.Sender.Name = "Acme Corp"
	p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := "herald: sender.name changed while campaign.promo still has sends waiting; they go out with the new value."
	if !slices.Contains(p.Warnings, want) {
		t.Errorf("warnings %q, want %q", p.Warnings, want)
	}
}

// TestUnknownTimeZoneWarns: a time zone the IANA database does not have
// falls back to UTC, and the plan says so, naming the values, rather than
// moving send times and quiet hours silently.
func TestUnknownTimeZoneWarns(t *testing.T) {
	dir, cfg, st := setup(t)
	csv := strings.NewReplacer("Europe/Berlin", "Europe/Berln", "America/New_York", "Mars/Olympus").Replace(project["data/customers.csv"])
	if err := os.WriteFile(filepath.Join(dir, "data/customers.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var got []string
	for _, w := range p.Warnings {
		if strings.Contains(w, "time zone") {
			got = append(got, w)
		}
	}
	if len(got) != 1 || !strings.Contains(got[0], `2 customers`) || !strings.Contains(got[0], `"Europe/Berln", "Mars/Olympus"`) {
		t.Errorf("warnings about time zones: %q", got)
	}

	// With the zones corrected there is no warning.
	_, cfg, st = setup(t)
	p, _ = planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
	for _, w := range p.Warnings {
		if strings.Contains(w, "time zone") {
			t.Errorf("warning with known zones: %s", w)
		}
	}
}

// TestSensitiveProviderAttribute: a provider attribute whose value comes
// from a sensitive variable is shown as (sensitive), like a secret one,
// in the text and the JSON plan.
func TestSensitiveProviderAttribute(t *testing.T) {
	dir, _, st := setup(t)
	hook := `variable "hook_url" {
  type      = string
  sensitive = true
  default   = "https://hooks.example.com/T0KEN-s3cr3t"
}

provider "webhook" "alerts" {
  url = var.hook_url
}
`
	if err := os.WriteFile(filepath.Join(dir, "hook.hcl"), []byte(hook), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(dir, lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := change(t, p, "provider.webhook.alerts")
	var url string
	for _, a := range c.Attrs {
		if a.Name == "url" {
			url = a.After
		}
	}
	if url != "(sensitive)" {
		t.Errorf("url in the plan: %q, want (sensitive)", url)
	}
	var text strings.Builder
	planner.WriteText(&text, p, false)
	js, _ := planner.MarshalJSON(p, nil)
	if strings.Contains(text.String()+string(js), "s3cr3t") {
		t.Error("the plan shows the sensitive variable's value")
	}
}
