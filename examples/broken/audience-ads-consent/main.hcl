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

provider "google_ads" "main" {
  customer_id     = "1234567890"
  developer_token = env("GOOGLE_ADS_DEVELOPER_TOKEN")
}

schema "customer" {
  field "id" {
    type = string
  }
  field "email" {
    pii = "email"
  }
  field "phone" {
    pii = "phone"
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
  where = "customer.ltv >= 500.0"
}

audience "high_value_seed" { # <- mistake
#^ mistake
  segment  = segment.high_value
  to       = provider.google_ads.main
  match_on = ["email", "phone"]
}
