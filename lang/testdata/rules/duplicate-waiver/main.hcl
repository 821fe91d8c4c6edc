# Two waivers of one rule on one block: the second is a duplicate.
provider "files" "cdp" {
  dir = "data"
}

source "consents" {
  from  = provider.files.cdp
  table = "consents.csv"
}

consent {
  from = source.consents
  channel "sms" {
    basis  = "consent"
    opt_in = "double"
    waive "sms-quiet-hours" {
      reason = "We only text in reply to the customer's own message."
    }
    waive "sms-quiet-hours" {
      reason = "Legal approved it."
    }
  }
}
