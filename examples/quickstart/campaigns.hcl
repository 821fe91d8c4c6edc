# Scheduled campaigns. `herald plan` shows, for each one, how many customers
# are in the audience and how many drop out at each check (consent, frequency
# cap, exclusions, holdout) before anything is sent.

# An A/B test: half of the audience gets each subject line and body, and 5%
# get nothing, to measure what the campaign adds.
campaign "winback_dec" {
  description = "Win back high-value customers who have not bought for 90 days, before the holidays."
  owner       = "growth@acme-outdoor.example"
  labels      = ["winter", "winback"]

  audience    = segment.lapsed_high_value
  exclude     = [segment.recent_buyers, segment.open_support_cases]
  channel     = "email"
  via         = provider.outbox.local
  purpose     = "marketing"
  legal_basis = "consent"
  holdout     = 0.05

  frequency_cap {
    limit = 2
    per   = "168h"
  }

  schedule {
    at       = "2026-12-01T09:00"
    timezone = "recipient" # 09:00 in each customer's own time zone
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
    source   = "herald"
    medium   = "email"
    campaign = "winback_dec"
  }
}

# A text message to regulars in North America who confirmed SMS consent.
campaign "first_snow_sms" {
  description = "First-snow sale announcement by SMS to North American regulars."
  owner       = "growth@acme-outdoor.example"
  labels      = ["winter", "sale", "sms"]

  audience    = segment.north_america_regulars
  exclude     = [segment.recent_buyers, segment.open_support_cases]
  channel     = "sms"
  via         = provider.outbox.sms
  template    = template.first_snow_sms # one template: no variants
  purpose     = "marketing"
  legal_basis = "consent"
  holdout     = 0.1

  frequency_cap {
    limit = 1
    per   = "72h"
  }

  schedule {
    at       = "2026-12-05T10:00"
    timezone = "recipient"
  }
}

# No schedule: it goes out when the plan is applied (e-mail has no quiet
# hours in consent.hcl, so nothing waits).
campaign "gear_guide" {
  description = "Winter gear guide for regulars in North America, sent on apply."
  owner       = "content@acme-outdoor.example"
  labels      = ["winter", "content"]

  audience    = segment.north_america_regulars
  exclude     = [segment.open_support_cases]
  channel     = "email"
  via         = provider.outbox.local
  template    = template.gear_guide
  purpose     = "marketing"
  legal_basis = "consent"

  frequency_cap {
    limit = 2
    per   = "168h"
  }

  utm {
    source = "herald"
    medium = "email"
  }
}
