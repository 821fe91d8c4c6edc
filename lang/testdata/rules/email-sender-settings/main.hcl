# The template has the link and the address, but the herald block sets
# neither public_url, where the link is served, nor the postal address.
herald {
  sender {
    name           = "Acme Outdoor"
    email          = "news@acme-outdoor.example"
  }
}

provider "files" "cdp" {
  dir = "data"
}

provider "outbox" "local" {
  dir    = ".herald/outbox"
  format = "eml"
}

schema "customer" {
  field "id" {
    type = string
  }
  field "email" {
    pii = "email"
  }
  field "ltv" {
    type = double
  }
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
    basis  = "consent"
    opt_in = "single"
  }
}

segment "high_value" {
  from  = source.customers
  where = "customer.ltv >= 500.0"
}

template "news" {
  channel = "email"
  subject = "News from Acme Outdoor"
  html    = "<p>Hello!</p><p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> {{ sender.postal_address }}</p>"
}

campaign "december_news" {
  audience    = segment.high_value
  channel     = "email"
  via         = provider.outbox.local
  purpose     = "marketing"
  legal_basis = "consent"
  holdout     = 0.05
  frequency_cap {
    limit = 1
    per   = "168h"
  }
  schedule {
    at       = "2026-12-01T09:00"
    timezone = "America/New_York"
  }
  variant "a" {
    weight   = 100
    template = template.news
  }
}
