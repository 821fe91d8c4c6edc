# A herald project: who sends, where the customer data lives, who may be
# written to, and what they are sent. "herald validate" checks all of it;
# docs/language.md describes every block.

herald {
  public_url = "https://shop.example.com" # unsubscribe and preference links
  sender {
    name           = "Example Shop"
    email          = "news@shop.example.com"
    postal_address = "1 Example Street, Springfield, OR 97477, USA"
  }
}

# The outbox writes each message as an .eml file instead of sending it.
provider "outbox" "local" {
  dir    = ".herald/outbox"
  format = "eml"
}

# A directory of CSV and JSONL tables.
provider "files" "data" {
  dir = "data"
}

schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "first_name" { pii = "name" }
  field "country" { type = string }
  field "timezone" { type = string }
  field "ltv" { type = double }
  field "last_purchase_at" { type = timestamp }
}

source "customers" {
  from   = provider.files.data
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}

# customer_id, channel, status, method, recorded_at, policy_version
source "consents" {
  from  = provider.files.data
  table = "consents.csv"
}

consent {
  from = source.consents
  channel "email" {
    basis  = "consent"
    opt_in = "single"
  }
}

# Conditions are CEL over the schema's fields; template holes {{ … }} too,
# with ?? giving a fallback for an empty value.
segment "valued_customers" {
  from  = source.customers
  where = "customer.ltv >= 100.0"
}

template "welcome" {
  channel = "email"
  subject = "Thanks for shopping with us, {{ customer.first_name ?? \"friend\" }}"
  html    = file("templates/welcome.html")
}

campaign "welcome" {
  audience    = segment.valued_customers
  channel     = "email"
  via         = provider.outbox.local
  purpose     = "marketing"
  legal_basis = "consent"
  owner       = "marketing@shop.example.com"
  variant "a" {
    weight   = 100
    template = template.welcome
  }
}
