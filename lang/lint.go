package lang

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/lang/template"
)

// pendingLint is a policy diagnostic waiting for waivers: a waiver of its
// rule on any of blocks silences it.
type pendingLint struct {
	d      *hcl.Diagnostic
	blocks []*Block
}

// lint records a policy diagnostic raised while checking the current block.
func (l *loader) lint(d *hcl.Diagnostic, blocks ...*Block) {
	if l.cur != nil {
		blocks = append(blocks, l.cur)
	}
	l.lints = append(l.lints, pendingLint{d: d, blocks: blocks})
}

// optOutRe finds opt-out instructions in an SMS body.
var optOutRe = regexp.MustCompile(`(?i)\b(stop|unsubscribe|opt[ -]?out|cancel)\b`)

// sender is a campaign or trigger: something that sends with a purpose.
type sending struct {
	block      *Block
	kind       string // "campaign" or "trigger"
	purpose    string
	legalBasis string
	legalRange *hcl.Range
	templates  []*Template
	channels   []string
}

func (l *loader) sendings() []sending {
	var out []sending
	for _, n := range Sorted(l.cfg.Campaigns) {
		c := l.cfg.Campaigns[n]
		s := sending{block: &c.Block, kind: "campaign", purpose: c.Purpose, legalBasis: c.LegalBasis, legalRange: c.legalRange}
		for _, v := range c.Variants {
			if v.Template != nil {
				s.templates = append(s.templates, v.Template)
			}
		}
		if c.Channel != "" {
			s.channels = []string{c.Channel}
		}
		out = append(out, s)
	}
	for _, n := range Sorted(l.cfg.Triggers) {
		t := l.cfg.Triggers[n]
		s := sending{block: &t.Block, kind: "trigger", purpose: t.Purpose, legalBasis: t.LegalBasis, legalRange: t.legalRange}
		for _, st := range t.Steps {
			if st.Send != nil && st.Send.Template != nil {
				s.templates = append(s.templates, st.Send.Template)
				s.channels = appendUnique(s.channels, st.Send.Template.Channel)
			}
		}
		out = append(out, s)
	}
	return out
}

// policyLints checks what the law asks of every send: a legal basis, the
// unsubscribe link and postal address in marketing e-mail, opt-out text
// and double opt-in for marketing SMS, consent for every channel used, and
// ad audiences built only from hashed e-mail and phone of people who have
// not objected.
func (l *loader) policyLints() {
	for _, s := range l.sendings() {
		rng := s.block.DeclRange
		if s.legalBasis == "" {
			l.lint(diag.Error(diag.LegalBasisMissing, &rng,
				fmt.Sprintf("%s %q has no legal_basis", s.kind, s.block.Name),
				"Every processing of personal data needs a legal basis (GDPR Art. 6). Set legal_basis = \"consent\" for marketing, or the basis that applies."), s.block)
		} else if s.purpose == "marketing" && s.legalBasis == "contract" {
			l.lint(diag.Error(diag.LegalBasisContract, s.legalRange,
				fmt.Sprintf("Marketing %s %q claims legal_basis \"contract\"", s.kind, s.block.Name),
				"Performance of a contract (GDPR Art. 6(1)(b)) does not cover marketing. Use legal_basis = \"consent\", or set purpose = \"transactional\" if this message is needed to fulfil an order."), s.block)
		}
		for _, ch := range s.channels {
			if s.purpose != "marketing" {
				continue
			}
			var cc *ConsentChannel
			if l.cfg.Consent != nil {
				cc = l.cfg.Consent.Channels[ch]
			}
			if cc == nil {
				l.lint(diag.Error(diag.ConsentChannelAbsent, &rng,
					fmt.Sprintf("No consent channel %q", ch),
					fmt.Sprintf("%s %q sends marketing %s, but the consent block declares no channel %q, so herald cannot tell who agreed to receive it. Add channel %q { basis = \"consent\" } to the consent block.", s.kind, s.block.Name, ch, ch, ch)), s.block)
				continue
			}
			if ch == "sms" && cc.Basis == "consent" && cc.OptIn != "double" {
				crng := cc.DeclRange
				if cc.optInRange != nil {
					crng = *cc.optInRange
				}
				l.lint(diag.Error(diag.SMSDoubleOptIn, &crng,
					"Marketing SMS without double opt-in",
					fmt.Sprintf("%s %q sends marketing SMS, and the sms consent channel is single opt-in. The TCPA requires prior express written consent for marketing texts; confirm the number with a double opt-in: opt_in = \"double\".", s.kind, s.block.Name)), &cc.Block, s.block)
			}
		}
		if s.purpose != "marketing" {
			continue
		}
		// Each sender is linted on its own so that a waiver on one campaign
		// waives only that campaign; applyWaivers folds the repeats.
		for _, t := range s.templates {
			l.templateLints(t, s)
		}
	}
	if l.cfg.Consent != nil {
		if cc := l.cfg.Consent.Channels["sms"]; cc != nil && cc.QuietHours == nil {
			rng := cc.DeclRange
			l.lint(diag.Warning(diag.SMSQuietHours, &rng, "SMS channel without quiet hours",
				"The TCPA forbids telemarketing texts before 8 am and after 9 pm in the recipient's time zone, and several US states are stricter. Set quiet_hours = \"21:00-08:00\"."), &cc.Block)
		}
	}
	for _, n := range Sorted(l.cfg.Audiences) {
		l.audienceLints(l.cfg.Audiences[n])
	}
}

// templateLints checks a template that s sends for marketing.
func (l *loader) templateLints(t *Template, s sending) {
	if t.incomplete {
		return
	}
	uses := func(variable, field string) bool {
		for _, p := range t.Parts {
			for _, e := range p.Exprs {
				if e == nil {
					continue
				}
				fs, ok := e.Fields[variable]
				if ok && (field == "" || contains(fs, field)) {
					return true
				}
			}
		}
		return false
	}
	body := t.Parts["html"]
	if body == nil {
		body = t.Parts["text"]
	}
	if body == nil {
		body = t.Parts["body"]
	}
	rng := t.DeclRange
	if body != nil {
		rng = body.Range
	}
	switch t.Channel {
	case "email":
		if uses("unsubscribe_url", "") && l.cfg.Herald.PublicURL == "" {
			l.lint(diag.Error(diag.EmailUnsubscribe, &rng, "Unsubscribe link without public_url",
				fmt.Sprintf("template.%s links to {{ unsubscribe_url }}, which is served under the herald block's public_url; none is set. Set public_url = \"https://…\" in the herald block.", t.Name)), &t.Block, s.block)
		}
		if !uses("unsubscribe_url", "") {
			l.lint(diag.Error(diag.EmailUnsubscribe, &rng, "Marketing e-mail without an unsubscribe link",
				fmt.Sprintf("template.%s is sent for marketing by %s %q. CAN-SPAM (15 U.S.C. §7704(a)(3)) and CASL (s. 6(2)(c), s. 11) require a working unsubscribe mechanism in every commercial message. Add {{ unsubscribe_url }} to the body.", t.Name, s.kind, s.block.Name)), &t.Block, s.block)
		}
		if !uses("sender", "postal_address") {
			l.lint(diag.Error(diag.EmailPostalAddress, &rng, "Marketing e-mail without the sender's postal address",
				fmt.Sprintf("template.%s is sent for marketing by %s %q. CAN-SPAM (15 U.S.C. §7704(a)(5)) and CASL (s. 6(2)(b)) require the sender's valid physical postal address. Add {{ sender.postal_address }} to the body.", t.Name, s.kind, s.block.Name)), &t.Block, s.block)
		} else if l.cfg.Herald.Sender.PostalAddress == "" {
			hr := l.cfg.Herald.DeclRange
			if l.cfg.Herald.Sender.Range.Filename != "" {
				hr = l.cfg.Herald.Sender.Range
			}
			var hrp *hcl.Range
			if hr.Filename != "" {
				hrp = &hr
			}
			l.lint(diag.Error(diag.EmailPostalAddress, hrp, "No sender postal address",
				"Marketing e-mail must carry the sender's postal address (CAN-SPAM, CASL). Set postal_address in herald { sender { … } }."), &t.Block, s.block)
		}
	case "sms":
		if !templateText(t, optOutRe) {
			l.lint(diag.Error(diag.SMSOptOutText, &rng, "Marketing SMS without opt-out instructions",
				fmt.Sprintf("template.%s is sent for marketing by %s %q. The TCPA and the CTIA Messaging Principles require every marketing text to say how to opt out. Add text such as \"Reply STOP to opt out.\"", t.Name, s.kind, s.block.Name)), &t.Block, s.block)
		}
	}
}

// templateText reports whether the literal text of the template's body
// matches re.
func templateText(t *Template, re *regexp.Regexp) bool {
	for _, p := range t.Parts {
		var buf strings.Builder
		var walk func(nodes []template.Node)
		walk = func(nodes []template.Node) {
			for _, n := range nodes {
				switch n := n.(type) {
				case *template.Text:
					buf.WriteString(n.Value)
				case *template.Hole:
					if n.Fallback != nil {
						buf.WriteString(*n.Fallback)
					}
				case *template.If:
					for _, br := range n.Branches {
						walk(br.Body)
					}
					walk(n.Else)
				}
			}
		}
		walk(p.Parsed.Nodes)
		if re.MatchString(buf.String()) {
			return true
		}
	}
	return false
}

func (l *loader) audienceLints(a *Audience) {
	rng := a.DeclRange
	if a.matchRange != nil {
		rng = *a.matchRange
	}
	if s := l.cfg.CustomerSchema; s != nil && a.Segment != nil && a.Segment.From != nil && a.Segment.From.Schema != nil {
		s = a.Segment.From.Schema
		for _, m := range a.MatchOn {
			f := s.Field(m)
			switch {
			case f == nil:
				l.diags = append(l.diags, diag.Error(diag.UnknownReference, &rng, fmt.Sprintf("Unknown field %q", m),
					strings.TrimSpace(fmt.Sprintf("schema.%s has no field %q.%s", s.Name, m, diag.DidYouMean(m, s.FieldNames())))))
			case f.PII != "email" && f.PII != "phone":
				l.lint(diag.Error(diag.AudienceMatchField, &rng, fmt.Sprintf("Audience matches on %q, which is not an e-mail or phone field", m),
					fmt.Sprintf("Ad platforms match customers by hashed e-mail address or phone number only, and herald sends nothing else. Match on fields marked pii = \"email\" or pii = \"phone\"; %q is marked %s.", m, piiLabel(f.PII))), &a.Block)
			}
		}
	}
	if l.cfg.Consent == nil || l.cfg.Consent.Channels["ads"] == nil {
		drng := a.DeclRange
		l.lint(diag.Error(diag.AudienceAdsConsent, &drng, fmt.Sprintf("audience %q has no ads consent channel", a.Name),
			"Uploading customers to an ad platform is targeted advertising: the CCPA gives a right to opt out of it and the GDPR (Art. 21) a right to object. Declare channel \"ads\" in the consent block (basis = \"legitimate_interest\" admits everyone who has not objected) so objections are honoured."), &a.Block)
	}
}

func piiLabel(p string) string {
	if p == "" {
		return "as no PII"
	}
	return fmt.Sprintf("pii = %q", p)
}

// governance applies the project's rules from the herald block.
func (l *loader) governance() {
	r := l.cfg.Herald.Rules
	if r.NamePattern == "" && !r.RequireOwner {
		return
	}
	re, _ := regexp.Compile(r.NamePattern)
	check := func(kind string, b *Block) {
		rng := b.DeclRange
		if re != nil && !re.MatchString(b.Name) {
			l.diags = append(l.diags, diag.Error(diag.NamePattern, &rng,
				fmt.Sprintf("%s name %q does not match the project's pattern", kind, b.Name),
				fmt.Sprintf("The herald block's rules require names matching %s. Rename the %s.", r.NamePattern, kind)))
		}
		if r.RequireOwner && strings.TrimSpace(b.Owner) == "" {
			l.diags = append(l.diags, diag.Error(diag.OwnerRequired, &rng,
				fmt.Sprintf("%s %q has no owner", kind, b.Name),
				fmt.Sprintf("The herald block's rules require an owner on every %s: set owner = \"team@example.com\" so reviewers know who answers for it.", kind)))
		}
	}
	for _, n := range Sorted(l.cfg.Segments) {
		check("segment", &l.cfg.Segments[n].Block)
	}
	for _, n := range Sorted(l.cfg.Campaigns) {
		check("campaign", &l.cfg.Campaigns[n].Block)
	}
	for _, n := range Sorted(l.cfg.Audiences) {
		check("audience", &l.cfg.Audiences[n].Block)
	}
	for _, n := range Sorted(l.cfg.Triggers) {
		check("trigger", &l.cfg.Triggers[n].Block)
	}
}

// applyWaivers drops each policy diagnostic waived on one of its blocks,
// and warns of waivers that waived nothing.
func (l *loader) applyWaivers() {
	reported := map[string]bool{}
	for _, p := range l.lints {
		waived := false
		for _, b := range p.blocks {
			for _, w := range b.Waivers {
				if w.Rule == string(diag.RuleOf(p.d)) {
					w.used = true
					waived = true
				}
			}
		}
		key := fmt.Sprintf("%s|%s|%v", diag.RuleOf(p.d), p.d.Summary, p.d.Subject)
		if !waived && !reported[key] {
			reported[key] = true
			l.diags = append(l.diags, p.d)
		}
	}
	var all []*Block
	for _, n := range Sorted(l.cfg.Segments) {
		all = append(all, &l.cfg.Segments[n].Block)
	}
	for _, n := range Sorted(l.cfg.Templates) {
		all = append(all, &l.cfg.Templates[n].Block)
	}
	for _, n := range Sorted(l.cfg.Campaigns) {
		all = append(all, &l.cfg.Campaigns[n].Block)
	}
	for _, n := range Sorted(l.cfg.Audiences) {
		all = append(all, &l.cfg.Audiences[n].Block)
	}
	for _, n := range Sorted(l.cfg.Triggers) {
		all = append(all, &l.cfg.Triggers[n].Block)
	}
	if l.cfg.Consent != nil {
		for _, n := range Sorted(l.cfg.Consent.Channels) {
			all = append(all, &l.cfg.Consent.Channels[n].Block)
		}
	}
	for _, b := range all {
		for _, w := range b.Waivers {
			if !w.used {
				rng := w.DeclRange
				l.diags = append(l.diags, diag.Warning(diag.UnusedWaiver, &rng,
					fmt.Sprintf("Waiver of %q waives nothing", w.Rule),
					fmt.Sprintf("%q does not fire on %s, so this waiver has no effect. Remove it, so that the waivers in the project are the ones that matter.", w.Rule, b.Name)))
			}
		}
	}
}
