# Acme Outdoor's campaigns as code: the project settings and the providers.
#
# Everything here works without a server: email and SMS go to local outbox
# directories, the state is a SQLite file and the customer data are the files
# in data/.

herald {
  state "sqlite" {
    path = ".herald/state.db"
  }
  public_url = "https://herald.acme-outdoor.example" # unsubscribe and preference links

  sender {
    name           = "Acme Outdoor"
    email          = "news@acme-outdoor.example"
    postal_address = "100 Main St, Springfield, OR 97477, USA"
  }

  # House rules, checked by herald validate like any other mistake.
  rules {
    name_pattern  = "^[a-z][a-z0-9_]*$"
    require_owner = true
  }
}

# The customer data platform export: customers.csv, consents.csv and
# events.jsonl (regenerate them with examples/gen, see README.md).
provider "files" "cdp" {
  dir = "data"
}

# Email is written as .eml files instead of being sent: open them in any mail
# client.
provider "outbox" "local" {
  dir    = ".herald/outbox"
  format = "eml"
}

# Text messages are written as one JSON object per line.
provider "outbox" "sms" {
  dir    = ".herald/outbox-sms"
  format = "jsonl"
}

# The ad platform for the lookalike seed audience. Credentials are read from
# the environment when the audience is synced, never stored in the files.
provider "google_ads" "main" {
  customer_id     = "1234567890"
  developer_token = env("GOOGLE_ADS_DEVELOPER_TOKEN")
}
