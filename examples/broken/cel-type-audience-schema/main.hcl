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
  field "first_name" {
    pii = "name"
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
  where = "customer.ltv > 100.0"
}

template "news" {
  channel = "email"
  subject = "News from Acme Outdoor"
  html    = "<p>Hello!</p><p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> | {{ sender.postal_address }}</p>"
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

schema "lead" {
  field "id" {
    type = string
  }
  field "email" {
    pii = "email"
  }
}

source "leads" {
  from   = provider.files.cdp
  table  = "leads.csv"
  schema = schema.lead
  key    = "id"
}

segment "all_leads" {
  from = source.leads
}

template "welcome" {
  channel = "email"
  subject = "Welcome, {{ customer.first_name ?? 'friend' }}" # <- mistake
  #                               ^ mistake
  html = "<p>Hello!</p><p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> | {{ sender.postal_address }}</p>"
}

campaign "lead_news" {
  audience    = segment.all_leads
  channel     = "email"
  via         = provider.outbox.local
  purpose     = "marketing"
  legal_basis = "consent"
  template    = template.welcome
}
