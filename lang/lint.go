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
					fmt.Sprintf("%s %q sends marketing %s, but the consent block declares no channel %q, so herald cannot tell who agreed to receive it. The sender must be able to show each recipient's consent to marketing on the channel used (GDPR Art. 7(1), ePrivacy Directive Art. 13, CASL s. 6(1), TCPA for texts). Add channel %q { basis = \"consent\" } to the consent block.", s.kind, s.block.Name, ch, ch, ch)), s.block)
				continue
			}
			// Whatever the basis: legitimate interest admits everyone who has
			// not objected, which is weaker still than single opt-in. A basis
			// that did not decode was reported already.
			if ch == "sms" && cc.Basis != "" && cc.OptIn != "double" {
				crng := cc.DeclRange
				why := "is single opt-in"
				if cc.optInRange != nil {
					crng = *cc.optInRange
				}
				if cc.Basis != "consent" {
					why = fmt.Sprintf("has basis = %q, which admits everyone who has not objected", cc.Basis)
					if cc.optInRange == nil {
						if a := l.consentAttr(cc, "basis"); a != nil {
							crng = a.Expr.Range()
						}
					}
				}
				l.lint(diag.Error(diag.SMSDoubleOptIn, &crng,
					"Marketing SMS without double opt-in",
					fmt.Sprintf("%s %q sends marketing SMS, and the sms consent channel %s. The TCPA (47 CFR 64.1200(a)(2)) requires prior express written consent for marketing texts; record consent and confirm the number with a double opt-in: basis = \"consent\", opt_in = \"double\".", s.kind, s.block.Name, why)), &cc.Block, s.block)
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
		// A quiet_hours that is present but invalid was reported already;
		// saying it is missing as well would only send the reader looking.
		if cc := l.cfg.Consent.Channels["sms"]; cc != nil && cc.QuietHours == nil && l.consentAttr(cc, "quiet_hours") == nil {
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
//
// What the law asks for must reach every recipient, so it counts only where
// every recipient gets it: in a body part (the subject line is no place for
// an unsubscribe link or an address), on every path through the template
// (at the top level, or in every branch of an if that has an else), outside
// HTML comments, and, for the link and the address, as a hole of its own:
// {{ unsubscribe_url }}, not an expression that may leave it out. An e-mail
// with both an html and a text part needs it in both, since the mail client
// or the recipient chooses which one is shown.
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
				fmt.Sprintf("template.%s links to {{ unsubscribe_url }}, which is served under the herald block's public_url; none is set, so the link would lead nowhere. CAN-SPAM (15 U.S.C. §7704(a)(3)) and CASL (s. 11) require the unsubscribe mechanism to work. Set public_url = \"https://…\" in the herald block.", t.Name)), &t.Block, s.block)
		}
		if prng, why := missingHole(t, "unsubscribe_url"); why != "" {
			if prng == nil {
				prng = &rng
			}
			l.lint(diag.Error(diag.EmailUnsubscribe, prng, "Marketing e-mail without an unsubscribe link",
				fmt.Sprintf("template.%s is sent for marketing by %s %q, and %s. CAN-SPAM (15 U.S.C. §7704(a)(3)) and CASL (s. 6(2)(c), s. 11) require a working unsubscribe mechanism in every commercial message. Add {{ unsubscribe_url }} to the body, outside any {{ if }}.", t.Name, s.kind, s.block.Name, why)), &t.Block, s.block)
		}
		if prng, why := missingHole(t, "sender.postal_address"); why != "" {
			if prng == nil {
				prng = &rng
			}
			l.lint(diag.Error(diag.EmailPostalAddress, prng, "Marketing e-mail without the sender's postal address",
				fmt.Sprintf("template.%s is sent for marketing by %s %q, and %s. CAN-SPAM (15 U.S.C. §7704(a)(5)) and CASL (s. 6(2)(b)) require the sender's valid physical postal address in every commercial message. Add {{ sender.postal_address }} to the body, outside any {{ if }}.", t.Name, s.kind, s.block.Name, why)), &t.Block, s.block)
		}
		if uses("sender", "postal_address") && l.cfg.Herald.Sender.PostalAddress == "" {
			hr := l.cfg.Herald.DeclRange
			if l.cfg.Herald.Sender.Range.Filename != "" {
				hr = l.cfg.Herald.Sender.Range
			}
			var hrp *hcl.Range
			if hr.Filename != "" {
				hrp = &hr
			}
			l.lint(diag.Error(diag.EmailPostalAddress, hrp, "No sender postal address",
				"Marketing e-mail must carry the sender's postal address (CAN-SPAM 15 U.S.C. §7704(a)(5), CASL s. 6(2)(b)). Set postal_address in herald { sender { … } }."), &t.Block, s.block)
		}
	case "sms":
		if why := missingOptOut(t); why != "" {
			l.lint(diag.Error(diag.SMSOptOutText, &rng, "Marketing SMS without opt-out instructions",
				fmt.Sprintf("template.%s is sent for marketing by %s %q, and %s. The TCPA and the CTIA Messaging Principles require every marketing text to say how to opt out. Add text such as \"Reply STOP to opt out.\" outside any {{ if }}.", t.Name, s.kind, s.block.Name, why)), &t.Block, s.block)
		}
	}
}

// emailBodyParts are the parts of an e-mail a recipient reads, with whether
// each is HTML (where a comment hides what it encloses).
var emailBodyParts = []struct {
	name string
	html bool
}{{"html", true}, {"text", false}}

// missingHole checks that every body part of an e-mail template has the
// hole {{ want }} where every recipient gets it. When one does not, it
// returns that part's range and why, worded to follow "template.x is sent
// … by campaign "y", and"; otherwise why is "".
func missingHole(t *Template, want string) (*hcl.Range, string) {
	mention := mentionRe[want]
	for _, bp := range emailBodyParts {
		p := t.Parts[bp.name]
		if p == nil || p.Parsed == nil {
			continue
		}
		sc := holeScan{want: want, mention: mention, html: bp.html}
		if always, _ := sc.nodes(p.Parsed.Nodes, false); always {
			continue
		}
		rng := p.Range
		hole := "{{ " + want + " }}"
		switch {
		case sc.somewhere:
			return &rng, fmt.Sprintf("its %s part has %s only inside {{ if }}, without it in every branch and an {{ else }}, so some recipients would not get it", bp.name, hole)
		case sc.inComment:
			return &rng, fmt.Sprintf("its %s part has %s only inside an HTML comment <!-- … -->, which no recipient sees", bp.name, hole)
		case sc.inExpr != "":
			return &rng, fmt.Sprintf("its %s part names %s only inside the expression {{ %s }}, which may leave it out, so some recipients might not get it; write it as a hole of its own", bp.name, want, sc.inExpr)
		case inPart(t.Parts["subject"], mention):
			return &rng, fmt.Sprintf("it has %s only in the subject; it belongs in the %s part, where the recipient reads the message", hole, bp.name)
		default:
			return &rng, fmt.Sprintf("its %s part has no %s", bp.name, hole)
		}
	}
	return nil, ""
}

// mentionRe finds the required holes' names inside a larger expression.
var mentionRe = map[string]*regexp.Regexp{
	"unsubscribe_url":       regexp.MustCompile(`\bunsubscribe_url\b`),
	"sender.postal_address": regexp.MustCompile(`\bsender\s*\.\s*postal_address\b`),
}

// inPart reports whether any expression of p mentions what re matches.
func inPart(p *TemplatePart, re *regexp.Regexp) bool {
	if p == nil || p.Parsed == nil {
		return false
	}
	for _, e := range p.Parsed.Exprs() {
		if re.MatchString(e.Expr.Source) {
			return true
		}
	}
	return false
}

// holeScan looks for the hole {{ want }} in a template part and remembers
// the near misses, so a lint can say why what it found is not enough.
type holeScan struct {
	want    string
	mention *regexp.Regexp
	html    bool

	somewhere bool   // the hole, outside a comment, on some path
	inComment bool   // the hole inside an HTML comment
	inExpr    string // the source of a larger expression that mentions want
}

// nodes reports whether every path through nodes has the hole outside an
// HTML comment. comment says whether nodes start inside one, and it
// returns whether they may end inside one.
func (sc *holeScan) nodes(nodes []template.Node, comment bool) (always, commentOut bool) {
	for _, n := range nodes {
		switch n := n.(type) {
		case *template.Text:
			if sc.html {
				comment = htmlCommentState(n.Value, comment)
			}
		case *template.Hole:
			src := strings.TrimSpace(n.Expr.Source)
			switch {
			case src == sc.want && comment:
				sc.inComment = true
			case src == sc.want:
				sc.somewhere = true
				always = true
			case sc.inExpr == "" && sc.mention.MatchString(src):
				sc.inExpr = src
			}
		case *template.If:
			all, out := n.Else != nil, n.Else == nil && comment
			for _, br := range n.Branches {
				a, c := sc.nodes(br.Body, comment)
				all, out = all && a, out || c
			}
			if n.Else != nil {
				a, c := sc.nodes(n.Else, comment)
				all, out = all && a, out || c
			}
			always = always || all
			// A comment opened in some branch may swallow what follows;
			// assuming it does errs on the side of the recipient.
			comment = out
		}
	}
	return always, comment
}

// htmlCommentState returns whether, after text, an HTML comment is open,
// given whether one was open before it.
func htmlCommentState(text string, open bool) bool {
	for {
		if open {
			i := strings.Index(text, "-->")
			if i < 0 {
				return true
			}
			text, open = text[i+3:], false
		} else {
			i := strings.Index(text, "<!--")
			if i < 0 {
				return false
			}
			text, open = text[i+4:], true
		}
	}
}

// missingOptOut checks that an SMS template says how to opt out to every
// recipient: in its literal text, on every path. A hole's fallback does
// not count, since it is sent only when the hole's value is empty. It
// returns why not, worded as for missingHole, or "".
func missingOptOut(t *Template) string {
	p := t.Parts["body"]
	if p == nil || p.Parsed == nil {
		return ""
	}
	if alwaysText(p.Parsed.Nodes, optOutRe) {
		return ""
	}
	var conditional, fallback bool
	var walk func(nodes []template.Node)
	walk = func(nodes []template.Node) {
		for _, n := range nodes {
			switch n := n.(type) {
			case *template.Text:
				conditional = conditional || optOutRe.MatchString(n.Value)
			case *template.Hole:
				fallback = fallback || (n.Fallback != nil && optOutRe.MatchString(*n.Fallback))
			case *template.If:
				for _, br := range n.Branches {
					walk(br.Body)
				}
				walk(n.Else)
			}
		}
	}
	walk(p.Parsed.Nodes)
	switch {
	case conditional:
		return "its opt-out text is only inside {{ if }}, without it in every branch and an {{ else }}, so some recipients would not get it"
	case fallback:
		return "its opt-out text is only in a hole's fallback, which is sent only when the hole is empty, so some recipients would not get it"
	}
	return "its text does not say how to opt out (no \"stop\", \"unsubscribe\", \"opt out\" or \"cancel\")"
}

// alwaysText reports whether re matches the literal text that every path
// through nodes sends: the top-level text (holes read as a space), or the
// text of every branch of an if that has an else.
func alwaysText(nodes []template.Node, re *regexp.Regexp) bool {
	var top strings.Builder
	for _, n := range nodes {
		switch n := n.(type) {
		case *template.Text:
			top.WriteString(n.Value)
		case *template.Hole:
			top.WriteString(" ")
		case *template.If:
			top.WriteString(" ")
			if n.Else == nil {
				continue
			}
			all := alwaysText(n.Else, re)
			for _, br := range n.Branches {
				all = all && alwaysText(br.Body, re)
			}
			if all {
				return true
			}
		}
	}
	return re.MatchString(top.String())
}

// consentAttr returns the attribute named attr of consent channel cc as
// written, or nil. The decoded channel keeps only valid values; this tells
// an attribute that was left out from one that was reported as invalid.
func (l *loader) consentAttr(cc *ConsentChannel, attr string) *hcl.Attribute {
	for _, b := range l.blocks["consent"] {
		c, _, _ := b.Body.PartialContent(consentSchema)
		if c == nil {
			continue
		}
		for _, cb := range c.Blocks {
			if cb.DefRange != cc.DeclRange {
				continue
			}
			ac, _, _ := cb.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: attr}}})
			if ac != nil {
				return ac.Attributes[attr]
			}
		}
	}
	return nil
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
					fmt.Sprintf("Ad platforms match customers by hashed e-mail address or phone number, and sharing any other personal data with them goes beyond what the purpose needs: data minimisation under the CCPA (Cal. Civ. Code §1798.100(c)) and the GDPR (Art. 5(1)(c)). Match on fields marked pii = \"email\" or pii = \"phone\"; %q is marked %s.", m, piiLabel(f.PII))), &a.Block)
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
		first := map[string]*Waiver{}
		for _, w := range b.Waivers {
			if prev := first[w.Rule]; prev != nil {
				// A second waiver adds nothing but a second reason that
				// reviewers would have to reconcile with the first.
				rng := w.DeclRange
				l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng,
					fmt.Sprintf("Duplicate waiver of %q", w.Rule),
					fmt.Sprintf("%q is already waived on %s at %s. One waiver with one reason is enough; remove this one.", w.Rule, b.Name, prev.DeclRange)))
				continue
			}
			first[w.Rule] = w
			if !w.used {
				rng := w.DeclRange
				l.diags = append(l.diags, diag.Warning(diag.UnusedWaiver, &rng,
					fmt.Sprintf("Waiver of %q waives nothing", w.Rule),
					fmt.Sprintf("%q does not fire on %s, so this waiver has no effect. Remove it, so that the waivers in the project are the ones that matter.", w.Rule, b.Name)))
			}
		}
	}
}
