herald {
  state "sqlite" {                                         # the default when absent
    path = ".herald/state.db"
  }
  # state "postgres" { url = env("HERALD_STATE_URL") }
  public_url = "https://herald.acme-outdoor.example"      # unsubscribe and preference links
  sender {
    name           = "Acme Outdoor"
    email          = "news@acme-outdoor.example"
    postal_address = "100 Main St, Springfield, OR 97477, USA"
  }
}

provider "files" "cdp" {
  dir = "data"
}

provider "smtp" "main" {
  host     = "smtp.example.com"
  port     = 587
  username = env("SMTP_USER")
  password = env("SMTP_PASSWORD")
}

provider "twilio" "main" {
  account_sid = env("TWILIO_ACCOUNT_SID")
  auth_token  = env("TWILIO_AUTH_TOKEN")
  from        = "+15415550100"
}

provider "google_ads" "main" {
  customer_id = "1234567890"
}

schema "customer" {
  field "id"         { type = string }
  field "email"      { pii = "email" }                      # type string when not given
  field "phone"      { pii = "phone" }
  field "first_name" { pii = "name" }
  field "country"    { type = string }
  field "timezone"   { type = string }
  field "ltv"        { type = double }
  field "last_purchase_at"  { type = timestamp }
  field "support_case_open" { type = bool }
  field "age_range" {                                      # lint: no targeting on it without a stated reason
    type      = string
    sensitive = true
  }
}

schema "event" {
  field "id"          { type = string }
  field "customer_id" { type = string }
  field "type"        { type = string }
  field "path"        { type = string }
  field "at"          { type = timestamp }
}

source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}

source "events" {
  from   = provider.files.cdp
  table  = "events.jsonl"
  schema = schema.event
  key    = "id"
}

source "consents" {                                        # customer_id, channel, status, method, recorded_at, policy_version
  from  = provider.files.cdp
  table = "consents.csv"
}

consent {
  from = source.consents
  channel "email" {
    basis  = "consent"
    opt_in = "single"
  }
  channel "sms" {
    basis       = "consent"
    opt_in      = "double"
    quiet_hours = "21:00-08:00"
  }
  channel "ads" {                                          # ad audiences: everyone who has not objected
    basis = "legitimate_interest"
  }
}

segment "lapsed_high_value" {
  from  = source.customers
  where = "customer.ltv >= 500.0 && now - customer.last_purchase_at > duration('2160h')"
}

segment "recent_buyers" {
  from  = source.customers
  where = "now - customer.last_purchase_at < duration('168h')"
}

# Holes are CEL, type-checked against the schema. Every template also sees `sender`,
# `unsubscribe_url` and `recipient`; marketing email must show {{ unsubscribe_url }} and
# {{ sender.postal_address }}, marketing SMS must tell how to opt out.
template "winback_a" {
  channel = "email"
  subject = "{{ customer.first_name }}, we miss you"
  html    = file("templates/winback_a.html")
}

template "winback_b" {
  channel = "email"
  subject = "15% off your next trip, {{ customer.first_name }}"
  html    = file("templates/winback_b.html")
}

template "cart_email" {
  channel = "email"
  subject = "You left something behind"
  html    = file("templates/cart.html")
}

template "cart_sms" {
  channel = "sms"
  body    = "Still thinking it over, {{ customer.first_name }}? Your cart is saved. Reply STOP to opt out."
}

campaign "winback_dec" {
  audience    = segment.lapsed_high_value
  exclude     = [segment.recent_buyers]
  channel     = "email"
  via         = provider.smtp.main
  purpose     = "marketing"
  legal_basis = "consent"
  holdout     = 0.05
  frequency_cap {
    limit = 2
    per   = "168h"
  }
  schedule {
    at       = "2026-12-01T09:00"
    timezone = "recipient"
  }
  variant "a" {
    weight   = 50
    template = template.winback_a
  }
  variant "b" {
    weight   = 50
    template = template.winback_b
  }
  utm {
    source = "herald"
    medium = "email"
  }
}

audience "lapsed_seed" {                                   # ad-platform list, synced by diff
  segment  = segment.lapsed_high_value
  to       = provider.google_ads.main
  match_on = ["email", "phone"]                            # normalized, SHA-256 hashed before leaving
}

trigger "cart_abandon" {
  from = source.events
  on   = "page_view"
  when = "event.path.startsWith('/cart')"
  threshold {                                              # 3 visits in 24h ...
    count  = 3
    within = "24h"
  }
  unless      = "event.type == 'purchase'"                 # ... without converting
  dedupe      = "event.id"
  reentry     = "72h"
  purpose     = "marketing"
  legal_basis = "consent"
  step "nudge" {
    wait = "1h"
    send {
      template = template.cart_email
      via      = provider.smtp.main
    }
  }
  step "escalate" {
    wait = "24h"
    send {
      template = template.cart_sms
      via      = provider.twilio.main
    }
  }
  exit_when = "event.type == 'purchase' || customer.support_case_open"
}
