package planner

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// styles are the ANSI codes the text plan uses when colour is on.
type styles struct{ bold, green, yellow, red, dim, reset string }

func newStyles(color bool) styles {
	if !color {
		return styles{}
	}
	return styles{bold: "\x1b[1m", green: "\x1b[32m", yellow: "\x1b[33m", red: "\x1b[31m", dim: "\x1b[2m", reset: "\x1b[0m"}
}

func (s styles) action(a Action) string {
	switch a {
	case Create:
		return s.green
	case Update, Sync:
		return s.yellow
	case Delete:
		return s.red
	}
	return ""
}

// n formats a count with thousands separators: 48,210.
func n(x int64) string {
	neg := x < 0
	if neg {
		x = -x
	}
	s := fmt.Sprint(x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// headerSummary is the text after an address on its header line.
func headerSummary(c *Change) string {
	switch {
	case c.Campaign != nil:
		cp := c.Campaign
		s := cp.Channel + " via " + cp.Provider
		if sch := c.After["schedule"]; sch != "" {
			s += " · " + sch
		}
		return s
	case c.Audience != nil:
		return fmt.Sprintf("+%s −%s members", n(c.Audience.Add), n(c.Audience.Remove))
	case c.Teardown != nil:
		return fmt.Sprintf("%s · %s members forgotten", c.Teardown.What, n(c.Teardown.Members))
	case c.Action == Delete && c.Kind == "trigger":
		return fmt.Sprintf("%s journeys in flight will exit", n(int64(c.JourneysInFlight)))
	case c.Action == Delete && c.Kind == "campaign":
		if c.SendsLeft == 0 {
			return "no sends left in the ledger"
		}
		return fmt.Sprintf("%s sends left in the ledger will be skipped", n(int64(c.SendsLeft)))
	}
	return ""
}

// valueLimit is the length past which the text plan cuts a value short;
// the JSON plan always has it whole.
const valueLimit = 100

// clip cuts r short from start to at most valueLimit runes, marking what
// was left out with "…" and keeping a quoted string's quotes.
func clip(r []rune, start int) string {
	quoted := len(r) >= 2 && r[0] == '"' && r[len(r)-1] == '"'
	prefix, suffix := "", ""
	body := r[start:]
	if start > 0 {
		prefix = "…"
		if quoted {
			prefix = `"…`
		}
	}
	if len(body) > valueLimit {
		body = body[:valueLimit]
		suffix = "…"
		if quoted {
			suffix = `…"`
		}
	}
	return prefix + string(body) + suffix
}

// clipValue renders one value for the text plan, and reports whether it
// was cut short.
func clipValue(v string) (string, bool) {
	r := []rune(v)
	if len(r) <= valueLimit {
		return v, false
	}
	return clip(r, 0), true
}

// clipPair renders an attribute's before and after for the text plan.
// When they are long and share a long beginning, both start a little
// before their first difference, so the reviewer sees what changed.
func clipPair(before, after string) (string, string, bool) {
	b, a := []rune(before), []rune(after)
	if len(b) <= valueLimit && len(a) <= valueLimit {
		return before, after, false
	}
	i := 0
	for i < len(b) && i < len(a) && b[i] == a[i] {
		i++
	}
	start := 0
	if i > valueLimit/2 {
		start = i - valueLimit/4
	}
	return clip(b, start), clip(a, start), true
}

// WriteText renders the plan as a reviewer reads it in a terminal.
func WriteText(w io.Writer, p *Plan, color bool) error {
	st := newStyles(color)
	var b strings.Builder
	changed := 0
	clipped := false
	attrs := func(c *Change) {
		switch c.Action {
		case Update, Sync:
			clipped = writeAttrs(&b, c.Attrs, st) || clipped
		case Create, Delete:
			clipped = writeValues(&b, c.Action, c.Attrs, st) || clipped
		}
	}
	for _, c := range p.Changes {
		if c.Action == NoOp {
			continue
		}
		changed++
		fmt.Fprintf(&b, "  %s%s %s%s  (%s)", st.action(c.Action), c.Action.Symbol(), st.bold+c.Address+st.reset, st.reset, c.Action)
		if h := headerSummary(c); h != "" {
			fmt.Fprintf(&b, "   %s", h)
		}
		b.WriteByte('\n')
		switch {
		case c.Campaign != nil:
			writeFunnel(&b, c.Campaign.Funnel, st)
			var vs []string
			for _, v := range c.Campaign.Variants {
				vs = append(vs, v.Name+" "+n(v.Count))
			}
			fmt.Fprintf(&b, "      =%7s  will receive", n(c.Campaign.Messages()))
			if len(vs) > 1 {
				fmt.Fprintf(&b, "   %s", strings.Join(vs, " · "))
			}
			b.WriteByte('\n')
			writeEvaluation(&b, c.Campaign.Evaluation, st)
			for _, r := range c.Campaign.Sample {
				fmt.Fprintf(&b, "       %s%s (%s) → %s%s\n", st.dim, r.CustomerID, r.Variant, r.To, st.reset)
			}
			if c.Campaign.Deferred > 0 {
				fmt.Fprintf(&b, "       %s%s deferred past quiet hours%s\n", st.dim, n(c.Campaign.Deferred), st.reset)
			}
			attrs(c)
		case c.Audience != nil:
			writeFunnel(&b, c.Audience.Funnel, st)
			fmt.Fprintf(&b, "      =%7s  members\n", n(c.Audience.Members))
			writeEvaluation(&b, c.Audience.Evaluation, st)
			if d := c.Audience.Drift; d != nil && c.Audience.Recreate {
				fmt.Fprintf(&b, "       %sdrift: %s no longer exists on the platform: it will be created again and all %s members uploaded%s\n",
					st.yellow, d.ProviderID, n(c.Audience.Add), st.reset)
			}
			attrs(c)
		default:
			attrs(c)
		}
	}
	if clipped {
		fmt.Fprintf(&b, "%sValues longer than %d characters are cut short (…); the JSON plan (-json) has them in full.%s\n", st.dim, valueLimit, st.reset)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "%sWarning:%s %s\n", st.yellow, st.reset, w)
	}
	if changed == 0 {
		b.WriteString("No changes. The configuration matches the state, and no one would be messaged.\n")
	} else {
		b.WriteByte('\n')
	}
	b.WriteString(SummaryLine(p))
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// SummaryLine is the plan's last line.
func SummaryLine(p *Plan) string {
	s := p.Summary
	line := fmt.Sprintf("Plan: %d to create, %d to change, %d to delete · %s messages · %s audience changes",
		s.Create, s.Update, s.Delete, n(s.Messages), n(s.AudienceChanges))
	// Blocks that do not change are counted, not listed.
	if s.Unchanged > 0 {
		line += fmt.Sprintf(" · %s unchanged", n(int64(s.Unchanged)))
	}
	return line
}

func writeFunnel(b *strings.Builder, steps []Step, st styles) {
	for i, s := range steps {
		if i == 0 {
			fmt.Fprintf(b, "      %8s  %s\n", n(s.Remain), s.Label)
			continue
		}
		fmt.Fprintf(b, "     -%8s  %s\n", n(s.Removed), s.Label)
	}
}

// writeEvaluation says how a segment was evaluated when it was not simply
// streamed from files: pushed down to SQL, or why it could not be.
func writeEvaluation(b *strings.Builder, how string, st styles) {
	if how == "" || how == "in memory" {
		return
	}
	fmt.Fprintf(b, "       %ssegment evaluated %s%s\n", st.dim, how, st.reset)
}

// writeAttrs writes an update's attributes, before → after, and reports
// whether a value was cut short.
func writeAttrs(b *strings.Builder, attrs []AttrChange, st styles) bool {
	clipped := false
	for _, a := range attrs {
		before, after, c := clipPair(a.Before, a.After)
		clipped = clipped || c
		switch {
		case a.Before == "":
			fmt.Fprintf(b, "      %s+%s %s: %s\n", st.green, st.reset, a.Name, after)
		case a.After == "":
			fmt.Fprintf(b, "      %s-%s %s: %s\n", st.red, st.reset, a.Name, before)
		default:
			fmt.Fprintf(b, "      %s: %s → %s\n", a.Name, before, after)
		}
	}
	return clipped
}

// writeValues writes the attributes of a block being created (+ name =
// value) or deleted (- name = value), names aligned as Terraform does, and
// reports whether a value was cut short.
func writeValues(b *strings.Builder, action Action, attrs []AttrChange, st styles) bool {
	width := 0
	for _, a := range attrs {
		width = max(width, len(a.Name))
	}
	clipped := false
	for _, a := range attrs {
		v := a.After
		if action == Delete {
			v = a.Before
		}
		v, c := clipValue(v)
		clipped = clipped || c
		fmt.Fprintf(b, "      %s%s%s %-*s = %s\n", st.action(action), action.Symbol(), st.reset, width, a.Name, v)
	}
	return clipped
}

// jsonPlan is the documented JSON form of a plan (docs/plan-json.md).
type jsonPlan struct {
	FormatVersion int       `json:"format_version"`
	Created       time.Time `json:"created"`
	Now           time.Time `json:"now"`
	ConfigDigest  string    `json:"config_digest"`
	Lineage       string    `json:"lineage"`
	Serial        int64     `json:"serial"`
	Changes       []*Change `json:"changes"`
	Summary       Summary   `json:"summary"`
	Warnings      []string  `json:"warnings,omitempty"`
	Stale         []string  `json:"stale,omitempty"`
}

// MarshalJSON renders the plan as JSON: every change, and the summary as
// numbers so CI can gate on it. Pinned recipients are left out; stale lists
// why a saved plan can no longer be applied.
func MarshalJSON(p *Plan, stale []string) ([]byte, error) {
	changes := p.Changes
	if changes == nil {
		changes = []*Change{}
	}
	return json.MarshalIndent(jsonPlan{
		FormatVersion: p.Version, Created: p.Created, Now: p.Now, ConfigDigest: p.ConfigDigest,
		Lineage: p.Lineage, Serial: p.Serial, Changes: changes, Summary: p.Summary, Warnings: p.Warnings, Stale: stale,
	}, "", "  ")
}

// markdownLimit keeps a pull-request comment under GitHub's 65,536
// characters, with room for what CI adds around it.
const markdownLimit = 60000

// messages says whom a change reaches, for ordering the markdown: the
// messages a campaign sends, the members an audience adds and removes, the
// sends a deleted campaign drops.
func reach(c *Change) int64 {
	switch {
	case c.Campaign != nil:
		return c.Campaign.Messages()
	case c.Audience != nil:
		return c.Audience.Add + c.Audience.Remove
	case c.Teardown != nil:
		return c.Teardown.Members
	}
	return int64(c.SendsLeft)
}

// markdownRow is a campaign's or audience's row in the markdown table of
// who is messaged: its funnel in three numbers.
func markdownRow(c *Change) string {
	var inSeg, out, result string
	funnel := func(steps []Step) {
		if len(steps) == 0 {
			return
		}
		inSeg = n(steps[0].Remain)
		out = n(steps[0].Remain - steps[len(steps)-1].Remain)
	}
	switch {
	case c.Campaign != nil:
		funnel(c.Campaign.Funnel)
		result = n(c.Campaign.Messages()) + " messages"
		if len(c.Campaign.Variants) > 1 {
			var vs []string
			for _, v := range c.Campaign.Variants {
				vs = append(vs, v.Name+" "+n(v.Count))
			}
			result += " (" + strings.Join(vs, " · ") + ")"
		}
	case c.Audience != nil:
		funnel(c.Audience.Funnel)
		result = fmt.Sprintf("+%s −%s members", n(c.Audience.Add), n(c.Audience.Remove))
		if c.Audience.Recreate {
			result += " (re-created)"
		}
	case c.Teardown != nil:
		result = "platform audience kept"
		if c.Teardown.Action == TeardownDelete {
			result = "platform audience deleted"
		}
		result += ", " + n(c.Teardown.Members) + " members forgotten"
	case c.Action == Delete && c.Kind == "campaign":
		result = n(int64(c.SendsLeft)) + " sends left skipped"
	}
	return fmt.Sprintf("| `%s` | %s %s | %s | %s | %s |\n", c.Address, c.Action.Symbol(), c.Action, inSeg, out, result)
}

// markdownDetails is a change's collapsible section: its text rendering.
func markdownDetails(c *Change) string {
	var d strings.Builder
	fmt.Fprintf(&d, "<details><summary><code>%s</code> (%s)</summary>\n\n```\n", c.Address, c.Action)
	_ = WriteText(&d, &Plan{Changes: []*Change{c}}, false)
	body := d.String()
	if i := strings.LastIndex(body, "\nPlan:"); i >= 0 {
		body = body[:i+1]
	}
	return body + "```\n</details>\n"
}

// WriteMarkdown renders the plan as a pull-request comment, under 60,000
// characters whatever the plan's size. What it keeps, in order, while
// there is room: the summary table; a table of the campaigns and audiences
// that change, those that reach the most people first, with their funnel
// counts; the other changes, one row each, or when they do not fit,
// counted by kind and action; then each change's details, collapsible,
// campaigns and audiences first. What is left out is counted, and herald
// show has it all.
func WriteMarkdown(w io.Writer, p *Plan, stale []string) error {
	var head strings.Builder
	head.WriteString("### herald plan\n\n")
	if len(stale) > 0 {
		head.WriteString("> [!WARNING]\n> This plan is stale and cannot be applied:\n")
		for _, s := range stale {
			fmt.Fprintf(&head, "> - %s\n", s)
		}
		head.WriteString("\n")
	}
	s := p.Summary
	head.WriteString("| create | change | delete | messages | audience changes |\n|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&head, "| %d | %d | %d | %s | %s |\n\n", s.Create, s.Update, s.Delete, n(s.Messages), n(s.AudienceChanges))
	for _, w := range p.Warnings {
		fmt.Fprintf(&head, "> [!NOTE]\n> %s\n\n", w)
	}

	var reached, other []*Change
	for _, c := range p.Changes {
		switch {
		case c.Action == NoOp:
		case c.Kind == "campaign" || c.Kind == "audience":
			reached = append(reached, c)
		default:
			other = append(other, c)
		}
	}
	if len(reached)+len(other) == 0 {
		head.WriteString("No changes.\n")
		_, err := io.WriteString(w, head.String())
		return err
	}
	sort.SliceStable(reached, func(i, j int) bool { return reach(reached[i]) > reach(reached[j]) })
	footer := "\n" + SummaryLine(p) + "\n"
	// Room for the notes on what was left out.
	budget := markdownLimit - head.Len() - len(footer) - 600

	// The other changes counted by kind and action: small whatever the
	// plan's size, so its room is kept from the start.
	type kindAction struct{ kind, action string }
	counts := map[kindAction]int{}
	var kinds []kindAction
	for _, c := range other {
		k := kindAction{c.Kind, string(c.Action)}
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	sort.Slice(kinds, func(i, j int) bool {
		if kinds[i].kind != kinds[j].kind {
			return kinds[i].kind < kinds[j].kind
		}
		return kinds[i].action < kinds[j].action
	})
	var byKind, byAddr strings.Builder
	if len(other) > 0 {
		byKind.WriteString("#### Other changes\n\n| kind | action | blocks |\n|---|---|---:|\n")
		for _, k := range kinds {
			fmt.Fprintf(&byKind, "| %s | %s | %d |\n", k.kind, k.action, counts[k])
		}
		byKind.WriteString("\n")
		byAddr.WriteString("#### Other changes\n\n| address | action |\n|---|---|\n")
		for _, c := range other {
			fmt.Fprintf(&byAddr, "| `%s` | %s %s |\n", c.Address, c.Action.Symbol(), c.Action)
		}
		byAddr.WriteString("\n")
	}
	budget -= byKind.Len()

	var table strings.Builder
	listed := 0
	if len(reached) > 0 {
		const th = "#### Campaigns and audiences\n\n| address | action | in segment | left out by the funnel | |\n|---|---|---:|---:|---|\n"
		table.WriteString(th)
		budget -= len(th) + 1
		for _, c := range reached {
			row := markdownRow(c)
			if len(row) > budget {
				break
			}
			budget -= len(row)
			table.WriteString(row)
			listed++
		}
		if rest := reached[listed:]; len(rest) > 0 {
			var msgs, aud int64
			for _, c := range rest {
				if c.Campaign != nil {
					msgs += c.Campaign.Messages()
				}
				if c.Audience != nil {
					aud += c.Audience.Add + c.Audience.Remove
				}
			}
			fmt.Fprintf(&table, "\n_%d more campaigns and audiences, reaching fewer people (%s messages, %s audience changes in all), are not listed; run `herald show` on the plan file for all of them._\n",
				len(rest), n(msgs), n(aud))
		}
		table.WriteString("\n")
	}

	// Details, whom changes reach first; one that does not fit is left out
	// and the next, smaller one may still fit.
	var details strings.Builder
	dropped := 0
	addDetails := func(cs []*Change) {
		for _, c := range cs {
			d := markdownDetails(c)
			if len(d) > budget {
				dropped++
				continue
			}
			budget -= len(d)
			details.WriteString(d)
		}
	}
	addDetails(reached)
	others := byKind.String()
	budget += byKind.Len()
	if byAddr.Len() <= budget {
		others = byAddr.String()
	}
	budget -= len(others)
	addDetails(other)

	var b strings.Builder
	b.WriteString(head.String())
	b.WriteString(table.String())
	b.WriteString(others)
	b.WriteString(details.String())
	if dropped > 0 {
		fmt.Fprintf(&b, "\n_Details of %d more changes not shown; run `herald show` on the plan file for all of them._\n", dropped)
	}
	b.WriteString(footer)
	_, err := io.WriteString(w, b.String())
	return err
}
