// Package diag gives herald's diagnostics their stable rule ids, renders them
// for people (source line and caret, as terraform validate does) and for
// machines (JSON), and suggests the name a user probably meant.
//
// Diagnostics are hcl.Diagnostics throughout herald; a rule id travels in the
// diagnostic's Extra field so that every layer can keep using the hcl types.
package diag

import (
	"github.com/hashicorp/hcl/v2"
)

// Rule is the stable identifier of a class of diagnostic. Rule ids appear in
// JSON output and in waivers, so they never change once published.
type Rule string

// Language errors: the user wrote something herald cannot understand.
const (
	Syntax            Rule = "syntax"            // malformed HCL
	Structure         Rule = "structure"         // unknown block or attribute, missing required one
	Duplicate         Rule = "duplicate"         // two blocks with one name
	UnknownReference  Rule = "unknown-reference" // var.x, segment.x … that is not declared
	WrongReference    Rule = "wrong-reference"   // a reference to the wrong kind of block
	ReferenceCycle    Rule = "reference-cycle"   // blocks that refer to each other in a loop
	TypeMismatch      Rule = "type-mismatch"     // an HCL value of the wrong type
	InvalidValue      Rule = "invalid-value"     // a value outside what the attribute allows
	InvalidDuration   Rule = "invalid-duration"  // "2160h", "90d" …
	InvalidTimestamp  Rule = "invalid-timestamp" // schedule at
	InvalidTimezone   Rule = "invalid-timezone"  // not an IANA zone name nor "recipient"
	InvalidWeight     Rule = "invalid-weight"    // variant weight <= 0
	InvalidHoldout    Rule = "invalid-holdout"   // holdout outside 0 … 0.5
	InvalidQuietHours Rule = "invalid-quiet-hours"
	CELSyntax         Rule = "cel-syntax"       // a CEL expression that does not parse
	CELType           Rule = "cel-type"         // a CEL expression that does not type-check
	NotBoolean        Rule = "cel-not-bool"     // a condition whose type is not bool
	TemplateSyntax    Rule = "template-syntax"  // a {{ … }} hole that does not parse
	FileNotFound      Rule = "file-not-found"   // file() of a missing file
	EnvUnset          Rule = "env-unset"        // env() of an unset variable where a value is needed
	UnknownProvider   Rule = "unknown-provider" // provider "nope" "x"
	ProviderKind      Rule = "provider-kind"    // a provider used for what it cannot do
	VariableValue     Rule = "variable-value"   // -var, -var-file, HERALD_VAR_ values
	InvalidWaiver     Rule = "invalid-waiver"   // a waiver without a reason or of an unknown rule
	UnusedWaiver      Rule = "unused-waiver"    // a waiver of a rule that did not fire (warning)
	NamePattern       Rule = "name-pattern"     // herald { rules { name_pattern } }
	OwnerRequired     Rule = "owner-required"   // herald { rules { require_owner } }
	SecretLiteral     Rule = "secret-literal"   // a credential written in the configuration
	StateError        Rule = "state"            // the state cannot be read or written
	SourceError       Rule = "source"           // a data source cannot be read
	CampaignStarted   Rule = "campaign-started" // a change to a campaign that has begun sending
	StalePlan         Rule = "stale-plan"       // a saved plan whose state or configuration changed
)

// Policy lints: the user wrote something herald understands but the law or
// good practice forbids. Each can be waived on one block with a reason.
const (
	EmailUnsubscribe     Rule = "email-unsubscribe"      // CAN-SPAM §5(a)(3), CASL s.11
	EmailPostalAddress   Rule = "email-postal-address"   // CAN-SPAM §5(a)(5), CASL s.6(2)
	SMSOptOutText        Rule = "sms-opt-out-text"       // TCPA, CTIA guidelines
	SMSDoubleOptIn       Rule = "sms-double-opt-in"      // TCPA prior express written consent
	SMSQuietHours        Rule = "sms-quiet-hours"        // TCPA 47 CFR 64.1200(c)(1) (warning)
	LegalBasisMissing    Rule = "legal-basis-missing"    // GDPR Art. 6
	LegalBasisContract   Rule = "legal-basis-contract"   // GDPR Art. 6(1)(b) does not cover marketing
	SensitiveField       Rule = "sensitive-field"        // GDPR Art. 9, Art. 22 (warning)
	AudienceMatchField   Rule = "audience-match-field"   // hashed identifiers only: pii email/phone
	AudienceAdsConsent   Rule = "audience-ads-consent"   // CCPA opt-out, GDPR Art. 21 objection
	ConsentChannelAbsent Rule = "consent-channel-absent" // a channel sent on without a consent channel
)

// PolicyRules lists the rules a waiver may name.
var PolicyRules = []Rule{
	EmailUnsubscribe, EmailPostalAddress, SMSOptOutText, SMSDoubleOptIn, SMSQuietHours,
	LegalBasisMissing, LegalBasisContract, SensitiveField, AudienceMatchField,
	AudienceAdsConsent, ConsentChannelAbsent,
}

// IsPolicy reports whether r is a policy lint, and so may be waived.
func IsPolicy(r Rule) bool {
	for _, p := range PolicyRules {
		if p == r {
			return true
		}
	}
	return false
}

// extra is what a herald diagnostic carries in hcl.Diagnostic.Extra.
type extra struct {
	rule Rule
}

// Error returns an error diagnostic of rule r at subject.
func Error(r Rule, subject *hcl.Range, summary, detail string) *hcl.Diagnostic {
	return New(hcl.DiagError, r, subject, summary, detail)
}

// Warning returns a warning diagnostic of rule r at subject.
func Warning(r Rule, subject *hcl.Range, summary, detail string) *hcl.Diagnostic {
	return New(hcl.DiagWarning, r, subject, summary, detail)
}

// New returns a diagnostic of the given severity and rule.
func New(sev hcl.DiagnosticSeverity, r Rule, subject *hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: sev,
		Summary:  summary,
		Detail:   detail,
		Subject:  subject,
		Extra:    extra{rule: r},
	}
}

// WithRule sets the rule of a diagnostic that came from a library (hcl's own
// parser and decoder) and has none yet, and returns it.
func WithRule(d *hcl.Diagnostic, r Rule) *hcl.Diagnostic {
	if _, ok := d.Extra.(extra); !ok {
		d.Extra = extra{rule: r}
	}
	return d
}

// Tag gives every diagnostic in diags that has no rule the rule r.
func Tag(diags hcl.Diagnostics, r Rule) hcl.Diagnostics {
	for _, d := range diags {
		WithRule(d, r)
	}
	return diags
}

// RuleOf returns the rule of d, or "" when it has none.
func RuleOf(d *hcl.Diagnostic) Rule {
	if e, ok := d.Extra.(extra); ok {
		return e.rule
	}
	return ""
}
