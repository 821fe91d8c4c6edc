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
	}
	return ""
}

// WriteText renders the plan as a reviewer reads it in a terminal.
func WriteText(w io.Writer, p *Plan, color bool) error {
	st := newStyles(color)
	var b strings.Builder
	changed := 0
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
			if c.Action == Update {
				writeAttrs(&b, c.Attrs, st)
			}
		case c.Audience != nil:
			writeFunnel(&b, c.Audience.Funnel, st)
			fmt.Fprintf(&b, "      =%7s  members\n", n(c.Audience.Members))
			writeEvaluation(&b, c.Audience.Evaluation, st)
			if d := c.Audience.Drift; d != nil && c.Audience.Recreate {
				fmt.Fprintf(&b, "       %sdrift: %s no longer exists on the platform: it will be created again and all %s members uploaded%s\n",
					st.yellow, d.ProviderID, n(c.Audience.Add), st.reset)
			}
			if c.Action == Update {
				writeAttrs(&b, c.Attrs, st)
			}
		case c.Action == Update:
			writeAttrs(&b, c.Attrs, st)
		case c.Action == Create || c.Action == Delete:
			// A new or removed block is listed by name; its attributes are
			// in the JSON plan and in state show.
		}
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
	return fmt.Sprintf("Plan: %d to create, %d to change, %d to delete · %s messages · %s audience changes",
		s.Create, s.Update, s.Delete, n(s.Messages), n(s.AudienceChanges))
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

func writeAttrs(b *strings.Builder, attrs []AttrChange, st styles) {
	for _, a := range attrs {
		switch {
		case a.Before == "":
			fmt.Fprintf(b, "      %s+%s %s: %s\n", st.green, st.reset, a.Name, a.After)
		case a.After == "":
			fmt.Fprintf(b, "      %s-%s %s: %s\n", st.red, st.reset, a.Name, a.Before)
		default:
			fmt.Fprintf(b, "      %s: %s → %s\n", a.Name, a.Before, a.After)
		}
	}
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

// WriteMarkdown renders the plan as a pull-request comment: the summary
// table first, each change's details collapsible, and, for large plans,
// details dropped (largest last) so the comment stays under 60,000
// characters.
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

	var rows strings.Builder
	var details []string
	for _, c := range p.Changes {
		if c.Action == NoOp {
			continue
		}
		var count string
		switch {
		case c.Campaign != nil:
			count = n(c.Campaign.Messages()) + " messages"
		case c.Audience != nil:
			count = fmt.Sprintf("+%s −%s", n(c.Audience.Add), n(c.Audience.Remove))
			if c.Audience.Recreate {
				count += " (re-created)"
			}
		case c.Teardown != nil:
			count = "platform audience kept"
			if c.Teardown.Action == TeardownDelete {
				count = "platform audience deleted"
			}
		}
		fmt.Fprintf(&rows, "| `%s` | %s %s | %s |\n", c.Address, c.Action.Symbol(), c.Action, count)
		var d strings.Builder
		fmt.Fprintf(&d, "<details><summary><code>%s</code> (%s)</summary>\n\n```\n", c.Address, c.Action)
		one := &Plan{Changes: []*Change{c}}
		_ = WriteText(&d, one, false)
		body := d.String()
		if i := strings.LastIndex(body, "\nPlan:"); i >= 0 {
			body = body[:i+1]
		}
		details = append(details, body+"```\n</details>\n")
	}
	if rows.Len() == 0 {
		head.WriteString("No changes.\n")
		_, err := io.WriteString(w, head.String())
		return err
	}
	table := "| address | action | |\n|---|---|---:|\n" + rows.String() + "\n"
	out := head.String() + table
	if len(out) > markdownLimit {
		out = head.String() + fmt.Sprintf("%d changes: too many to list here; run `herald show` on the plan file for all of them.\n", len(details))
		table = ""
	}
	// Keep details while they fit, smallest first, so one huge change does
	// not crowd out the rest.
	sorted := append([]string(nil), details...)
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i]) < len(sorted[j]) })
	budget := markdownLimit - len(out) - 200
	keep := map[string]bool{}
	for _, d := range sorted {
		if len(d) > budget {
			break
		}
		budget -= len(d)
		keep[d] = true
	}
	var b strings.Builder
	b.WriteString(out)
	dropped := 0
	for _, d := range details {
		if keep[d] {
			b.WriteString(d)
		} else {
			dropped++
		}
	}
	if dropped > 0 {
		fmt.Fprintf(&b, "\n_%d more changes not shown; run `herald show` on the plan file for all details._\n", dropped)
	}
	b.WriteString("\n" + SummaryLine(p) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}
