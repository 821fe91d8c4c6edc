# Every provider herald has, in one project, with every credential read from
# the environment. `herald validate` needs none of them; `herald plan` needs
# the ones of the sources it reads (HERALD_WAREHOUSE_URL), and `herald apply`
# the ones of the providers it sends through. docs/providers.md says what each
# provider sends, to where, and how its failures are handled.

herald {
  state "sqlite" {
    path = ".herald/state.db"
  }
  public_url = "https://herald.acme-outdoor.example"

  sender {
    name           = "Acme Outdoor"
    email          = "news@acme-outdoor.example"
    postal_address = "100 Main St, Springfield, OR 97477, USA"
  }

  rules {
    name_pattern  = "^[a-z][a-z0-9_]*$"
    require_owner = true
  }
}

# ---- Sources ---------------------------------------------------------------

# A few rows of synthetic customers and their consents.
provider "files" "cdp" {
  dir = "data"
}

# The data warehouse: segments over its tables are pushed down to SQL.
provider "postgres" "warehouse" {
  url    = env("HERALD_WAREHOUSE_URL") # postgres://user:password@host/db
  schema = "marketing"
}

# ---- Channels --------------------------------------------------------------

# E-mail through the company's own mail server, DKIM-signed.
provider "smtp" "main" {
  host             = "smtp.acme-outdoor.example"
  port             = 587
  tls              = "starttls"
  username         = env("SMTP_USER")
  password         = env("SMTP_PASSWORD")
  dkim_domain      = "acme-outdoor.example"
  dkim_selector    = "herald"
  dkim_private_key = env("SMTP_DKIM_PRIVATE_KEY")
  rate_limit       = 10
}

# E-mail through Mailchimp Transactional (Mandrill). webhook_key checks the
# signature of Mandrill's event webhooks (herald ingest).
provider "mailchimp" "transactional" {
  api_key     = env("MANDRILL_API_KEY")
  webhook_key = env("MANDRILL_WEBHOOK_KEY")
  subaccount  = "acme-news"
}

# SMS through Twilio. Delivery reports are posted to status_callback; save
# them and run herald ingest to record failures and STOPs.
provider "twilio" "main" {
  account_sid     = env("TWILIO_ACCOUNT_SID")
  auth_token      = env("TWILIO_AUTH_TOKEN")
  from            = "+15415550100"
  status_callback = "https://herald.acme-outdoor.example/hooks/twilio"
  rate_limit      = 1 # a long code sends about one message a second
}

# The CRM hears about each loyalty message as signed JSON.
provider "webhook" "crm" {
  url    = "https://crm.acme-outdoor.example/hooks/herald"
  secret = env("CRM_WEBHOOK_SECRET")
  headers = {
    "X-Source" = "herald"
  }
}

# ---- Ad audiences ----------------------------------------------------------

provider "google_ads" "main" {
  customer_id       = "1234567890"
  login_customer_id = "9876543210"
  developer_token   = env("GOOGLE_ADS_DEVELOPER_TOKEN")
  client_id         = "1234567890-abc.apps.googleusercontent.com"
  client_secret     = env("GOOGLE_ADS_CLIENT_SECRET")
  refresh_token     = env("GOOGLE_ADS_REFRESH_TOKEN")
}

provider "meta_ads" "main" {
  ad_account_id = "act_1234567890"
  access_token  = env("META_ACCESS_TOKEN")
}

provider "linkedin_ads" "main" {
  ad_account_id = "512345678"
  access_token  = env("LINKEDIN_ACCESS_TOKEN")
}

provider "mailchimp_audience" "newsletter" {
  api_key = env("MAILCHIMP_API_KEY")
  list_id = "a1b2c3d4e5"
}
