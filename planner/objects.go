package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/heraldhq/herald/lang"
)

// object is one block of the configuration as state records it: an
// address and its attributes rendered as canonical strings, so a diff is a
// comparison of strings and a reviewer reads the same strings.
type object struct {
	Address string
	Kind    string
	Attrs   map[string]string
}

// longText is the length past which an attribute is shown by digest.
const longText = 120

// text renders a string attribute: as itself when short, else as its
// digest, with where it came from.
func text(s, from string) string {
	if len(s) <= longText && !strings.Contains(s, "\n") {
		return strconv.Quote(s)
	}
	sum := sha256.Sum256([]byte(s))
	d := "sha256:" + hex.EncodeToString(sum[:6])
	if from != "" {
		return d + " (" + from + ")"
	}
	return d + fmt.Sprintf(" (%d bytes)", len(s))
}

// desired renders every block of cfg as an object, sorted by address.
func desired(cfg *lang.Config) []object {
	var out []object
	add := func(addr, kind string, attrs map[string]string) {
		for k, v := range attrs {
			if v == "" {
				delete(attrs, k)
			}
		}
		out = append(out, object{Address: addr, Kind: kind, Attrs: attrs})
	}
	gov := func(b *lang.Block, attrs map[string]string) map[string]string {
		attrs["description"] = quoteIf(b.Description)
		attrs["owner"] = quoteIf(b.Owner)
		if len(b.Labels) > 0 {
			attrs["labels"] = quoteList(b.Labels)
		}
		for _, w := range b.Waivers {
			attrs["waive."+w.Rule] = strconv.Quote(w.Reason)
		}
		return attrs
	}
	if h := cfg.Herald; h.DeclRange.Filename != "" {
		add("herald", "herald", heraldAttrs(&h))
	}
	for _, n := range lang.Sorted(cfg.Providers) {
		p := cfg.Providers[n]
		attrs := map[string]string{"type": strconv.Quote(p.Type)}
		pt := lang.ProviderTypes[p.Type]
		for _, an := range lang.Sorted(p.Attributes) {
			v := p.Attributes[an]
			switch {
			case pt != nil && pt.Attrs[an].Secret, p.Sensitive[an]:
				attrs[an] = "(sensitive)"
			case !v.IsWhollyKnown():
				attrs[an] = "(from the environment)"
			default:
				attrs[an] = ctyString(v)
			}
		}
		add("provider."+n, "provider", attrs)
	}
	for _, n := range lang.Sorted(cfg.Schemas) {
		s := cfg.Schemas[n]
		attrs := map[string]string{}
		for _, f := range s.Fields {
			desc := f.Type.String()
			if f.PII != "" {
				desc += " pii=" + f.PII
			}
			if f.Sensitive {
				desc += " sensitive"
			}
			attrs["field."+f.Name] = desc
			// A key of its own, so that a description added to a field
			// does not read as a change of its type.
			attrs["field."+f.Name+".description"] = quoteIf(f.Description)
		}
		add("schema."+n, "schema", attrs)
	}
	for _, n := range lang.Sorted(cfg.Sources) {
		s := cfg.Sources[n]
		attrs := gov(&s.Block, map[string]string{
			"table": quoteIf(s.Table), "query": quoteIf(s.Query), "key": quoteIf(s.Key),
			"on_error": quoteIf(s.OnError), "cursor": quoteIf(s.Cursor),
			// The event fields herald reads itself, when not the defaults:
			// sources applied before they were diffed show no change.
			"customer_field": quoteIfNot(s.Fields.Customer, "customer_id"), "time_field": quoteIfNot(s.Fields.Time, "at"),
			"type_field": quoteIfNot(s.Fields.Type, "type"),
		})
		if s.From != nil {
			attrs["from"] = "provider." + s.From.Address()
		}
		if s.Schema != nil {
			attrs["schema"] = "schema." + s.Schema.Name
		}
		add("source."+n, "source", attrs)
	}
	if c := cfg.Consent; c != nil {
		attrs := map[string]string{}
		if c.From != nil {
			attrs["from"] = "source." + c.From.Name
		}
		for _, n := range lang.Sorted(c.Channels) {
			ch := c.Channels[n]
			v := "basis=" + ch.Basis
			if ch.OptIn != "" {
				v += " opt_in=" + ch.OptIn
			}
			if ch.QuietHours != nil {
				v += " quiet_hours=" + ch.QuietHours.Source
			}
			attrs["channel."+n] = v
			for k, v := range gov(&ch.Block, map[string]string{}) {
				attrs["channel."+n+"."+k] = v
			}
		}
		add("consent", "consent", attrs)
	}
	for _, n := range lang.Sorted(cfg.Segments) {
		s := cfg.Segments[n]
		attrs := gov(&s.Block, map[string]string{})
		if s.From != nil {
			attrs["from"] = "source." + s.From.Name
		}
		if s.Where != nil {
			attrs["where"] = text(s.Where.Source, "")
		}
		add("segment."+n, "segment", attrs)
	}
	for _, n := range lang.Sorted(cfg.Templates) {
		t := cfg.Templates[n]
		attrs := gov(&t.Block, map[string]string{"channel": strconv.Quote(t.Channel)})
		for pn, p := range t.Parts {
			attrs[pn] = text(p.Source, p.FromFile)
		}
		add("template."+n, "template", attrs)
	}
	for _, n := range lang.Sorted(cfg.Campaigns) {
		c := cfg.Campaigns[n]
		attrs := gov(&c.Block, map[string]string{
			"channel": strconv.Quote(c.Channel), "purpose": strconv.Quote(c.Purpose),
			"legal_basis": quoteIf(c.LegalBasis),
		})
		if c.Audience != nil {
			attrs["audience"] = "segment." + c.Audience.Name
		}
		if len(c.Exclude) > 0 {
			var ex []string
			for _, s := range c.Exclude {
				if s != nil {
					ex = append(ex, "segment."+s.Name)
				}
			}
			attrs["exclude"] = "[" + strings.Join(ex, ", ") + "]"
		}
		if c.Via != nil {
			attrs["via"] = "provider." + c.Via.Address()
		}
		if c.Holdout > 0 {
			attrs["holdout"] = strconv.FormatFloat(c.Holdout, 'g', -1, 64)
		}
		if fc := c.FrequencyCap; fc != nil {
			attrs["frequency_cap"] = fmt.Sprintf("%d per %s", fc.Limit, fc.Per)
		}
		if s := c.Schedule; s != nil {
			attrs["schedule"] = scheduleString(s)
			// Only when not the default: a campaign applied before
			// max_late was diffed would otherwise show an update, which
			// for a started campaign is an error.
			if s.MaxLate != defaultMaxLate {
				attrs["max_late"] = fmtDuration(s.MaxLate)
			}
		}
		for _, v := range c.Variants {
			tn := ""
			if v.Template != nil {
				tn = "template." + v.Template.Name
			}
			attrs["variant."+v.Name] = fmt.Sprintf("weight=%s %s", strconv.FormatFloat(v.Weight, 'g', -1, 64), tn)
		}
		for k, v := range c.UTM {
			attrs["utm."+k] = strconv.Quote(v)
		}
		if c.TrackClicks {
			attrs["track_clicks"] = "true"
		}
		if c.TrackOpens {
			attrs["track_opens"] = "true"
		}
		add("campaign."+n, "campaign", attrs)
	}
	for _, n := range lang.Sorted(cfg.Audiences) {
		a := cfg.Audiences[n]
		attrs := gov(&a.Block, map[string]string{"match_on": quoteList(a.MatchOn)})
		if a.Segment != nil {
			attrs["segment"] = "segment." + a.Segment.Name
		}
		if a.To != nil {
			attrs["to"] = "provider." + a.To.Address()
		}
		add("audience."+n, "audience", attrs)
	}
	for _, n := range lang.Sorted(cfg.Triggers) {
		t := cfg.Triggers[n]
		attrs := gov(&t.Block, map[string]string{
			"on": quoteIf(t.On), "purpose": strconv.Quote(t.Purpose), "legal_basis": quoteIf(t.LegalBasis),
		})
		if t.From != nil {
			attrs["from"] = "source." + t.From.Name
		}
		for name, e := range map[string]*lang.Expr{"when": t.When, "unless": t.Unless, "dedupe": t.Dedupe, "exit_when": t.ExitWhen} {
			if e != nil {
				attrs[name] = text(e.Source, "")
			}
		}
		if th := t.Threshold; th != nil {
			attrs["threshold"] = fmt.Sprintf("%d within %s", th.Count, th.Within)
		}
		if t.Reentry > 0 {
			attrs["reentry"] = t.Reentry.String()
		}
		if t.Backfill > 0 {
			attrs["backfill"] = fmtDuration(t.Backfill)
		}
		for i, st := range t.Steps {
			v := "wait=" + st.Wait.String()
			if st.If != nil {
				v += " if=" + text(st.If.Source, "")
			}
			if st.Send != nil && st.Send.Template != nil && st.Send.Via != nil {
				v += fmt.Sprintf(" send=template.%s via=provider.%s", st.Send.Template.Name, st.Send.Via.Address())
			}
			attrs[fmt.Sprintf("step.%d.%s", i, st.Name)] = v
		}
		add("trigger."+n, "trigger", attrs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// defaultMaxLate is the max_late lang gives a schedule that does not set
// it.
const defaultMaxLate = 6 * time.Hour

// heraldAttrs renders the herald block: what every message is rendered
// with (the sender, the public URL of its links) and the project rules.
// Where the state lives is left out: it is not something the state can
// record a change of.
func heraldAttrs(h *lang.Herald) map[string]string {
	attrs := map[string]string{
		"public_url":            quoteIf(h.PublicURL),
		"sender.name":           quoteIf(h.Sender.Name),
		"sender.email":          addressDigest(h.Sender.Email),
		"sender.reply_to":       addressDigest(h.Sender.ReplyTo),
		"sender.postal_address": quoteIf(h.Sender.PostalAddress),
		"rules.name_pattern":    quoteIf(h.Rules.NamePattern),
	}
	if h.Rules.RequireOwner {
		attrs["rules.require_owner"] = "true"
	}
	return attrs
}

// addressDigest renders an e-mail address without showing it, since plans
// never show one: its domain, which a reviewer of deliverability cares
// about, and a digest of the whole that changes when the address does.
func addressDigest(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	domain := "?"
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		domain = s[at+1:]
	}
	return fmt.Sprintf("(an address at %s, sha256:%s)", domain, hex.EncodeToString(sum[:6]))
}

func scheduleString(s *lang.Schedule) string {
	if s.Recipient {
		return s.At.Format("2006-01-02 15:04") + " recipient-local"
	}
	return s.At.Format("2006-01-02 15:04 MST") + " (" + s.Location.String() + ")"
}

func quoteIf(s string) string {
	if s == "" {
		return ""
	}
	return strconv.Quote(s)
}

// quoteIfNot is quoteIf, and "" for the default value def.
func quoteIfNot(s, def string) string {
	if s == def {
		return ""
	}
	return quoteIf(s)
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// ctyString renders a known value for the plan.
func ctyString(v cty.Value) string {
	if v.IsNull() {
		return ""
	}
	switch {
	case v.Type() == cty.String:
		return strconv.Quote(v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True())
	case v.Type().IsMapType() || v.Type().IsObjectType():
		var parts []string
		for k, e := range v.AsValueMap() {
			parts = append(parts, k+"="+ctyString(e))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return v.GoString()
}
