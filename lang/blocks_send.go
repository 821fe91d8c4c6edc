package lang

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/lang/template"
)

// withGovernance adds description, owner, labels and waive to a schema.
func withGovernance(s *hcl.BodySchema) *hcl.BodySchema {
	s.Attributes = append(s.Attributes, attrs(governanceAttrs...)...)
	s.Blocks = append(s.Blocks, waiveBlock)
	return s
}

// governanceBlock fills the governance attributes and waivers of b.
func (l *loader) governanceBlock(b *Block, c *hcl.BodyContent) {
	b.Description, _ = l.str(c.Attributes["description"])
	b.Owner, _ = l.str(c.Attributes["owner"])
	b.Labels, _ = l.strings(c.Attributes["labels"])
	b.Waivers = l.waivers(c)
}

// waivers decodes the waive blocks in c.
func (l *loader) waivers(c *hcl.BodyContent) []*Waiver {
	var out []*Waiver
	for _, wb := range c.Blocks {
		if wb.Type != "waive" {
			continue
		}
		w := &Waiver{Rule: wb.Labels[0], DeclRange: wb.DefRange}
		wc := l.content(wb.Body, &hcl.BodySchema{Attributes: attrs("reason")})
		w.Reason, _ = l.str(wc.Attributes["reason"])
		if !diag.IsPolicy(diag.Rule(w.Rule)) {
			rng := wb.LabelRanges[0]
			names := make([]string, len(diag.PolicyRules))
			for i, r := range diag.PolicyRules {
				names[i] = string(r)
			}
			l.diags = append(l.diags, diag.Error(diag.InvalidWaiver, &rng, fmt.Sprintf("Cannot waive %q", w.Rule),
				strings.TrimSpace(fmt.Sprintf("Only policy rules can be waived: %s.%s", strings.Join(names, ", "), diag.DidYouMean(w.Rule, names)))))
			continue
		}
		if strings.TrimSpace(w.Reason) == "" {
			rng := wb.DefRange
			l.diags = append(l.diags, diag.Error(diag.InvalidWaiver, &rng, "Waiver without a reason",
				fmt.Sprintf("A waiver must say why the rule does not apply, for the reviewer and the audit log: waive %q { reason = \"…\" }.", w.Rule)))
			continue
		}
		out = append(out, w)
	}
	return out
}

var segmentSchema = withGovernance(&hcl.BodySchema{Attributes: attrs("from!", "where")})

func (l *loader) decodeSegments() {
	for _, b := range l.blocks["segment"] {
		s := &Segment{}
		s.Name, s.DeclRange = b.Labels[0], b.DefRange
		c := l.content(b.Body, segmentSchema)
		if a := c.Attributes["from"]; a != nil {
			if n, ok := l.ref(a.Expr, "source"); ok {
				s.From = l.cfg.Sources[n]
				if s.From != nil && s.From.Schema == nil {
					rng := a.Expr.Range()
					l.diags = append(l.diags, diag.Error(diag.Structure, &rng,
						fmt.Sprintf("source.%s has no schema", n),
						"A segment's conditions are checked against its source's fields: set schema = schema.NAME on the source."))
				}
			}
		}
		l.governanceBlock(&s.Block, c)
		l.cur = &s.Block
		if a := c.Attributes["where"]; a != nil && s.From != nil && s.From.Schema != nil {
			if src, m, _, ok := l.text(a); ok {
				s.Where = l.compileCEL(Scope{Customer: s.From.Schema, Now: true}, src, m, wantBool, "segment condition")
			}
		}
		l.cur = nil
		l.cfg.Segments[s.Name] = s
	}
}

var templateSchema = withGovernance(&hcl.BodySchema{Attributes: attrs("channel!", "subject", "html", "text", "body", "payload", "preheader")})

// templateParts are the templated attributes each channel takes; the first
// group lists those required (any one of a group joined by "|").
var templateParts = map[string]struct{ required, allowed []string }{
	"email":   {required: []string{"subject", "html|text"}, allowed: []string{"subject", "html", "text", "preheader"}},
	"sms":     {required: []string{"body"}, allowed: []string{"body"}},
	"webhook": {required: []string{"payload"}, allowed: []string{"payload"}},
}

func (l *loader) decodeTemplates() {
	for _, b := range l.blocks["template"] {
		t := &Template{Parts: map[string]*TemplatePart{}}
		t.Name, t.DeclRange = b.Labels[0], b.DefRange
		c := l.content(b.Body, templateSchema)
		l.governanceBlock(&t.Block, c)
		if a := c.Attributes["channel"]; a != nil {
			if v, ok := l.str(a); ok && l.oneOf(a, v, Channels...) {
				t.Channel = v
			}
		}
		spec, known := templateParts[t.Channel]
		for _, pn := range []string{"subject", "preheader", "html", "text", "body", "payload"} {
			a := c.Attributes[pn]
			if a == nil {
				continue
			}
			if known && !contains(spec.allowed, pn) {
				rng := a.NameRange
				l.diags = append(l.diags, diag.Error(diag.Structure, &rng,
					fmt.Sprintf("%s templates take no %s", t.Channel, pn),
					fmt.Sprintf("A %s template takes %s.", t.Channel, strings.Join(spec.allowed, ", "))))
				continue
			}
			src, m, file, ok := l.text(a)
			if !ok {
				t.incomplete = true
				continue
			}
			parsed, diags := template.Parse(src, m)
			l.diags = append(l.diags, diags...)
			if diags.HasErrors() {
				t.incomplete = true
				continue
			}
			t.Parts[pn] = &TemplatePart{Name: pn, Source: src, Parsed: parsed, Range: a.Expr.Range(), FromFile: file}
			t.Parts[pn].srcmap = m
		}
		if known {
			for _, req := range spec.required {
				found := false
				for _, alt := range strings.Split(req, "|") {
					if c.Attributes[alt] != nil {
						found = true
					}
				}
				if !found {
					rng := b.DefRange
					l.diags = append(l.diags, diag.Error(diag.Structure, &rng,
						fmt.Sprintf("%s template without %s", t.Channel, strings.ReplaceAll(req, "|", " or ")),
						fmt.Sprintf("A %s template needs %s.", t.Channel, strings.ReplaceAll(req, "|", " or "))))
				}
			}
		}
		l.cfg.Templates[t.Name] = t
	}
}

// templateUser is a campaign that sends a template, and to whom: rows
// typed by one schema.
type templateUser struct {
	schema *Schema
	// sends says who sends the template to whom, for messages:
	// "campaign.x sends template.t to segment.s, whose rows come from source.y".
	sends string
}

// templateUsers lists, by template, the campaigns that send it: each to
// its audience segment's rows, typed by that segment's source schema.
// Triggers are not listed: their `customer` is always the customer schema's
// profile, which every template is checked against anyway.
func (l *loader) templateUsers() map[string][]templateUser {
	users := map[string][]templateUser{}
	for _, name := range Sorted(l.cfg.Campaigns) {
		c := l.cfg.Campaigns[name]
		seg := c.Audience
		if seg == nil || seg.From == nil || seg.From.Schema == nil {
			continue
		}
		for _, v := range c.Variants {
			if v.Template != nil {
				users[v.Template.Name] = append(users[v.Template.Name], templateUser{seg.From.Schema,
					fmt.Sprintf("campaign.%s sends template.%s to segment.%s, whose rows come from source.%s (schema.%s)", name, v.Template.Name, seg.Name, seg.From.Name, seg.From.Schema.Name)})
			}
		}
	}
	return users
}

// checkTemplates type-checks every hole once all users of each template are
// known: `event` is visible only when every user is a trigger, typed by
// their event schema.
func (l *loader) checkTemplates() {
	eventSchemas := map[string]map[*Schema]bool{}
	campaignUse := map[string]bool{}
	for _, tr := range l.cfg.Triggers {
		for _, st := range tr.Steps {
			if st.Send != nil && st.Send.Template != nil && tr.From != nil && tr.From.Schema != nil {
				if eventSchemas[st.Send.Template.Name] == nil {
					eventSchemas[st.Send.Template.Name] = map[*Schema]bool{}
				}
				eventSchemas[st.Send.Template.Name][tr.From.Schema] = true
			}
		}
	}
	for _, c := range l.cfg.Campaigns {
		for _, v := range c.Variants {
			if v.Template != nil {
				campaignUse[v.Template.Name] = true
			}
		}
	}
	users := l.templateUsers()
	for _, name := range Sorted(l.cfg.Templates) {
		t := l.cfg.Templates[name]
		scope := Scope{Customer: l.cfg.CustomerSchema, Now: true, Message: true}
		if es := eventSchemas[name]; len(es) == 1 && !campaignUse[name] {
			for s := range es {
				scope.Event = s
			}
		}
		l.cur = &t.Block
		// The holes are checked, and kept, against the customer schema,
		// which `customer` has when a message is rendered; then against the
		// schema of every other audience the template is sent to, whose
		// rows are what the holes will read.
		firstDiag, firstLint := len(l.diags), len(l.lints)
		l.checkTemplate(t, scope, true)
		seen := map[*Schema]bool{l.cfg.CustomerSchema: true}
		for _, u := range users[name] {
			if seen[u.schema] {
				continue
			}
			seen[u.schema] = true
			from := len(l.diags)
			sc := scope
			sc.Customer = u.schema
			l.checkTemplate(t, sc, false)
			l.diags = append(l.diags[:from], l.newTemplateDiags(l.diags[firstDiag:from], l.diags[from:], u.sends)...)
		}
		l.lints = append(l.lints[:firstLint], dedupeLints(l.lints[firstLint:])...)
		l.cur = nil
	}
}

// checkTemplate type-checks every hole and condition of t in scope; keep
// stores the checked expressions.
func (l *loader) checkTemplate(t *Template, scope Scope, keep bool) {
	for _, pn := range Sorted(t.Parts) {
		p := t.Parts[pn]
		for _, ref := range p.Parsed.Exprs() {
			w, what := wantAny, "template hole"
			if ref.Condition {
				w, what = wantBool, "template condition"
			}
			e := l.compileCEL(scope, ref.Expr.Source, shifted{p.srcmap, ref.Expr.Offset}, w, what)
			if e == nil {
				t.incomplete = true
			}
			if keep {
				p.Exprs = append(p.Exprs, e)
			}
		}
	}
}

// newTemplateDiags returns the diagnostics of added that are not already
// in had (a syntax error is the same whatever the schema), each saying who
// sends the template to whom.
func (l *loader) newTemplateDiags(had, added hcl.Diagnostics, sends string) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range added {
		dup := false
		for _, h := range had {
			if sameDiag(h, d) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		d.Detail = sends + ". " + d.Detail
		out = append(out, d)
	}
	return out
}

func sameDiag(a, b *hcl.Diagnostic) bool {
	if a.Summary != b.Summary || (a.Subject == nil) != (b.Subject == nil) {
		return false
	}
	return a.Subject == nil || a.Subject.Filename == b.Subject.Filename && a.Subject.Start.Byte == b.Subject.Start.Byte && a.Subject.End.Byte == b.Subject.End.Byte
}

// dedupeLints drops a lint raised twice at one place, as when a template is
// checked against two schemas.
func dedupeLints(lints []pendingLint) []pendingLint {
	var out []pendingLint
	for _, p := range lints {
		dup := false
		for _, q := range out {
			if sameDiag(p.d, q.d) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out
}
