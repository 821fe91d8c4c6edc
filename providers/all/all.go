// Package all registers every provider type herald has. Import it for its
// side effects where providers are opened (the CLI, the planner):
//
//	import _ "github.com/heraldhq/herald/providers/all"
package all

import (
	_ "github.com/heraldhq/herald/providers/files"             // files: CSV and JSONL tables
	_ "github.com/heraldhq/herald/providers/googleads"         // google_ads: Customer Match user lists
	_ "github.com/heraldhq/herald/providers/linkedinads"       // linkedin_ads: DMP segments
	_ "github.com/heraldhq/herald/providers/mailchimp"         // mailchimp: e-mail through Mailchimp Transactional (Mandrill)
	_ "github.com/heraldhq/herald/providers/mailchimpaudience" // mailchimp_audience: a tag of a Mailchimp Marketing audience
	_ "github.com/heraldhq/herald/providers/metaads"           // meta_ads: Custom Audiences
	_ "github.com/heraldhq/herald/providers/outbox"            // outbox: messages written to a directory
	_ "github.com/heraldhq/herald/providers/postgres"          // postgres: tables and queries
	_ "github.com/heraldhq/herald/providers/smtp"              // smtp: e-mail through an SMTP server
	_ "github.com/heraldhq/herald/providers/twilio"            // twilio: SMS through Twilio Programmable Messaging
	_ "github.com/heraldhq/herald/providers/webhook"           // webhook: signed JSON POSTs
)
