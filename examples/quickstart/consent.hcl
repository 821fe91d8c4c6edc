# Who may be contacted on which channel. Herald checks consent when it plans
# and again right before each send.

consent {
  from = source.consents

  channel "email" {
    basis  = "consent"
    opt_in = "single"
  }

  # A "granted" SMS record only counts once the customer confirmed it by reply
  # ("confirmed"); nothing is sent between 21:00 and 08:00 recipient-local.
  channel "sms" {
    basis       = "consent"
    opt_in      = "double"
    quiet_hours = "21:00-08:00"
  }

  # Ad audiences: everyone who has not objected (CCPA opt-out, GDPR Art. 21).
  channel "ads" {
    basis = "legitimate_interest"
  }
}
