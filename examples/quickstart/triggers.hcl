# Behavioural triggers run in `herald run`: each matching event starts a
# journey for its customer.

# Three cart pages in 24 hours without a purchase: an email an hour later,
# then a text message the next day, unless the customer buys or opens a
# support case in the meantime.
trigger "cart_abandon" {
  description = "Remind customers who keep returning to their cart without buying."
  owner       = "growth@acme-outdoor.example"
  labels      = ["cart", "lifecycle"]

  from = source.events
  on   = "page_view"
  when = "event.path.startsWith('/cart')"
  threshold {
    count  = 3
    within = "24h"
  }
  unless      = "event.type == 'purchase'"
  dedupe      = "event.id"
  reentry     = "72h" # at most one journey per customer every three days
  purpose     = "marketing"
  legal_basis = "consent"

  step "nudge" {
    wait = "1h"
    send {
      template = template.cart_email
      via      = provider.outbox.local
    }
  }

  step "escalate" {
    wait = "24h"
    send {
      template = template.cart_sms
      via      = provider.outbox.sms
    }
  }

  exit_when = "event.type == 'purchase' || customer.support_case_open"
}
