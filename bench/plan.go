// Package bench holds herald's end-to-end benchmarks and the generated
// projects they run on. Run them with make bench; the figures are recorded
// in BENCHMARKS.md.
package bench

import (
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/internal/datagen"
)

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
// their consent records) into dir.
func WritePlanProject(dir string, rows int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(PlanProject), 0o644); err != nil {
		return err
	}
	return datagen.Generate(filepath.Join(dir, "data"), datagen.Options{Customers: rows, Seed: 1, EventsPerCustomer: -1})
}
