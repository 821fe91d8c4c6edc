package executor

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/state"
)

// quickstartSubjects is a fixed part of the subject of each template of
// the quickstart's e-mail campaigns, by campaign and variant: what tells
// which variant a message was rendered from.
var quickstartSubjects = map[string]string{
	"campaign.winback_dec/a":      "we miss you",
	"campaign.winback_dec/b":      "15% off your next trip",
	"campaign.gear_guide/default": "Your winter gear guide",
}

// TestQuickstartEndToEnd plans and applies a copy of examples/quickstart
// as make demo does (everything but the ad audience, which needs
// credentials), on both state backends: the outboxes hold exactly the
// plan's recipients due now, each once, with their planned variant and
// their own address; those scheduled later are deferred rows in the
// ledger and not in an outbox; and a second plan and apply send nothing.
func TestQuickstartEndToEnd(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			copyQuickstart(t, "../examples/quickstart", dir)
			if sb := b.block(t); sb != "" {
				p := filepath.Join(dir, "herald.hcl")
				hcl, _ := os.ReadFile(p)
				s := strings.Replace(string(hcl), "state \"sqlite\" {\n    path = \".herald/state.db\"\n  }", sb, 1)
				if s == string(hcl) {
					t.Fatal("the quickstart's state block moved: update this test")
				}
				os.WriteFile(p, []byte(s), 0o644)
			}
			emails := quickstartEmails(t, filepath.Join(dir, "data", "customers.csv"))
			ctx := context.Background()
			cfg, st := load(t, dir)
			defer st.Close()
			p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: planNow, Excludes: []string{"audience"}})
			if diags.HasErrors() {
				t.Fatalf("planning: %v", diags)
			}
			opts := Options{Now: func() time.Time { return planNow }, LookupEnv: env("HERALD_LINK_KEY", "k")}
			res, err := Apply(ctx, cfg, st, p, opts)
			if err != nil {
				t.Fatal(err)
			}

			// What the plan says is due now, and what waits.
			type want struct {
				campaign string
				r        planner.Recipient
			}
			due := map[string]want{}
			var deferred, campaigns int
			for _, c := range p.Changes {
				if c.Campaign == nil || len(c.Campaign.Recipients) == 0 {
					continue
				}
				campaigns++
				prefix := KeyPrefix(c.Address, p.ConfigDigest)
				rows := ledger(t, st, c.Address)
				for i, r := range c.Campaign.Recipients {
					k := Key(prefix, i)
					row := rows[k]
					if row.CustomerID != r.CustomerID || row.Variant != r.Variant {
						t.Fatalf("%s: ledger row %+v, planned %+v", k, row, r)
					}
					if r.SendAt > planNow.Unix() {
						deferred++
						if row.Status != state.SendDeferred || row.DueAt.Unix() != r.SendAt {
							t.Errorf("%s %s scheduled for %d: ledger %s due %v", c.Address, k, r.SendAt, row.Status, row.DueAt)
						}
						continue
					}
					if row.Status != state.SendSent {
						t.Errorf("%s %s: ledger says %s (%s)", c.Address, k, row.Status, row.Error)
					}
					due[k] = want{c.Address, r}
				}
			}
			if campaigns < 3 || len(due) == 0 || deferred == 0 {
				t.Fatalf("the quickstart plan has %d campaigns with recipients, %d due now, %d deferred: the test covers too little", campaigns, len(due), deferred)
			}
			tot := res.Totals()
			if tot.Sent != int64(len(due)) || tot.Deferred != int64(deferred) || tot.Failed != 0 {
				t.Errorf("apply counted %+v; the plan has %d due and %d deferred", tot, len(due), deferred)
			}

			// The outboxes: every message once, each in the plan, due now.
			got := map[string]bool{}
			check := func(key, campaign, customer, variant, to, subject string) {
				w, ok := due[key]
				switch {
				case !ok:
					t.Errorf("message %s (%s, customer %s) is not a send the plan has due now", key, campaign, customer)
				case got[key]:
					t.Errorf("message %s is in the outbox twice", key)
				case campaign != "" && campaign != w.campaign, customer != "" && customer != w.r.CustomerID:
					t.Errorf("message %s is for %s of %s, the plan says %s of %s", key, customer, campaign, w.r.CustomerID, w.campaign)
				case variant != w.r.Variant:
					t.Errorf("message %s is variant %q, the plan says %q", key, variant, w.r.Variant)
				case to != emails[w.r.CustomerID][0] && to != emails[w.r.CustomerID][1]:
					t.Errorf("message %s goes to %q, not customer %s", key, to, w.r.CustomerID)
				}
				got[key] = true
			}
			emlFiles, _ := filepath.Glob(filepath.Join(dir, ".herald", "outbox", "*.eml"))
			for _, f := range emlFiles {
				key := strings.TrimSuffix(filepath.Base(f), ".eml")
				raw, err := os.Open(f)
				if err != nil {
					t.Fatal(err)
				}
				m, err := mail.ReadMessage(raw)
				raw.Close()
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				to, _ := mail.ParseAddress(m.Header.Get("To"))
				subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
				w := due[key]
				variant := w.r.Variant
				if frag, ok := quickstartSubjects[w.campaign+"/"+variant]; !ok {
					variant = "(no subject known for " + w.campaign + " variant " + variant + ")"
				} else if !strings.Contains(subject, frag) {
					variant = "(the subject " + subject + " is not its template's)"
				}
				addr := ""
				if to != nil {
					addr = to.Address
				}
				check(key, "", "", variant, addr, subject)
			}
			if f, err := os.Open(filepath.Join(dir, ".herald", "outbox-sms", "messages.jsonl")); err == nil {
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					var m struct{ Key, Campaign, Variant, To, CustomerID string }
					var raw map[string]string
					json.Unmarshal(sc.Bytes(), &raw)
					m.Key, m.Campaign, m.Variant, m.To, m.CustomerID = raw["key"], raw["campaign"], raw["variant"], raw["to"], raw["customer_id"]
					check(m.Key, m.Campaign, m.CustomerID, m.Variant, m.To, "")
				}
				f.Close()
			}
			for k, w := range due {
				if !got[k] {
					t.Errorf("planned message %s to %s (%s) is not in the outbox", k, w.r.CustomerID, w.campaign)
				}
			}

			// Plan and apply again: nothing more is sent.
			p2, diags := planner.Make(ctx, cfg, st, planner.Options{Now: planNow, Excludes: []string{"audience"}})
			if diags.HasErrors() {
				t.Fatalf("planning again: %v", diags)
			}
			res2, err := Apply(ctx, cfg, st, p2, opts)
			if err != nil {
				t.Fatal(err)
			}
			if c := res2.Totals(); c.Sent != 0 || c.Failed != 0 {
				t.Errorf("the second apply sent %d and failed %d", c.Sent, c.Failed)
			}
			emlAgain, _ := filepath.Glob(filepath.Join(dir, ".herald", "outbox", "*.eml"))
			if len(emlAgain) != len(emlFiles) {
				t.Errorf("the second apply wrote %d more .eml files", len(emlAgain)-len(emlFiles))
			}
			t.Logf("%d campaigns, %d messages sent, %d deferred", campaigns, len(due), deferred)
		})
	}
}

// quickstartEmails maps customer ids to their e-mail address and phone.
func quickstartEmails(t *testing.T, path string) map[string][2]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	out := map[string][2]string{}
	for _, r := range rows[1:] {
		out[r[col["id"]]] = [2]string{r[col["email"]], r[col["phone"]]}
	}
	return out
}

// copyQuickstart copies the project's files, leaving out what make demo
// leaves behind (.herald, plan.herald).
func copyQuickstart(t *testing.T, from, to string) {
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if rel == ".herald" || rel == "plan.herald" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
