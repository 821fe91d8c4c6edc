# Tables of the cdp provider. The file extension says how to read them.

source "customers" {
  from   = provider.files.cdp
  table  = "customers.csv"
  schema = schema.customer
  key    = "id"
}

source "events" {
  from   = provider.files.cdp
  table  = "events.jsonl"
  schema = schema.event
  key    = "id"
}

# customer_id, channel, status, method, recorded_at, policy_version:
# the latest record of a customer and channel wins.
source "consents" {
  from  = provider.files.cdp
  table = "consents.csv"
}
