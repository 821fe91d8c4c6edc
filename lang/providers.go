package lang

import (
	"sort"

	"github.com/zclconf/go-cty/cty"
)

// Capability is something a provider type can do.
type Capability string

// The capabilities a provider type may have.
const (
	CapSource   Capability = "source"   // reads tables: customers, events, consents
	CapEmail    Capability = "email"    // sends e-mail
	CapSMS      Capability = "sms"      // sends SMS
	CapWebhook  Capability = "webhook"  // sends JSON to an endpoint
	CapAudience Capability = "audience" // keeps an ad-platform list in sync
)

// ProviderAttr describes one attribute a provider block takes.
type ProviderAttr struct {
	Type     cty.Type
	Required bool
	// Secret attributes must come from env() or a sensitive variable, never
	// a literal, so that no credential is committed to the repository.
	Secret bool
	// Duration attributes are strings checked as durations.
	Duration bool
	// OneOf, when set, lists the values a string attribute may take.
	OneOf []string
	Doc   string
}

// ProviderType describes a provider type: what its block takes and what it
// can be used for.
type ProviderType struct {
	Name         string
	Capabilities []Capability
	Attrs        map[string]ProviderAttr
	Doc          string
}

// Can reports whether the provider type has capability c.
func (t *ProviderType) Can(c Capability) bool {
	for _, have := range t.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

// AttrNames lists the attribute names in alphabetical order.
func (t *ProviderType) AttrNames() []string {
	names := make([]string, 0, len(t.Attrs))
	for n := range t.Attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// deliveryAttrs are the attributes every sending provider takes: how fast
// and how hard it may be driven.
var deliveryAttrs = map[string]ProviderAttr{
	"rate_limit":  {Type: cty.Number, Doc: "Messages per second; the provider's documented limit by default."},
	"burst":       {Type: cty.Number, Doc: "Token-bucket burst; rate_limit by default."},
	"concurrency": {Type: cty.Number, Doc: "Requests in flight at once."},
	"timeout":     {Type: cty.String, Duration: true, Doc: "Per-request timeout, e.g. \"10s\"."},
	"max_retries": {Type: cty.Number, Doc: "Retries of a 429, 5xx or timeout before the send fails."},
}

func withDelivery(attrs map[string]ProviderAttr) map[string]ProviderAttr {
	for k, v := range deliveryAttrs {
		attrs[k] = v
	}
	return attrs
}

// endpointAttr lets a team point an HTTP provider at a sandbox, a regional
// endpoint or a recording proxy (and lets tests point it at httptest).
var endpointAttr = ProviderAttr{Type: cty.String, Doc: "API base URL; the platform's documented URL by default."}

// ProviderTypes is the registry of provider types the language knows.
var ProviderTypes = map[string]*ProviderType{
	"files": {
		Name: "files", Capabilities: []Capability{CapSource},
		Doc: "A directory of tables: CSV with a header row, or JSONL, by file extension.",
		Attrs: map[string]ProviderAttr{
			"dir": {Type: cty.String, Required: true, Doc: "Directory of the tables, relative to the project."},
		},
	},
	"postgres": {
		Name: "postgres", Capabilities: []Capability{CapSource},
		Doc: "A PostgreSQL database; segments over it are pushed down to SQL.",
		Attrs: map[string]ProviderAttr{
			"url":    {Type: cty.String, Required: true, Secret: true, Doc: "Connection URL (postgres://…)."},
			"schema": {Type: cty.String, Doc: "Database schema of the tables; the search_path by default."},
		},
	},
	"outbox": {
		Name: "outbox", Capabilities: []Capability{CapEmail, CapSMS, CapWebhook},
		Doc: "Writes each message to a directory instead of sending it: no server needed.",
		Attrs: withDelivery(map[string]ProviderAttr{
			"dir":    {Type: cty.String, Required: true, Doc: "Directory to write messages to."},
			"format": {Type: cty.String, OneOf: []string{"eml", "jsonl"}, Doc: "eml: one .eml file per message; jsonl: one JSON record per line."},
		}),
	},
	"smtp": {
		Name: "smtp", Capabilities: []Capability{CapEmail},
		Doc: "Sends e-mail through an SMTP server.",
		Attrs: withDelivery(map[string]ProviderAttr{
			"host":             {Type: cty.String, Required: true},
			"port":             {Type: cty.Number, Doc: "587 by default; 465 means implicit TLS."},
			"username":         {Type: cty.String},
			"password":         {Type: cty.String, Secret: true},
			"tls":              {Type: cty.String, OneOf: []string{"starttls", "implicit", "none"}, Doc: "starttls by default; none only for a loopback host."},
			"helo":             {Type: cty.String},
			"dkim_domain":      {Type: cty.String},
			"dkim_selector":    {Type: cty.String},
			"dkim_private_key": {Type: cty.String, Secret: true, Doc: "PEM private key for DKIM signing."},
		}),
	},
	"webhook": {
		Name: "webhook", Capabilities: []Capability{CapWebhook, CapEmail, CapSMS},
		Doc: "POSTs each message as JSON, signed with HMAC-SHA256.",
		Attrs: withDelivery(map[string]ProviderAttr{
			"url":     {Type: cty.String, Required: true},
			"secret":  {Type: cty.String, Secret: true, Doc: "HMAC-SHA256 signing key."},
			"headers": {Type: cty.Map(cty.String), Doc: "Extra request headers."},
		}),
	},
	"twilio": {
		Name: "twilio", Capabilities: []Capability{CapSMS},
		Doc: "SMS through Twilio's Programmable Messaging API.",
		Attrs: withDelivery(map[string]ProviderAttr{
			"account_sid":           {Type: cty.String, Required: true},
			"auth_token":            {Type: cty.String, Secret: true},
			"api_key":               {Type: cty.String},
			"api_secret":            {Type: cty.String, Secret: true},
			"from":                  {Type: cty.String, Doc: "Sending number in E.164."},
			"messaging_service_sid": {Type: cty.String},
			"status_callback":       {Type: cty.String},
			"endpoint":              endpointAttr,
		}),
	},
	"mailchimp": {
		Name: "mailchimp", Capabilities: []Capability{CapEmail},
		Doc: "E-mail through the Mailchimp Transactional (Mandrill) API.",
		Attrs: withDelivery(map[string]ProviderAttr{
			"api_key":     {Type: cty.String, Secret: true, Required: true},
			"subaccount":  {Type: cty.String},
			"webhook_key": {Type: cty.String, Secret: true},
			"endpoint":    endpointAttr,
		}),
	},
	"mailchimp_audience": {
		Name: "mailchimp_audience", Capabilities: []Capability{CapAudience},
		Doc: "Syncs an audience into a Mailchimp Marketing audience as a tag.",
		Attrs: withDelivery(map[string]ProviderAttr{
			"api_key":  {Type: cty.String, Secret: true, Required: true},
			"list_id":  {Type: cty.String, Required: true},
			"endpoint": endpointAttr,
		}),
	},
	"google_ads": {
		Name: "google_ads", Capabilities: []Capability{CapAudience},
		Doc: "Google Ads Customer Match user lists.",
		Attrs: withDelivery(map[string]ProviderAttr{
			"customer_id":       {Type: cty.String, Required: true},
			"login_customer_id": {Type: cty.String},
			"developer_token":   {Type: cty.String, Secret: true},
			"client_id":         {Type: cty.String},
			"client_secret":     {Type: cty.String, Secret: true},
			"refresh_token":     {Type: cty.String, Secret: true},
			"access_token":      {Type: cty.String, Secret: true},
			"api_version":       {Type: cty.String, Doc: "Google Ads API version, e.g. \"v26\"; the version herald is written against by default."},
			"job_wait":          {Type: cty.String, Duration: true, Doc: "How long apply polls each offline user data job, \"5m\" by default; \"0s\" does not poll."},
			"endpoint":          endpointAttr,
		}),
	},
	"meta_ads": {
		Name: "meta_ads", Capabilities: []Capability{CapAudience},
		Doc: "Meta (Facebook) Custom Audiences.",
		Attrs: withDelivery(map[string]ProviderAttr{
			"ad_account_id": {Type: cty.String, Required: true},
			"access_token":  {Type: cty.String, Secret: true},
			"api_version":   {Type: cty.String, Doc: "Graph API version, e.g. \"v25.0\"; the version herald is written against by default."},
			"endpoint":      endpointAttr,
		}),
	},
	"linkedin_ads": {
		Name: "linkedin_ads", Capabilities: []Capability{CapAudience},
		Doc: "LinkedIn Matched Audiences (DMP segments).",
		Attrs: withDelivery(map[string]ProviderAttr{
			"ad_account_id": {Type: cty.String, Required: true},
			"access_token":  {Type: cty.String, Secret: true},
			"api_version":   {Type: cty.String, Doc: "LinkedIn-Version header (YYYYMM), e.g. \"202511\"; the version herald is written against by default."},
			"endpoint":      endpointAttr,
		}),
	},
}

// ProviderTypeNames lists the provider types in alphabetical order.
func ProviderTypeNames() []string {
	names := make([]string, 0, len(ProviderTypes))
	for n := range ProviderTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// channelCapability maps a message channel to the capability that sends it.
var channelCapability = map[string]Capability{
	"email":   CapEmail,
	"sms":     CapSMS,
	"webhook": CapWebhook,
}

// Channels lists the message channels in the order documented.
var Channels = []string{"email", "sms", "webhook"}
