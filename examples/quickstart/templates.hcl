# Message templates. Holes {{ … }} are CEL over `customer`, `sender`,
# `unsubscribe_url` and `recipient`; `{{ x ?? "fallback" }}` is used when x is
# empty. Marketing email must show {{ unsubscribe_url }} and
# {{ sender.postal_address }}; marketing SMS must say how to opt out.

template "winback_a" {
  channel = "email"
  subject = "{{ customer.first_name ?? \"Hey there\" }}, we miss you"
  html    = file("templates/winback_a.html")
}

template "winback_b" {
  channel = "email"
  subject = "15% off your next trip, {{ customer.first_name ?? \"friend\" }}"
  html    = file("templates/winback_b.html")
}

template "cart_email" {
  channel = "email"
  subject = "You left something behind"
  html    = file("templates/cart.html")
}

template "cart_sms" {
  channel = "sms"
  body    = "{{ sender.name }}: Still thinking it over, {{ customer.first_name ?? \"friend\" }}? Your cart is saved. Reply STOP to opt out."
}

template "first_snow_sms" {
  channel = "sms"
  body    = "{{ sender.name }}: First snow! 20% off winter boots and jackets until Sunday: https://acme-outdoor.example/snow Reply STOP to opt out."
}

template "gear_guide" {
  channel = "email"
  subject = "Your winter gear guide, {{ customer.first_name ?? \"friend\" }}"
  html    = file("templates/gear_guide.html")
}
