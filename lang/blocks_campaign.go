package lang

import (
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang/diag"
)

var campaignSchema = withGovernance(&hcl.BodySchema{
	Attributes: attrs("audience!", "exclude", "channel!", "via!", "purpose", "legal_basis", "holdout",
		"template", "track_clicks", "track_opens"),
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variant", LabelNames: []string{"name"}},
		{Type: "frequency_cap"},
		{Type: "schedule"},
		{Type: "utm"},
	},
})

var (
	variantSchema  = &hcl.BodySchema{Attributes: attrs("weight", "template!")}
	capSchema      = &hcl.BodySchema{Attributes: attrs("limit!", "per!")}
	scheduleSchema = &hcl.BodySchema{Attributes: attrs("at!", "timezone", "max_late")}
	utmSchema      = &hcl.BodySchema{Attributes: attrs("source", "medium", "campaign", "term", "content")}
)

// minWeight and maxWeight bound a variant's weight. Customers are split by
// a hash with 53 bits of resolution, so weights a trillion times apart
// would still split; anything beyond is a typo, and a weight near
// float64's limits (1e-320, 1e308) breaks the split: the sum overflows or
// the share rounds to nothing.
const (
	minWeight = 1e-6
	maxWeight = 1e6
)

// Purposes and LegalBases are the values of purpose and legal_basis.
var (
	Purposes   = []string{"marketing", "transactional"}
	LegalBases = []string{"consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interest"}
)

// sendable checks that provider p can send on channel, at rng.
func (l *loader) sendable(p *Provider, channel string, rng hcl.Range) {
	if p == nil || channel == "" {
		return
	}
	pt := ProviderTypes[p.Type]
	if pt == nil || pt.Can(channelCapability[channel]) {
		return
	}
	var can []string
	for _, n := range ProviderTypeNames() {
		if ProviderTypes[n].Can(channelCapability[channel]) {
			can = append(can, n)
		}
	}
	l.diags = append(l.diags, diag.Error(diag.ProviderKind, &rng,
		fmt.Sprintf("provider.%s cannot send %s", p.Address(), channel),
		fmt.Sprintf("A %s provider does not send %s. Providers that do: %s.", p.Type, channel, quoteList(can))))
}

func (l *loader) purposeAndBasis(c *hcl.BodyContent) (string, string, *hcl.Range) {
	purpose, basis := "marketing", ""
	if a := c.Attributes["purpose"]; a != nil {
		if v, ok := l.str(a); ok && l.oneOf(a, v, Purposes...) {
			purpose = v
		}
	}
	var rng *hcl.Range
	if a := c.Attributes["legal_basis"]; a != nil {
		r := a.Expr.Range()
		rng = &r
		if v, ok := l.str(a); ok && l.oneOf(a, v, LegalBases...) {
			basis = v
		}
	}
	return purpose, basis, rng
}

func (l *loader) decodeCampaigns() {
	for _, b := range l.blocks["campaign"] {
		cp := &Campaign{UTM: map[string]string{}}
		cp.Name, cp.DeclRange = b.Labels[0], b.DefRange
		c := l.content(b.Body, campaignSchema)
		l.governanceBlock(&cp.Block, c)
		if a := c.Attributes["audience"]; a != nil {
			if n, ok := l.ref(a.Expr, "segment"); ok {
				cp.Audience = l.cfg.Segments[n]
			}
		}
		if a := c.Attributes["exclude"]; a != nil {
			for _, n := range l.refList(a, "segment") {
				cp.Exclude = append(cp.Exclude, l.cfg.Segments[n])
			}
		}
		if a := c.Attributes["channel"]; a != nil {
			if v, ok := l.str(a); ok && l.oneOf(a, v, Channels...) {
				cp.Channel = v
			}
		}
		if a := c.Attributes["via"]; a != nil {
			if n, ok := l.ref(a.Expr, "provider"); ok {
				cp.Via = l.cfg.Providers[n]
				l.sendable(cp.Via, cp.Channel, a.Expr.Range())
			}
		}
		cp.Purpose, cp.LegalBasis, cp.legalRange = l.purposeAndBasis(c)
		if a := c.Attributes["holdout"]; a != nil {
			if f, ok := l.float(a); ok {
				if f < 0 || f > 0.5 {
					rng := a.Expr.Range()
					l.diags = append(l.diags, diag.Error(diag.InvalidHoldout, &rng, "Holdout out of range",
						fmt.Sprintf("holdout is the share of the audience kept back to measure the campaign's effect, from 0 to 0.5; %g is outside that. 0.05 keeps back 5%%.", f)))
				} else {
					cp.Holdout = f
				}
			}
		}
		cp.TrackClicks, _ = l.boolean(c.Attributes["track_clicks"])
		cp.TrackOpens, _ = l.boolean(c.Attributes["track_opens"])

		seen := map[string]hcl.Range{}
		for _, sb := range c.Blocks {
			switch sb.Type {
			case "variant":
				name := sb.Labels[0]
				l.checkNestedName("variant", name, sb.LabelRanges[0])
				if prev, dup := seen["variant."+name]; dup {
					rng := sb.DefRange
					l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng, fmt.Sprintf("Duplicate variant %q", name),
						fmt.Sprintf("Variant %q is already declared at %s.", name, prev)))
					continue
				}
				seen["variant."+name] = sb.DefRange
				vc := l.content(sb.Body, variantSchema)
				v := &Variant{Name: name, Weight: 1}
				if a := vc.Attributes["weight"]; a != nil {
					if f, ok := l.float(a); ok {
						switch {
						case f <= 0:
							rng := a.Expr.Range()
							l.diags = append(l.diags, diag.Error(diag.InvalidWeight, &rng, "Variant weight must be greater than zero",
								fmt.Sprintf("Weights split the audience between variants in proportion; %g sends this variant to no one. Remove the variant instead, or give it a positive weight.", f)))
						case f < minWeight || f > maxWeight:
							rng := a.Expr.Range()
							l.diags = append(l.diags, diag.Error(diag.InvalidWeight, &rng, "Variant weight out of range",
								fmt.Sprintf("A weight must be from 0.000001 to 1000000; %g is outside that. Only the ratio of the weights matters: 1 and 3 split the audience 25/75, as do 0.25 and 0.75.", f)))
						default:
							v.Weight = f
						}
					}
				}
				v.Template = l.templateRef(vc.Attributes["template"], cp.Channel)
				cp.Variants = append(cp.Variants, v)
			case "frequency_cap", "schedule", "utm":
				if prev, dup := seen[sb.Type]; dup {
					rng := sb.DefRange
					l.diags = append(l.diags, diag.Error(diag.Duplicate, &rng, fmt.Sprintf("Duplicate %s block", sb.Type),
						fmt.Sprintf("A campaign takes one %s block; the first is at %s.", sb.Type, prev)))
					continue
				}
				seen[sb.Type] = sb.DefRange
				switch sb.Type {
				case "frequency_cap":
					cp.FrequencyCap = l.frequencyCap(sb)
				case "schedule":
					cp.Schedule = l.schedule(sb)
				case "utm":
					uc := l.content(sb.Body, utmSchema)
					for _, k := range Sorted(uc.Attributes) {
						if v, ok := l.str(uc.Attributes[k]); ok {
							cp.UTM[k] = v
						}
					}
				}
			}
		}
		if a := c.Attributes["template"]; a != nil {
			if len(cp.Variants) > 0 {
				rng := a.NameRange
				l.diags = append(l.diags, diag.Error(diag.Structure, &rng, "Both template and variants are set",
					"A campaign sends one template (template = template.x) or splits between variant blocks, not both."))
			} else {
				cp.Variants = []*Variant{{Name: "default", Weight: 1, Template: l.templateRef(a, cp.Channel)}}
			}
		} else if len(cp.Variants) == 0 {
			rng := b.DefRange
			l.diags = append(l.diags, diag.Error(diag.Structure, &rng, "Campaign sends no template",
				"Set template = template.NAME, or add variant \"a\" { weight = 50  template = template.NAME } blocks for an A/B test."))
		}
		sort.SliceStable(cp.Variants, func(i, j int) bool { return cp.Variants[i].Name < cp.Variants[j].Name })
		l.cfg.Campaigns[cp.Name] = cp
	}
}

// templateRef resolves a template reference and checks its channel.
func (l *loader) templateRef(a *hcl.Attribute, channel string) *Template {
	if a == nil {
		return nil
	}
	n, ok := l.ref(a.Expr, "template")
	if !ok {
		return nil
	}
	t := l.cfg.Templates[n]
	if t != nil && channel != "" && t.Channel != "" && t.Channel != channel {
		rng := a.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng,
			fmt.Sprintf("template.%s is a %s template", n, t.Channel),
			fmt.Sprintf("This sends on the %s channel; use a template with channel = %q.", channel, channel)))
	}
	return t
}

func (l *loader) frequencyCap(b *hcl.Block) *FrequencyCap {
	c := l.content(b.Body, capSchema)
	fc := &FrequencyCap{}
	ok := true
	if a := c.Attributes["limit"]; a != nil {
		n, good := l.integer(a)
		if good && n < 1 {
			rng := a.Expr.Range()
			l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "Frequency cap limit must be at least 1",
				"limit is how many messages one customer may get in the period."))
			good = false
		}
		fc.Limit, ok = n, ok && good
	}
	if a := c.Attributes["per"]; a != nil {
		d, good := l.duration(a)
		fc.Per, ok = d, ok && good
	}
	if !ok {
		return nil
	}
	return fc
}

func (l *loader) schedule(b *hcl.Block) *Schedule {
	c := l.content(b.Body, scheduleSchema)
	s := &Schedule{Location: time.UTC}
	var offset bool
	var atAttr *hcl.Attribute
	if a := c.Attributes["at"]; a != nil {
		atAttr = a
		if v, ok := l.str(a); ok {
			t, off, err := ParseWallClock(v)
			if err != nil {
				rng := a.Expr.Range()
				l.diags = append(l.diags, diag.Error(diag.InvalidTimestamp, &rng, "Invalid schedule time",
					fmt.Sprintf("%v. Write a local date and time, \"2026-12-01T09:00\", read in timezone; or an instant with its offset, \"2026-12-01T09:00:00Z\".", err)))
			}
			s.At, offset = t, off
		}
	}
	if a := c.Attributes["timezone"]; a != nil {
		if v, ok := l.str(a); ok {
			if v == "recipient" {
				s.Recipient = true
			} else if loc, ok := l.location(a, v); ok {
				s.Location = loc
			}
		}
	}
	if offset && s.Recipient && atAttr != nil {
		rng := atAttr.Expr.Range()
		l.diags = append(l.diags, diag.Error(diag.InvalidTimestamp, &rng, "Schedule time has an offset",
			"With timezone = \"recipient\" the time is a wall-clock time read in each recipient's zone; remove the offset (\"2026-12-01T09:00\")."))
	}
	if !offset && !s.At.IsZero() && !s.Recipient {
		s.At = time.Date(s.At.Year(), s.At.Month(), s.At.Day(), s.At.Hour(), s.At.Minute(), s.At.Second(), 0, s.Location)
	}
	if a := c.Attributes["max_late"]; a != nil {
		s.MaxLate, _ = l.duration(a)
	} else {
		s.MaxLate = 6 * time.Hour
	}
	return s
}

var audienceSchema = withGovernance(&hcl.BodySchema{Attributes: attrs("segment!", "to!", "match_on!")})

func (l *loader) decodeAudiences() {
	for _, b := range l.blocks["audience"] {
		au := &Audience{}
		au.Name, au.DeclRange = b.Labels[0], b.DefRange
		c := l.content(b.Body, audienceSchema)
		l.governanceBlock(&au.Block, c)
		if a := c.Attributes["segment"]; a != nil {
			if n, ok := l.ref(a.Expr, "segment"); ok {
				au.Segment = l.cfg.Segments[n]
			}
		}
		if a := c.Attributes["to"]; a != nil {
			if n, ok := l.ref(a.Expr, "provider"); ok {
				au.To = l.cfg.Providers[n]
				if au.To != nil && !ProviderTypes[au.To.Type].Can(CapAudience) {
					var can []string
					for _, pn := range ProviderTypeNames() {
						if ProviderTypes[pn].Can(CapAudience) {
							can = append(can, pn)
						}
					}
					rng := a.Expr.Range()
					l.diags = append(l.diags, diag.Error(diag.ProviderKind, &rng,
						fmt.Sprintf("provider.%s cannot hold an audience", n),
						fmt.Sprintf("An audience is synced to an ad platform: %s.", quoteList(can))))
				}
			}
		}
		if a := c.Attributes["match_on"]; a != nil {
			rng := a.Expr.Range()
			au.matchRange = &rng
			if xs, ok := l.strings(a); ok {
				au.MatchOn = xs
				if len(xs) == 0 {
					rng := a.Expr.Range()
					l.diags = append(l.diags, diag.Error(diag.InvalidValue, &rng, "match_on is empty",
						"List the identifiers to match on: [\"email\"], [\"phone\"] or both."))
				}
			}
		}
		l.cfg.Audiences[au.Name] = au
	}
}
