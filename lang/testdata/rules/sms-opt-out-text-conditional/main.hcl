# The opt-out text is inside {{ if }}: some recipients would not get it.
herald {
  public_url = "https://herald.acme-outdoor.example"
  sender {
    name           = "Acme Outdoor"
    email          = "news@acme-outdoor.example"
    postal_address = "100 Main St, Springfield, OR 97477, USA"
  }
}

provider "files" "cdp" {
  dir = "data"
}

provider "outbox" "sms" {
  dir    = ".herald/outbox-sms"
  format = "jsonl"
}

schema "customer" {
  field "id" {
    type = string
  }
  field "phone" {
    pii = "phone"
  }
  field "timezone" {
    type = string
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
  channel "sms" {
    basis       = "consent"
    opt_in      = "double"
    quiet_hours = "21:00-08:00"
  }
}

segment "high_value" {
  from  = source.customers
  where = "customer.ltv >= 500.0"
}

template "restock" {
  channel = "sms"
  body    = "{{ sender.name }}: winter boots are back in stock.{{ if customer.ltv > 5.0 }} Reply STOP to opt out.{{ end }}"
}

campaign "boot_restock" {
  audience    = segment.high_value
  channel     = "sms"
  via         = provider.outbox.sms
  purpose     = "marketing"
  legal_basis = "consent"
  frequency_cap {
    limit = 1
    per   = "168h"
  }
  schedule {
    at       = "2026-12-01T10:00"
    timezone = "recipient"
  }
  variant "a" {
    weight   = 100
    template = template.restock
  }
}
