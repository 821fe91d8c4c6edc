package lang

import (
	"time"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang/srcmap"
	"github.com/heraldhq/herald/lang/template"
)

// Config is a whole herald project, decoded and checked. Maps are keyed by
// block name (providers by "TYPE.NAME"); use the Names helpers for a stable
// order.
type Config struct {
	// Dir is the project directory the files were read from.
	Dir string
	// Files lists the *.hcl files read, relative to Dir, in name order.
	Files []string

	Herald    Herald
	Variables map[string]*Variable
	Providers map[string]*Provider
	Schemas   map[string]*Schema
	Sources   map[string]*Source
	Consent   *Consent
	Segments  map[string]*Segment
	Templates map[string]*Template
	Campaigns map[string]*Campaign
	Audiences map[string]*Audience
	Triggers  map[string]*Trigger

	// CustomerSchema types `customer` in templates and triggers.
	CustomerSchema *Schema

	sources map[string][]byte
}

// Block is what every named block has: where it is and who answers for it.
type Block struct {
	Name      string
	DeclRange hcl.Range
	// Description, Owner and Labels are the governance attributes taken by
	// segments, campaigns, audiences and triggers.
	Description string
	Owner       string
	Labels      []string
	// Waivers are the policy rules waived on this block, with their reasons.
	Waivers []*Waiver
}

// Waiver switches off one policy rule on one block, with a written reason.
type Waiver struct {
	Rule      string
	Reason    string
	DeclRange hcl.Range
	used      bool
}

// Herald is the project's herald block.
type Herald struct {
	State     State
	PublicURL string
	Sender    Sender
	Rules     Rules
	DeclRange hcl.Range
}

// State says where herald keeps its state.
type State struct {
	Backend string // "sqlite" or "postgres"
	Path    string // sqlite: file path relative to the project directory
	URL     cty.Value
	// URLUnset names what the postgres url reads that has no value, when
	// URL is not known.
	URLUnset Unset
}

// Sender is who marketing messages come from.
type Sender struct {
	Name          string
	Email         string
	PostalAddress string
	ReplyTo       string
	Range         hcl.Range
}

// Rules are project governance rules over segment, campaign, audience and
// trigger blocks.
type Rules struct {
	NamePattern  string
	RequireOwner bool
}

// Variable is an input variable.
type Variable struct {
	Name        string
	Type        cty.Type
	Default     cty.Value
	Description string
	Sensitive   bool
	// Value is the resolved value: default, then HERALD_VAR_, -var-file,
	// -var. It is unknown when no value was given and there is no default.
	Value     cty.Value
	DeclRange hcl.Range
}

// Provider is a provider block. Attributes holds each attribute's value as
// evaluated; values that come from an unset env() are unknown.
type Provider struct {
	Type       string
	Name       string
	Attributes map[string]cty.Value
	// AttrRanges says where each attribute was set.
	AttrRanges map[string]hcl.Range
	DeclRange  hcl.Range
	// Unset says, for each attribute whose value is not known, the
	// environment variables and input variables it reads that have no
	// value, so an error can name exactly those.
	Unset map[string]Unset
	// Sensitive names the attributes whose value came from a sensitive
	// variable: plans show them as (sensitive), like a secret attribute.
	Sensitive map[string]bool
}

// Address is the provider's reference form, "TYPE.NAME".
func (p *Provider) Address() string { return p.Type + "." + p.Name }

// FieldType is the type of a schema field.
type FieldType struct {
	Kind string     // string, int, double, bool, timestamp, duration, list, map
	Elem *FieldType // for list and map
}

// String renders the type as it is written in HCL.
func (t *FieldType) String() string {
	if t == nil {
		return "string"
	}
	if t.Elem != nil {
		return t.Kind + "(" + t.Elem.String() + ")"
	}
	return t.Kind
}

// Field is one field of a schema.
type Field struct {
	Name        string
	Type        *FieldType
	PII         string // "", email, phone, name, address, ip, id, other
	Sensitive   bool
	Description string
	DeclRange   hcl.Range
}

// Schema declares the fields of a table.
type Schema struct {
	Name      string
	Fields    []*Field
	byName    map[string]*Field
	DeclRange hcl.Range
}

// Field returns the named field, or nil.
func (s *Schema) Field(name string) *Field { return s.byName[name] }

// FieldNames lists the schema's field names in declaration order.
func (s *Schema) FieldNames() []string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Name
	}
	return names
}

// Source is a table read through a data provider.
type Source struct {
	Name    string
	From    *Provider
	Table   string
	Query   string
	Schema  *Schema // nil when not declared
	Key     string
	OnError string // "fail" (default) or "skip"
	Cursor  string // postgres: column that orders new rows
	Fields  EventFields
	Block
}

// EventFields names the fields of an event source that herald reads itself.
type EventFields struct {
	Customer string // default "customer_id"
	Time     string // default "at"
	Type     string // default "type"
}

// Consent is the project's consent block.
type Consent struct {
	From      *Source
	Channels  map[string]*ConsentChannel
	DeclRange hcl.Range
}

// ConsentChannel is how consent works for one channel.
type ConsentChannel struct {
	Name       string
	Basis      string // consent, legitimate_interest
	OptIn      string // single, double ("" when basis is not consent)
	QuietHours *QuietHours
	Block

	optInRange *hcl.Range
}

// QuietHours is a daily window, in the recipient's time zone, in which no
// message is sent. Start after End means it spans midnight.
type QuietHours struct {
	Start, End time.Duration // since midnight
	Source     string
}

// Expr is a checked CEL expression with where it came from.
type Expr struct {
	Source string
	AST    *cel.Ast
	Range  hcl.Range
	// Fields are the schema fields the expression reads, per variable
	// ("customer" → ["ltv", …]), for pushdown and for PII minimisation.
	Fields map[string][]string
}

// Segment is a named set of customers.
type Segment struct {
	From  *Source
	Where *Expr // nil selects everyone in the source
	Block
}

// Template is a message template.
type Template struct {
	Channel string
	// Parts are the templated attributes: subject, html, text, body, and for
	// webhooks payload; nil when absent.
	Parts map[string]*TemplatePart
	Block

	// incomplete is set when a part could not be read, parsed or checked,
	// so lints about its content would only repeat that error.
	incomplete bool
}

// TemplatePart is one templated attribute of a template.
type TemplatePart struct {
	Name     string
	Source   string
	Parsed   *template.Template
	Range    hcl.Range
	FromFile string // set when the text came from file()
	// Exprs holds the checked expression of each hole and condition, in
	// the order of Parsed.Exprs().
	Exprs []*Expr

	srcmap *srcmap.Map
}

// UsesEvent reports whether any hole of the template reads `event`.
func (t *Template) UsesEvent() bool {
	for _, p := range t.Parts {
		for _, e := range p.Exprs {
			if _, ok := e.Fields["event"]; ok {
				return true
			}
		}
	}
	return false
}

// Campaign is a one-off (possibly scheduled) send to a segment.
type Campaign struct {
	Audience     *Segment
	Exclude      []*Segment
	Channel      string
	Via          *Provider
	Purpose      string
	LegalBasis   string
	Holdout      float64
	FrequencyCap *FrequencyCap
	Schedule     *Schedule
	Variants     []*Variant
	UTM          map[string]string
	TrackClicks  bool
	TrackOpens   bool
	Block

	legalRange *hcl.Range
}

// FrequencyCap limits how many messages on a channel one customer gets in a
// period, counted across every campaign and trigger.
type FrequencyCap struct {
	Limit int
	Per   time.Duration
}

// Schedule says when a campaign goes out.
type Schedule struct {
	// At is the wall-clock time, read in Location, or in each recipient's
	// zone when Recipient is set.
	At        time.Time
	Recipient bool
	Location  *time.Location
	// MaxLate is how late a send may still go out after a runner was down.
	MaxLate time.Duration
}

// Variant is one arm of a campaign.
type Variant struct {
	Name     string
	Weight   float64
	Template *Template
}

// Audience is an ad-platform customer list kept in sync with a segment.
type Audience struct {
	Segment *Segment
	To      *Provider
	MatchOn []string
	Block

	matchRange *hcl.Range
}

// Trigger turns events into journeys.
type Trigger struct {
	From       *Source
	On         string
	When       *Expr
	Threshold  *Threshold
	Unless     *Expr
	Dedupe     *Expr
	Reentry    time.Duration
	Backfill   time.Duration
	Purpose    string
	LegalBasis string
	Steps      []*Step
	ExitWhen   *Expr
	Block

	legalRange *hcl.Range
}

// Threshold fires a trigger when Count matching events arrive Within.
type Threshold struct {
	Count  int
	Within time.Duration
}

// Step is one step of a journey.
type Step struct {
	Name      string
	Wait      time.Duration
	If        *Expr
	Send      *Send
	DeclRange hcl.Range
}

// Send is a message a step sends.
type Send struct {
	Template *Template
	Via      *Provider
}
