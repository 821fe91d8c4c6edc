# Calls to env() and file() written wrongly, and a function herald does not
# have. None of them is an unset variable or a missing file, whatever the
# environment holds.
provider "smtp" "main" {
  host     = "smtp.example.com"
  username = env(null)
  password = env("SMTP_PASSWORD", "SMTP_USER")
}

provider "webhook" "crm" {
  url    = "https://crm.example.com/hook"
  secret = env("")
}

template "welcome" {
  channel = "email"
  subject = file("subject.txt", "x")
  html    = join("", ["<p>Hi</p>", "{{ unsubscribe_url }}"])
}
