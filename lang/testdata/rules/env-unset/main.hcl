# env() of an unset variable is fine for validate, which never needs
# credentials, and an error when the value is needed (plan, apply).
provider "smtp" "main" {
  host     = "smtp.example.com"
  port     = 587
  username = env("SMTP_USER")
  password = env("SMTP_PASSWORD")
}
