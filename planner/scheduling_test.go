package planner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/state"
)

// TestRecipientsIndependentOfScheduling plans a source of several batches,
// unsorted and with ids repeated in other time zones, with one worker and
// with several: the pinned recipients must be the same, in id order.
func TestRecipientsIndependentOfScheduling(t *testing.T) {
	dir := t.TempDir()
	main := `
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
schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "ltv" { type = double }
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
    basis       = "consent"
    quiet_hours = "21:00-08:00"
  }
}
segment "big" {
  from  = source.customers
  where = "customer.ltv >= 10.0"
}
template "t" {
  channel = "email"
  subject = "Hi"
  html    = "{{ unsubscribe_url }} {{ sender.postal_address }}"
}
campaign "promo" {
  audience    = segment.big
  channel     = "email"
  via         = provider.outbox.mail
  legal_basis = "consent"
  holdout     = 0.1
  variant "a" {
    weight   = 1
    template = template.t
  }
  variant "b" {
    weight   = 2
    template = template.t
  }
}
`
	zones := []string{"UTC", "Asia/Tokyo", "America/New_York", "Europe/Berlin", "Nowhere/Bogus"}
	var cust, cons strings.Builder
	cust.WriteString("id,email,ltv,timezone\n")
	cons.WriteString("customer_id,channel,status,method,recorded_at,policy_version\n")
	const n = 30_000 // several batches of the scan
	for i := 0; i < n; i++ {
		k := (i * 7919) % n // unsorted
		fmt.Fprintf(&cust, "c%d,c%d@example.com,%d,%s\n", k, k, k%100, zones[k%len(zones)])
		if k%50 == 0 { // the same id again, in other zones
			fmt.Fprintf(&cust, "c%d,c%d@example.org,%d,%s\n", k, k, k%100, zones[(k+1)%len(zones)])
			fmt.Fprintf(&cust, "c%d,c%d@example.net,%d,%s\n", k, k, k%100, zones[(k+3)%len(zones)])
		}
		if k%3 != 0 {
			fmt.Fprintf(&cons, "c%d,email,granted,form,2026-01-01T00:00:00Z,1\n", k)
		}
	}
	files := map[string]string{"main.hcl": main, "data/customers.csv": cust.String(), "data/consents.csv": cons.String()}
	for name, body := range files {
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
	defer st.Close()
	var first []planner.Recipient
	for _, par := range []int{1, 2, 5} {
		p, diags := planner.Make(context.Background(), cfg, st, planner.Options{Now: now, Parallelism: par})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		rec := change(t, p, "campaign.promo").Campaign.Recipients
		if len(rec) < n/2 {
			t.Fatalf("parallelism %d: %d recipients, want over %d", par, len(rec), n/2)
		}
		if !slices.IsSortedFunc(rec, func(a, b planner.Recipient) int { return strings.Compare(a.CustomerID, b.CustomerID) }) {
			t.Fatalf("parallelism %d: recipients are not in id order", par)
		}
		if first == nil {
			first = rec
			continue
		}
		if !reflect.DeepEqual(rec, first) {
			t.Fatalf("parallelism %d: the recipients differ from those with one worker", par)
		}
	}
	repeats := 0
	for i := 1; i < len(first); i++ {
		if first[i].CustomerID == first[i-1].CustomerID {
			repeats++
		}
	}
	if repeats == 0 {
		t.Fatal("no repeated id reached the recipients: the test lost its point")
	}
}
