# The shape of the data. Every CEL expression and template hole is
# type-checked against these fields.

schema "customer" {
  field "id" { type = string }
  field "email" { pii = "email" } # type string when not given
  field "phone" { pii = "phone" }
  field "first_name" { pii = "name" }
  field "country" { type = string }
  field "timezone" { type = string } # IANA name: schedules and quiet hours in the recipient's time
  field "ltv" { type = double }
  field "last_purchase_at" { type = timestamp }
  field "support_case_open" { type = bool }
  field "age_range" { # not used for targeting: sensitive fields need a stated reason
    type      = string
    sensitive = true
  }
}

schema "event" {
  field "id" { type = string }
  field "customer_id" { type = string }
  field "type" { type = string } # page_view, purchase, support_case, email_open
  field "path" { type = string } # /p/<product>, /cart, /cart/checkout …
  field "at" { type = timestamp }
}
