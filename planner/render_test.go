package planner_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/planner"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render from what the renderers print")

// golden compares got with testdata/render/name, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "render", name)
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
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what was rendered (go test -update rewrites it):\n%s", path, got)
	}
}

// samplePlan has one change of each sort a reviewer meets.
func samplePlan() *planner.Plan {
	longWhere := `"customer.ltv >= 400.0 && customer.country in ['DE', 'AT', 'CH', 'FR', 'IT', 'ES'] && customer.last_order_at < now - duration('2160h') && !customer.vip"`
	p := &planner.Plan{
		Version: planner.FormatVersion, Created: time.Date(2026, 11, 26, 15, 4, 5, 0, time.UTC), Now: time.Date(2026, 11, 26, 15, 4, 5, 0, time.UTC),
		ConfigDigest: "9c1b", Lineage: "5f0c2a9e", Serial: 7,
		Changes: []*planner.Change{
			{Address: "campaign.winback_dec", Kind: "campaign", Action: planner.Create,
				After: map[string]string{"schedule": "2026-12-01 09:00 recipient-local"},
				Attrs: []planner.AttrChange{
					{Name: "audience", After: "segment.lapsed_high_value"},
					{Name: "channel", After: `"email"`},
					{Name: "description", After: `"` + strings.Repeat("Win back customers who have not ordered in 90 days. ", 4) + `"`},
					{Name: "schedule", After: "2026-12-01 09:00 recipient-local"},
					{Name: "variant.a", After: "weight=1 template.winback_a"},
					{Name: "variant.b", After: "weight=1 template.winback_b"},
				},
				Campaign: &planner.CampaignPlan{Channel: "email", Provider: "smtp.main",
					Funnel: []planner.Step{
						{Name: "in_segment", Label: "in segment.lapsed_high_value", Remain: 48210},
						{Name: "no_consent", Label: "no email consent", Removed: 21400, Remain: 26810},
						{Name: "frequency_cap", Label: "frequency cap (2 per 168h)", Removed: 812, Remain: 25998},
						{Name: "excluded", Label: "excluded (segment.recent_buyers)", Removed: 133, Remain: 25865},
						{Name: "holdout", Label: "holdout 5%", Removed: 1293, Remain: 24572},
					},
					Variants: []planner.VariantCount{{Name: "a", Count: 12301}, {Name: "b", Count: 12271}},
					Deferred: 310, Evaluation: "pushed down to SQL"}},
			{Address: "segment.lapsed_high_value", Kind: "segment", Action: planner.Update,
				Attrs: []planner.AttrChange{{Name: "where", Before: longWhere, After: strings.Replace(longWhere, "!customer.vip", "customer.vip == false", 1)}}},
			{Address: "segment.recent_buyers", Kind: "segment", Action: planner.Update,
				Attrs: []planner.AttrChange{{Name: "owner", Before: `"crm"`, After: `"growth"`}, {Name: "labels", After: `["q4"]`}}},
			{Address: "audience.lapsed_seed", Kind: "audience", Action: planner.Sync,
				Audience: &planner.AudiencePlan{Provider: "google_ads.main", Members: 5117, Add: 1204, Remove: 87,
					Funnel: []planner.Step{{Name: "in_segment", Label: "in segment.lapsed_high_value", Remain: 5400}, {Name: "no_consent", Label: "no ads consent", Removed: 283, Remain: 5117}}}},
			{Address: "trigger.old_welcome", Kind: "trigger", Action: planner.Delete, JourneysInFlight: 312,
				Attrs: []planner.AttrChange{{Name: "on", Before: `"signup"`}, {Name: "step.0.hello", Before: "wait=0s send=template.welcome via=provider.smtp.main"}}},
			{Address: "campaign.first_snow_sms", Kind: "campaign", Action: planner.Delete, SendsLeft: 173,
				Attrs: []planner.AttrChange{{Name: "channel", Before: `"sms"`}, {Name: "via", Before: "provider.twilio.main"}}},
			{Address: "template.t", Kind: "template", Action: planner.NoOp},
			{Address: "provider.smtp.main", Kind: "provider", Action: planner.NoOp},
		},
		Warnings: []string{"source.customers: skipped 2 bad rows (on_error = \"skip\"); the first: customers.csv row 9, column \"ltv\": \"lots\" is not a double"},
	}
	planner.Summarize(p)
	return p
}

func TestRenderGolden(t *testing.T) {
	p := samplePlan()
	var text, md bytes.Buffer
	if err := planner.WriteText(&text, p, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.txt", text.Bytes())
	if err := planner.WriteMarkdown(&md, p, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.md", md.Bytes())
	js, err := planner.MarshalJSON(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.json", append(js, '\n'))

	// No-ops are counted, not listed; long values are cut in text only.
	if strings.Contains(text.String(), "template.t") || !strings.Contains(text.String(), "· 2 unchanged") {
		t.Errorf("no-ops: text plan:\n%s", text.String())
	}
	if !strings.Contains(string(js), "Win back customers who have not ordered in 90 days. Win back customers who have not ordered in 90 days. Win back") {
		t.Errorf("the JSON plan cut a long value short")
	}
}

// bigPlan is a plan of a large project: campaigns reaching from a few to
// many thousands, with their segments and templates.
func bigPlan(campaigns int) *planner.Plan {
	p := &planner.Plan{Version: planner.FormatVersion}
	for i := range campaigns {
		// Recipients vary, and not in address order.
		msgs := int64((i*7919)%campaigns*37 + 1)
		p.Changes = append(p.Changes, &planner.Change{
			Address: fmt.Sprintf("campaign.generated_campaign_%04d", i), Kind: "campaign", Action: planner.Create,
			Attrs: []planner.AttrChange{{Name: "audience", After: fmt.Sprintf("segment.generated_segment_%04d", i)}, {Name: "channel", After: `"email"`}},
			Campaign: &planner.CampaignPlan{Channel: "email", Provider: "smtp.main",
				Funnel:   []planner.Step{{Name: "in_segment", Label: "in segment", Remain: msgs * 2}, {Name: "no_consent", Label: "no email consent", Removed: msgs, Remain: msgs}},
				Variants: []planner.VariantCount{{Name: "default", Count: msgs}}},
		})
		p.Changes = append(p.Changes, &planner.Change{
			Address: fmt.Sprintf("segment.generated_segment_%04d", i), Kind: "segment", Action: planner.Create,
			Attrs: []planner.AttrChange{{Name: "where", After: `"customer.ltv >= 100.0"`}},
		})
		if i%5 == 0 {
			p.Changes = append(p.Changes, &planner.Change{
				Address: fmt.Sprintf("template.generated_template_%04d", i), Kind: "template", Action: planner.Update,
				Attrs: []planner.AttrChange{{Name: "subject", Before: `"Hello"`, After: `"Hi"`}},
			})
		}
	}
	planner.Summarize(p)
	return p
}

// A 1,000-campaign plan stays under GitHub's limit, and shows the
// campaigns that message the most people, with their funnel counts.
func TestMarkdownLargePlan(t *testing.T) {
	for _, size := range []int{10, 1000, 5000} {
		p := bigPlan(size)
		var md bytes.Buffer
		if err := planner.WriteMarkdown(&md, p, nil); err != nil {
			t.Fatal(err)
		}
		out := md.String()
		if len(out) >= 60000 {
			t.Errorf("%d campaigns: %d characters, want under 60,000", size, len(out))
		}
		// The campaign with the most recipients, and the next ones.
		var top, shown int
		var best int64
		for _, c := range p.Changes {
			if c.Campaign != nil && c.Campaign.Messages() > best {
				best = c.Campaign.Messages()
			}
		}
		rows := regexp.MustCompile("(?m)^\\| `campaign\\.[a-z_0-9]+` \\| \\+ create \\| ([0-9,]+) \\| ([0-9,]+) \\| ([0-9,]+) messages \\|$").FindAllStringSubmatch(out, -1)
		for _, r := range rows {
			shown++
			if r[3] == fmtCount(best) {
				top++
			}
		}
		if top != 1 {
			t.Errorf("%d campaigns: the campaign with the most recipients (%s) is not shown", size, fmtCount(best))
		}
		if want := min(size, 400); shown < want {
			t.Errorf("%d campaigns: %d campaigns shown, want at least %d", size, shown, want)
		}
		if size > 400 && !strings.Contains(out, "more campaigns and audiences, reaching fewer people") {
			t.Errorf("%d campaigns: the campaigns left out are not counted", size)
		}
		if size > 400 && !strings.Contains(out, "| segment | create | "+fmt.Sprint(size)+" |") {
			t.Errorf("%d campaigns: the other changes are not counted by kind", size)
		}
		if size == 10 && !strings.Contains(out, "| `segment.generated_segment_0003` | + create |") {
			t.Errorf("a small plan does not list every change:\n%s", out)
		}
		if !strings.HasSuffix(out, planner.SummaryLine(p)+"\n") {
			t.Errorf("%d campaigns: the comment does not end with the summary line", size)
		}
	}
}

func fmtCount(x int64) string {
	s := fmt.Sprint(x)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
