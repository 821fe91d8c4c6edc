# The project of the Diagnostics example in docs/language.md: TestDocsDiagnostics checks that the example there is what herald prints for it.
provider "files" "cdp" {
  dir = "data"
}

schema "customer" {
  field "ltv" { type = double }
}

segment "high_value" {
  from  = source.customers
  # a misspelt field
  where = "customer.lvt >= 500.0"
}

source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
}
