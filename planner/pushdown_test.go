package planner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/state"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pgSource puts the test project's customers in a PostgreSQL table.
const pgSource = `
provider "postgres" "crm" {
  url = env("CRM_URL")
}
source "crm_customers" {
  from   = provider.postgres.crm
  table  = "customers"
  schema = schema.customer
  key    = "id"
}
segment "crm_big" {
  from  = source.crm_customers
  where = "customer.ltv >= 100.0"
}
segment "crm_vips" {
  from  = source.crm_customers
  where = "customer.vip"
}
segment "crm_odd" {
  from  = source.crm_customers
  where = "customer.email.matches('^[a-d]')"
}
campaign "crm_promo" {
  audience    = segment.crm_big
  exclude     = [segment.crm_vips]
  channel     = "email"
  via         = provider.outbox.mail
  legal_basis = "consent"
  frequency_cap {
    limit = 1
    per   = "7d"
  }
  template = template.t
}
campaign "crm_matches" {
  audience    = segment.crm_odd
  channel     = "email"
  via         = provider.outbox.mail
  legal_basis = "consent"
  template    = template.t
}
`

// TestPushdownPlan: the same customers in a CSV file and in a PostgreSQL
// table give the same funnel and the same recipients, with the segment run
// in the database where SQL can express it and in memory where it cannot.
func TestPushdownPlan(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE customers (id text PRIMARY KEY, email text, ltv double precision, vip boolean, timezone text)`); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(project["data/customers.csv"]), "\n")[1:]
	for _, line := range lines {
		f := strings.Split(line, ",")
		var vip any
		if f[3] != "" {
			vip = f[3] == "true"
		}
		if _, err := conn.Exec(ctx, `INSERT INTO customers VALUES ($1, $2, $3, $4, $5)`, f[0], f[1], f[2], vip, f[4]); err != nil {
			t.Fatal(err)
		}
	}

	dir, _, st := setup(t)
	if err := os.WriteFile(filepath.Join(dir, "crm.hcl"), []byte(pgSource), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(dir, lang.Options{LookupEnv: func(k string) (string, bool) {
		if k == "CRM_URL" {
			return url, true
		}
		return "", false
	}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := st.RecordSends(ctx, []state.Send{{Key: "k1", Campaign: "campaign.old", CustomerID: "c5", Channel: "email", Provider: "outbox.mail", Status: "sent", CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	p, diags := planner.Make(ctx, cfg, st, planner.Options{Now: now})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files := change(t, p, "campaign.promo").Campaign
	pg := change(t, p, "campaign.crm_promo").Campaign
	if pg.Evaluation != "pushed down to SQL" {
		t.Errorf("crm_promo evaluated %q", pg.Evaluation)
	}
	for i := range files.Funnel {
		if files.Funnel[i].Remain != pg.Funnel[i].Remain {
			t.Errorf("funnel step %s: files %d, postgres %d", files.Funnel[i].Name, files.Funnel[i].Remain, pg.Funnel[i].Remain)
		}
	}
	if ids(files.Recipients) != ids(pg.Recipients) || ids(pg.Recipients) == "" {
		t.Errorf("recipients: files %s, postgres %s", ids(files.Recipients), ids(pg.Recipients))
	}
	m := change(t, p, "campaign.crm_matches").Campaign
	if !strings.HasPrefix(m.Evaluation, "in memory: ") {
		t.Errorf("a matches() segment was evaluated %q; want in memory with a reason", m.Evaluation)
	}
	// a@ to d@ match; c2 and c4 have no email consent.
	if got := ids(m.Recipients); got != "c1,c3" {
		t.Errorf("crm_matches recipients %s, want c1,c3", got)
	}
}

func ids(rs []planner.Recipient) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.CustomerID)
	}
	return strings.Join(out, ",")
}
