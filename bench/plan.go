// Package bench holds herald's end-to-end benchmarks and the generated
// projects they run on. Run them with make bench; the figures are recorded
// in BENCHMARKS.md.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldhq/herald/internal/datagen"
	"github.com/heraldhq/herald/state"
)

// PlanNow is the plan benchmark's fixed time: the generator's reference
// time. The binary is run with -now set to it.
var PlanNow = datagen.DefaultNow

// PlanProject is the project the plan benchmark plans: a four-clause
// segment, email consent and a frequency cap, over generated customers.
// cmd/benchplan writes the same project for timing the real binary.
const PlanProject = `
herald {
  public_url = "https://herald.acme-outdoor.example"
  sender {
    name           = "Acme Outdoor"
    email          = "news@acme-outdoor.example"
    postal_address = "100 Main St, Springfield, OR 97477, USA"
  }
}
provider "files" "cdp" { dir = "data" }
provider "outbox" "mail" { dir = ".herald/outbox" }
schema "customer" {
  field "id"                { type = string }
  field "email"             { pii = "email" }
  field "phone"             { pii = "phone" }
  field "first_name"        { pii = "name" }
  field "country"           { type = string }
  field "timezone"          { type = string }
  field "ltv"               { type = double }
  field "last_purchase_at"  { type = timestamp }
  field "support_case_open" { type = bool }
  field "age_range"         { type = string }
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
}
segment "lapsed_high_value" {
  from  = source.customers
  where = "customer.ltv >= 500.0 && now - customer.last_purchase_at > duration('2160h') && customer.country in ['US', 'CA', 'GB'] && !customer.support_case_open"
}
template "winback" {
  channel = "email"
  subject = "We miss you"
  html    = "<p>{{ customer.first_name ?? 'there' }}</p><p>{{ sender.postal_address }} <a href='{{ unsubscribe_url }}'>unsubscribe</a></p>"
}
campaign "winback" {
  audience    = segment.lapsed_high_value
  channel     = "email"
  via         = provider.outbox.mail
  legal_basis = "consent"
  frequency_cap {
    limit = 2
    per   = "168h"
  }
  template = template.winback
}
`

// WritePlanProject writes PlanProject and rows generated customers (with
// their consent records) into dir, and a state (.herald/state.db, where
// herald looks for it) whose ledger holds a week of earlier sends, so that
// the frequency cap has something to count (SeedLedger).
func WritePlanProject(dir string, rows int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(PlanProject), 0o644); err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	if err := datagen.Generate(data, datagen.Options{Customers: rows, Seed: 1, EventsPerCustomer: -1}); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := state.OpenSQLite(ctx, filepath.Join(dir, ".herald", "state.db"))
	if err != nil {
		return err
	}
	if _, err := SeedLedger(ctx, st, filepath.Join(data, datagen.CustomersFile), PlanNow); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}

// Ledger history that SeedLedger writes.
const (
	// SeedCampaign is the earlier campaign whose sends fill the ledger.
	SeedCampaign = "campaign.weekly_news"
	// SeedPercent of the customers got 1, 2 or 3 (equally often) e-mails
	// from it in the week before PlanNow: with PlanProject's cap of 2 per
	// 168h, a third of them (about 8 % of everyone) are capped.
	SeedPercent = 25
)

// SeedLedger records, in st's ledger, the e-mails an earlier campaign
// sent in the week before now to SeedPercent of the customers in the
// customers CSV at path: 1 to 3 each, chosen by a hash of the customer id
// so the history is the same every time. It returns how many customers
// got 2 or more, which a cap of 2 per week removes.
func SeedLedger(ctx context.Context, st state.Backend, path string, now time.Time) (capped int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(bufio.NewReaderSize(f, 1<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return 0, fmt.Errorf("%s: no header: %v", path, sc.Err())
	}
	if !bytes.HasPrefix(sc.Bytes(), []byte("id,")) {
		return 0, fmt.Errorf("%s: the first column is not id", path)
	}
	const batch = 10_000
	sends := make([]state.Send, 0, batch)
	flush := func() error {
		err := st.RecordSends(ctx, sends)
		sends = sends[:0]
		return err
	}
	for sc.Scan() {
		line := sc.Bytes()
		id := line
		if i := bytes.IndexByte(line, ','); i >= 0 {
			id = line[:i]
		}
		h := fnv.New64a()
		h.Write(id)
		x := h.Sum64()
		if x%100 >= SeedPercent {
			continue
		}
		x /= 100
		n := 1 + int(x%3)
		x /= 3
		if n >= 2 {
			capped++
		}
		cid := string(id)
		for j := range n {
			// Spread over the week, an hour or more before now: every one
			// is inside the cap's window.
			ago := time.Duration(1+(x>>(8*j))%166) * time.Hour
			at := now.Add(-ago)
			sends = append(sends, state.Send{
				Key:        fmt.Sprintf("%s:%s:%d", SeedCampaign, cid, j),
				Campaign:   SeedCampaign,
				CustomerID: cid,
				Channel:    "email",
				Provider:   "outbox.mail",
				Status:     state.SendSent,
				CreatedAt:  at,
				UpdatedAt:  at,
			})
			if len(sends) == batch {
				if err := flush(); err != nil {
					return 0, err
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return capped, flush()
}
