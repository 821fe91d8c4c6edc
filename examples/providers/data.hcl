# The shape of the data, and where it comes from.

schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" }
  field "phone" { pii = "phone" }
  field "first_name" { pii = "name" }
  field "country" { type = string }
  field "timezone" { type = string }
  field "ltv" { type = double }
  field "loyalty_tier" { type = string }
}

schema "order" {
  field "id" { type = string }
  field "customer_id" { type = string }
  field "total" { type = double }
  field "at" { type = timestamp }
}

source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}

# customer_id, channel, status, method, recorded_at, policy_version
source "consents" {
  from  = provider.files.cdp
  table = "consents.csv"
}

# The same customers as the warehouse keeps them: segments over this source
# run as SQL in PostgreSQL.
source "warehouse_customers" {
  from   = provider.postgres.warehouse
  table  = "customers"
  schema = schema.customer
  key    = "id"
}

source "orders" {
  from   = provider.postgres.warehouse
  table  = "orders"
  schema = schema.order
  key    = "id"
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

  channel "webhook" {
    basis = "legitimate_interest"
  }

  channel "ads" {
    basis = "legitimate_interest"
  }
}
