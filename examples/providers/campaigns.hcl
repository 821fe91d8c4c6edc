# One campaign per channel provider, one audience per ad platform.

segment "regulars" {
  description = "Customers who spent 150 or more."
  owner       = "growth@acme-outdoor.example"

  from  = source.customers
  where = "customer.ltv >= 150.0"
}

segment "gold" {
  owner = "loyalty@acme-outdoor.example"

  from  = source.customers
  where = "customer.loyalty_tier == 'gold'"
}

segment "warehouse_big_spenders" {
  description = "Evaluated in PostgreSQL: the warehouse's customers with a lifetime value of 1000 or more."
  owner       = "growth@acme-outdoor.example"

  from  = source.warehouse_customers
  where = "customer.ltv >= 1000.0"
}

template "spring_email" {
  owner   = "content@acme-outdoor.example"
  channel = "email"
  subject = "Spring is here, {{ customer.first_name ?? \"friend\" }}"
  html    = file("templates/spring.html")
}

template "spring_sms" {
  owner   = "content@acme-outdoor.example"
  channel = "sms"
  body    = "{{ sender.name }}: the spring collection is in store. Reply STOP to opt out."
}

template "gold_update" {
  owner   = "loyalty@acme-outdoor.example"
  channel = "webhook"
  payload = file("templates/gold_update.json")
}

campaign "spring_smtp" {
  description = "The spring collection by e-mail through our own mail server."
  owner       = "growth@acme-outdoor.example"

  audience    = segment.regulars
  channel     = "email"
  via         = provider.smtp.main
  template    = template.spring_email
  purpose     = "marketing"
  legal_basis = "consent"

  frequency_cap {
    limit = 2
    per   = "168h"
  }
}

campaign "spring_mailchimp" {
  description = "The same e-mail to gold members through Mailchimp Transactional."
  owner       = "growth@acme-outdoor.example"

  audience    = segment.gold
  channel     = "email"
  via         = provider.mailchimp.transactional
  template    = template.spring_email
  purpose     = "marketing"
  legal_basis = "consent"

  frequency_cap {
    limit = 2
    per   = "168h"
  }
}

campaign "spring_sms" {
  description = "The spring collection by SMS, to customers who confirmed SMS consent."
  owner       = "growth@acme-outdoor.example"

  audience    = segment.regulars
  channel     = "sms"
  via         = provider.twilio.main
  template    = template.spring_sms
  purpose     = "marketing"
  legal_basis = "consent"

  frequency_cap {
    limit = 1
    per   = "72h"
  }
}

campaign "gold_to_crm" {
  description = "Tell the CRM who the gold members are."
  owner       = "loyalty@acme-outdoor.example"

  audience    = segment.gold
  channel     = "webhook"
  via         = provider.webhook.crm
  template    = template.gold_update
  purpose     = "transactional"
  legal_basis = "legitimate_interest"
}

audience "regulars_google" {
  owner    = "ads@acme-outdoor.example"
  segment  = segment.regulars
  to       = provider.google_ads.main
  match_on = ["email", "phone"]
}

audience "regulars_meta" {
  owner    = "ads@acme-outdoor.example"
  segment  = segment.regulars
  to       = provider.meta_ads.main
  match_on = ["email", "phone"]
}

audience "regulars_linkedin" {
  owner    = "ads@acme-outdoor.example"
  segment  = segment.regulars
  to       = provider.linkedin_ads.main
  match_on = ["email"]
}

audience "gold_newsletter" {
  owner    = "loyalty@acme-outdoor.example"
  segment  = segment.gold
  to       = provider.mailchimp_audience.newsletter
  match_on = ["email"]
}

audience "big_spenders_google" {
  description = "From the warehouse: the list is read from PostgreSQL when it is synced."
  owner       = "ads@acme-outdoor.example"
  segment     = segment.warehouse_big_spenders
  to          = provider.google_ads.main
  match_on    = ["email"]
}
