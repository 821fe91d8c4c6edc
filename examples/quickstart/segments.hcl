# Segments are CEL conditions over a customer. `now` is fixed when the plan is
# made, so the same plan always selects the same people.

segment "lapsed_high_value" {
  description = "Spent 500 or more with us, but nothing in the last 90 days."
  owner       = "growth@acme-outdoor.example"

  from  = source.customers
  where = "customer.ltv >= 500.0 && now - customer.last_purchase_at > duration('2160h')" # 90 days
}

segment "recent_buyers" {
  owner = "growth@acme-outdoor.example"

  from  = source.customers
  where = "now - customer.last_purchase_at < duration('168h')" # 7 days
}

segment "open_support_cases" {
  description = "Customers waiting on support: no marketing until the case is closed."
  owner       = "support@acme-outdoor.example"

  from  = source.customers
  where = "customer.support_case_open"
}

# Longer conditions read better as a heredoc.
segment "north_america_regulars" {
  owner = "growth@acme-outdoor.example"

  from  = source.customers
  where = <<-CEL
    customer.country in ['US', 'CA']
    && customer.ltv >= 150.0
    && now - customer.last_purchase_at < duration('8760h')
  CEL
}
