package planner

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/lang/diag"
	"github.com/heraldhq/herald/planner/pushdown"
	"github.com/heraldhq/herald/state"
)

// Options are the knobs of one plan.
type Options struct {
	// Now is the fixed time of the plan; every expression sees it.
	Now time.Time
	// Parallelism is the number of evaluation workers; 0 means all cores.
	Parallelism int
	// Targets and Excludes restrict the plan to, or keep out of it, the
	// given addresses ("campaign.x", "segment.y", or a kind such as
	// "campaign").
	Targets, Excludes []string
	// Progress, when set, is called with the number of customers read.
	Progress func(rows int64)
	// NoPushdown evaluates postgres segments in memory too (for
	// benchmarks and for comparing the two).
	NoPushdown bool
	// ShowPII lists a few recipients of each campaign with their e-mail
	// address or phone number. Off, plans hold ids and counts only.
	ShowPII bool
}

// Started reports whether a campaign in this status has begun sending and
// so can no longer change. A paused or cancelled campaign has: herald
// campaign pause and cancel accept only a campaign that was scheduled or
// sending.
func Started(status string) bool {
	switch status {
	case "sending", "sent", "scheduled", "paused", "cancelled":
		return true
	}
	return false
}

// Unfinished reports whether a campaign in this status still has sends to
// make: scheduled sends waiting in the ledger, sends an interrupted apply
// left, or sends a pause holds. Such a campaign still renders messages
// from its templates, and deleting it would drop its sends unannounced.
// A campaign sent in full or cancelled has nothing left to send.
func Unfinished(status string) bool {
	switch status {
	case "sending", "scheduled", "paused":
		return true
	}
	return false
}

// Make compares cfg with the state and evaluates every campaign and
// audience that would change. It never writes to the state.
func Make(ctx context.Context, cfg *lang.Config, st state.Backend, opts Options) (*Plan, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	now := opts.Now.UTC().Truncate(time.Second)
	fail := func(summary string, err error) (*Plan, hcl.Diagnostics) {
		return nil, append(diags, diag.Error(diag.StateError, nil, summary, err.Error()))
	}
	meta, err := st.Meta(ctx)
	if err != nil {
		return fail("Cannot read the state", err)
	}
	current, err := st.Objects(ctx)
	if err != nil {
		return fail("Cannot read the state", err)
	}
	digest, err := ConfigDigest(cfg)
	if err != nil {
		return fail("Cannot read the configuration files", err)
	}
	p := &Plan{
		Version: FormatVersion, Created: time.Now().UTC(), Now: now,
		ConfigDigest: digest, Lineage: meta.Lineage, Serial: meta.Serial,
		Targets: opts.Targets, Excludes: opts.Excludes,
	}

	byAddr := map[string]state.Object{}
	for _, o := range current {
		byAddr[o.Address] = o
	}
	want := desired(cfg)
	if d := checkSelection(opts, want, current); d.HasErrors() {
		return nil, d
	}
	users := templateUsers(cfg, current)
	seen := map[string]bool{}
	for _, o := range want {
		seen[o.Address] = true
		if !selected(o.Address, opts) {
			continue
		}
		c := &Change{Address: o.Address, Kind: o.Kind, After: o.Attrs}
		if old, ok := byAddr[o.Address]; ok {
			c.Attrs = attrDiff(old.Attrs, o.Attrs)
			if len(c.Attrs) > 0 {
				c.Action = Update
				if o.Kind == "campaign" && Started(old.Status) {
					rng := campaignRange(cfg, o.Address)
					why := "some recipients may already have it, so changing it now would send them a different campaign from the one reviewed"
					fix := "Undo the change, and create a new campaign block for the new message"
					switch old.Status {
					case "scheduled":
						why = "its recipients are pinned in the ledger, waiting for their send time, as the plan that scheduled them was reviewed, and each message is rendered from this block when it goes out"
						fix += "; to stop the pinned sends, run herald campaign pause or herald campaign cancel"
					case "paused":
						why = "its remaining sends are held in the ledger as they were reviewed, and herald campaign resume releases them unchanged"
						fix += "; to drop the held sends for good, run herald campaign cancel"
					case "cancelled":
						why = "it was cancelled, and a cancelled campaign is never sent again"
					}
					diags = append(diags, diag.Error(diag.CampaignStarted, rng,
						fmt.Sprintf("%s has started sending and cannot be changed", o.Address),
						fmt.Sprintf("Its state is %q: %s. %s.", old.Status, why, fix)))
				}
				if o.Kind == "template" {
					diags = append(diags, templateInUse(cfg, o.Address, users[o.Address])...)
				}
				if o.Kind == "herald" {
					if w := senderInUse(c.Attrs, current); w != "" {
						p.Warnings = append(p.Warnings, w)
					}
				}
			} else {
				c.Action = NoOp
			}
		} else {
			c.Action = Create
			for _, k := range sortedKeys(o.Attrs) {
				c.Attrs = append(c.Attrs, AttrChange{Name: k, After: o.Attrs[k]})
			}
		}
		p.Changes = append(p.Changes, c)
	}
	for _, o := range current {
		if seen[o.Address] || !selected(o.Address, opts) {
			continue
		}
		c := &Change{Address: o.Address, Kind: o.Kind, Action: Delete}
		for _, k := range sortedKeys(o.Attrs) {
			c.Attrs = append(c.Attrs, AttrChange{Name: k, Before: o.Attrs[k]})
		}
		if o.Kind == "audience" {
			if c.Teardown, err = teardown(ctx, cfg, st, o); err != nil {
				return fail("Cannot read audience membership from the state", err)
			}
		}
		if o.Kind == "trigger" {
			// The reviewer sees who is mid-journey: herald run ends those
			// journeys at their next step once the delete is applied.
			if c.JourneysInFlight, err = journeysInFlight(ctx, st, o.Address, now); err != nil {
				return fail("Cannot read journeys from the state", err)
			}
		}
		if o.Kind == "campaign" {
			// The reviewer sees what the ledger still holds: herald run
			// skips those sends as removed once the delete is applied.
			if c.SendsLeft, err = sendsLeft(ctx, st, o.Address); err != nil {
				return fail("Cannot read the send ledger", err)
			}
			if Unfinished(o.Status) {
				name := strings.TrimPrefix(o.Address, "campaign.")
				diags = append(diags, diag.Error(diag.CampaignStarted, nil,
					fmt.Sprintf("%s has started sending and cannot be deleted", o.Address),
					fmt.Sprintf("Its state is %q, with %d sends left in the ledger: deleting the block would drop them without anyone deciding to. Run herald campaign cancel %s first, which skips them for good; then the delete is allowed.", o.Status, c.SendsLeft, name)))
			}
		}
		p.Changes = append(p.Changes, c)
	}
	if diags.HasErrors() {
		return p, diags
	}

	if err := evaluateAll(ctx, cfg, st, p, opts, now); err != nil {
		diags = append(diags, err...)
	}
	p.summarize()
	return p, diags
}

// knownKinds are the kinds of objects, for -target and -exclude.
var knownKinds = []string{"herald", "provider", "schema", "source", "consent", "segment", "template", "campaign", "audience", "trigger"}

// checkSelection reports a -target or -exclude that matches no block of
// the configuration and no object of the state: a typo there would
// otherwise plan everything, or nothing, without a word.
func checkSelection(opts Options, want []object, current []state.Object) hcl.Diagnostics {
	var addrs []string
	for _, o := range want {
		addrs = append(addrs, o.Address)
	}
	for _, o := range current {
		if isBlockKind(o.Kind) {
			addrs = append(addrs, o.Address)
		}
	}
	var diags hcl.Diagnostics
	check := func(flag, pattern string) {
		for _, a := range addrs {
			if a == pattern || strings.HasPrefix(a, pattern+".") {
				return
			}
		}
		detail := fmt.Sprintf("No block of the configuration and no object of the state has the address %s", pattern)
		for _, k := range knownKinds {
			if pattern == k {
				detail = fmt.Sprintf("The configuration and the state hold no %s block", k)
			}
		}
		cands := append(append([]string(nil), addrs...), knownKinds...)
		switch sim := state.Similar(pattern, cands); len(sim) {
		case 0:
			detail += ". Give an address such as campaign.NAME, or a kind: " + strings.Join(knownKinds, ", ") + "."
		case 1:
			detail += ". Did you mean " + sim[0] + "?"
		default:
			detail += ". Did you mean one of " + strings.Join(sim, ", ") + "?"
		}
		diags = append(diags, diag.Error(diag.UnknownReference, nil,
			fmt.Sprintf("-%s=%s matches nothing", flag, pattern), detail))
	}
	for _, t := range opts.Targets {
		check("target", t)
	}
	for _, x := range opts.Excludes {
		check("exclude", x)
	}
	return diags
}

// isBlockKind reports whether kind is that of a configuration block, and
// not of the records apply keeps for itself in the state.
func isBlockKind(kind string) bool {
	for _, k := range knownKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// templateUsers maps each template's address to the unfinished campaigns
// that send it, as the state recorded them when they were applied and as
// the configuration has them now.
func templateUsers(cfg *lang.Config, current []state.Object) map[string][]string {
	set := map[string]map[string]bool{}
	use := func(tmpl, campaign string) {
		if set[tmpl] == nil {
			set[tmpl] = map[string]bool{}
		}
		set[tmpl][campaign] = true
	}
	unfinished := map[string]bool{}
	for _, o := range current {
		if o.Kind != "campaign" || !Unfinished(o.Status) {
			continue
		}
		unfinished[o.Address] = true
		for k, v := range o.Attrs {
			if !strings.HasPrefix(k, "variant.") {
				continue
			}
			for _, f := range strings.Fields(v) {
				if strings.HasPrefix(f, "template.") {
					use(f, o.Address)
				}
			}
		}
	}
	for name, c := range cfg.Campaigns {
		if !unfinished["campaign."+name] {
			continue
		}
		for _, v := range c.Variants {
			if v.Template != nil {
				use("template."+v.Template.Name, "campaign."+name)
			}
		}
	}
	out := map[string][]string{}
	for t, cs := range set {
		out[t] = sortedKeys(cs)
	}
	return out
}

// senderInUse is the warning for a change to the sender or the public URL
// while campaigns still have sends waiting: their messages are rendered
// when they go out, so those recipients get the new sender, footer and
// links. A warning, not an error: the sender is the whole project's, and
// correcting a postal address must not wait for every schedule to end.
func senderInUse(attrs []AttrChange, current []state.Object) string {
	var changed []string
	for _, a := range attrs {
		if strings.HasPrefix(a.Name, "sender.") || a.Name == "public_url" {
			changed = append(changed, a.Name)
		}
	}
	if len(changed) == 0 {
		return ""
	}
	var waiting []string
	for _, o := range current {
		if o.Kind == "campaign" && Unfinished(o.Status) {
			waiting = append(waiting, o.Address)
		}
	}
	if len(waiting) == 0 {
		return ""
	}
	sort.Strings(waiting)
	return fmt.Sprintf("herald: %s changed while %s still %s sends waiting; they go out with the new value.",
		strings.Join(changed, ", "), strings.Join(waiting, ", "), map[bool]string{true: "has", false: "have"}[len(waiting) == 1])
}

// templateInUse is the error for a change to a template that unfinished
// campaigns send: herald renders each of their messages from the
// template as it is when the message goes out, so the change would reach
// recipients who were reviewed with the old text.
func templateInUse(cfg *lang.Config, addr string, campaigns []string) hcl.Diagnostics {
	if len(campaigns) == 0 {
		return nil
	}
	var rng *hcl.Range
	if t, ok := cfg.Templates[strings.TrimPrefix(addr, "template.")]; ok {
		r := t.DeclRange
		rng = &r
	}
	var names []string
	for _, c := range campaigns {
		names = append(names, strings.TrimPrefix(c, "campaign."))
	}
	who := campaigns[0] + ", which has"
	if len(campaigns) > 1 {
		who = strings.Join(campaigns, ", ") + ", which have"
	}
	return hcl.Diagnostics{diag.Error(diag.CampaignStarted, rng,
		fmt.Sprintf("%s is sent by %s started sending, and cannot be changed", addr, who),
		fmt.Sprintf("Each message of a started campaign is rendered from its template when it goes out, so the change would reach recipients who were reviewed with the old text. Undo the change, and create a new template block (and a new campaign that sends it) for the new message; or, to drop the remaining sends, run herald campaign cancel %s.",
			strings.Join(names, ", herald campaign cancel ")))}
}

// sendsLeft counts a campaign's ledger rows that have not gone out and
// still could: deferred to their send time, or left pending by an
// interrupted apply.
func sendsLeft(ctx context.Context, st state.Backend, campaign string) (int, error) {
	n := 0
	err := st.Sends(ctx, campaign, func(s state.Send) error {
		switch s.Status {
		case state.SendDeferred, state.SendPending, state.SendPlanned:
			n++
		}
		return nil
	})
	return n, err
}

// selected applies -target and -exclude to an address.
func selected(addr string, opts Options) bool {
	match := func(pattern string) bool {
		return addr == pattern || strings.HasPrefix(addr, pattern+".")
	}
	for _, x := range opts.Excludes {
		if match(x) {
			return false
		}
	}
	if len(opts.Targets) == 0 {
		return true
	}
	for _, t := range opts.Targets {
		if match(t) {
			return true
		}
	}
	return false
}

func campaignRange(cfg *lang.Config, addr string) *hcl.Range {
	if c, ok := cfg.Campaigns[strings.TrimPrefix(addr, "campaign.")]; ok {
		r := c.DeclRange
		return &r
	}
	return nil
}

func attrDiff(before, after map[string]string) []AttrChange {
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var out []AttrChange
	for _, k := range sortedKeys(keys) {
		if before[k] != after[k] {
			out = append(out, AttrChange{Name: k, Before: before[k], After: after[k]})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// evaluateAll runs the funnels of the campaigns being created or changed
// and of every ad audience, one scan per customer source.
func evaluateAll(ctx context.Context, cfg *lang.Config, st state.Backend, p *Plan, opts Options, now time.Time) hcl.Diagnostics {
	var diags hcl.Diagnostics
	fail := func(summary string, err error) hcl.Diagnostics {
		return append(diags, diag.Error(diag.SourceError, nil, summary, err.Error()))
	}
	bySource := map[*lang.Source][]*consumer{}
	changes := map[string]*Change{}
	var order []*lang.Source
	// The frequency caps' counts are read from the ledger while the
	// sources are scanned: at half a million sends in the window the
	// query is a third of a second, which the scan would otherwise wait
	// for. Campaigns with the same channel and window share one read.
	cctx, cancelCounts := context.WithCancel(ctx)
	defer cancelCounts()
	ledger := map[string]*sendCounts{}
	capOf := map[*consumer]*sendCounts{}
	addConsumer := func(src *lang.Source, c *consumer) {
		if _, ok := bySource[src]; !ok {
			order = append(order, src)
		}
		bySource[src] = append(bySource[src], c)
	}
	for _, ch := range p.Changes {
		switch {
		case ch.Kind == "campaign" && (ch.Action == Create || ch.Action == Update):
			cp := cfg.Campaigns[strings.TrimPrefix(ch.Address, "campaign.")]
			if cp == nil || cp.Audience == nil || cp.Audience.From == nil || cp.Audience.From.Schema == nil {
				continue
			}
			c := &consumer{name: cp.Name, campaign: cp, segment: cp.Audience, exclude: cp.Exclude, chName: cp.Channel,
				needConsent: cp.Purpose == "marketing"}
			if cfg.Consent != nil {
				c.channel = cfg.Consent.Channels[cp.Channel]
			}
			if c.channel != nil {
				c.quiet = c.channel.QuietHours
			}
			c.toField = addressField(cp.Audience.From.Schema, cp.Channel)
			if fc := cp.FrequencyCap; fc != nil {
				since := now.Add(-fc.Per)
				key := cp.Channel + "\x00" + since.Format(time.RFC3339Nano)
				if ledger[key] == nil {
					ledger[key] = countSends(cctx, st, cp.Channel, since)
				}
				c.capLimit, capOf[c] = fc.Limit, ledger[key]
			}
			changes[cp.Name] = ch
			addConsumer(cp.Audience.From, c)
		case ch.Kind == "audience" && ch.Action != Delete:
			au := cfg.Audiences[strings.TrimPrefix(ch.Address, "audience.")]
			if au == nil || au.Segment == nil || au.Segment.From == nil || au.Segment.From.Schema == nil {
				continue
			}
			c := &consumer{name: au.Name, audience: au, segment: au.Segment, chName: "ads", needConsent: true}
			if cfg.Consent != nil {
				c.channel = cfg.Consent.Channels["ads"]
			}
			changes["audience."+au.Name] = ch
			addConsumer(au.Segment.From, c)
		}
	}
	if len(order) == 0 {
		return diags
	}
	// Sources are read now, so their credentials are needed now; validate
	// never needed them.
	needed := append([]*lang.Source(nil), order...)
	if cfg.Consent != nil && cfg.Consent.From != nil {
		needed = append(needed, cfg.Consent.From)
	}
	for _, src := range needed {
		if src.From == nil {
			continue
		}
		for _, an := range lang.Sorted(src.From.Attributes) {
			if v := src.From.Attributes[an]; !v.IsWhollyKnown() {
				rng := src.From.AttrRanges[an]
				hint := src.From.Unset[an].Hint()
				if hint == "" {
					hint = "give it a value"
				}
				diags = append(diags, diag.Error(diag.EnvUnset, &rng,
					fmt.Sprintf("provider.%s.%s has no value", src.From.Address(), an),
					fmt.Sprintf("Planning reads source.%s, which needs %s: %s before running plan.", src.Name, an, hint)))
			}
		}
	}
	if diags.HasErrors() {
		return diags
	}
	// The platforms are asked about drift while the sources are read.
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waitDrift, err := startDrift(dctx, cfg, st, p.Changes)
	if err != nil {
		return fail("Cannot read the state", err)
	}
	e := newEvaluator()
	e.dir, e.now, e.parallelism, e.progress, e.noPushdown, e.showPII = cfg.Dir, now, opts.Parallelism, opts.Progress, opts.NoPushdown, opts.ShowPII
	var all []*consumer
	for _, src := range order {
		if err := e.scanSource(ctx, src, bySource[src]); err != nil {
			return fail("Cannot evaluate audiences", err)
		}
		all = append(all, bySource[src]...)
	}
	for c, sc := range capOf {
		<-sc.done
		if sc.err != nil {
			return fail("Cannot read the send ledger", sc.err)
		}
		c.counts = sc.counts
	}
	e.sortCandidates(all)
	p.Warnings = append(p.Warnings, e.skipped...)
	// Consent is read after the scan, and kept only for the customers who
	// passed a segment (e.ids): at a million customers the index of
	// everyone's consent would be most of the plan's memory. Without a
	// consumer that needs consent it is not read at all.
	wanted := newIDSet()
	wanted.freeze()
	for _, c := range all {
		if c.needConsent {
			wanted = e.ids
			break
		}
	}
	consent, err := loadConsent(ctx, cfg.Dir, cfg, wanted)
	if err != nil {
		return fail("Cannot read consent records", err)
	}
	// From here the funnel knows its customers by index.
	e.ids.dropIndex()
	supp, err := loadSuppressions(ctx, st)
	if err != nil {
		return fail("Cannot read the suppression list", err)
	}
	drifts := waitDrift()
	p.Warnings = append(p.Warnings, driftWarnings(drifts)...)
	// The scans leave tens of megabytes of garbage behind in pieces, and
	// each campaign's recipients are about to be one allocation of 40
	// bytes a recipient, which the runtime would map fresh, raising the
	// peak past the scans'. Collecting and returning the free memory
	// first keeps the peak where it was; a small plan has nothing worth
	// returning.
	n := 0
	for _, c := range all {
		n += len(c.candidates)
	}
	if n >= 100_000 {
		debug.FreeOSMemory()
	}
	for _, src := range order {
		for _, c := range bySource[src] {
			e.finish(c, consent, supp)
			if c.campaign != nil {
				changes[c.name].Campaign = campaignPlan(c, now)
				continue
			}
			ap, err := audiencePlan(ctx, st, c)
			if err != nil {
				return fail("Cannot read audience membership from the state", err)
			}
			ch := changes["audience."+c.name]
			applyDrift(ap, drifts[ch.Address], c.members)
			ch.Audience = ap
			if ch.Action == NoOp && (ap.Add+ap.Remove > 0 || ap.Recreate) {
				ch.Action = Sync
			}
		}
	}
	return diags
}

// sendCounts is a read of the ledger's send counts under way.
type sendCounts struct {
	done   chan struct{} // closed when counts and err are set
	counts map[string]int
	err    error
}

// countSends starts reading the sends per customer on channel since a
// time, for a frequency cap.
func countSends(ctx context.Context, st state.Backend, channel string, since time.Time) *sendCounts {
	sc := &sendCounts{done: make(chan struct{})}
	go func() {
		defer close(sc.done)
		sc.counts, sc.err = st.SendCounts(ctx, channel, since)
	}()
	return sc
}

func funnel(c *consumer, channelLabel string) []Step {
	steps := []Step{{Name: "in_segment", Label: "in segment." + c.segment.Name, Remain: c.inSeg}}
	remain := c.inSeg
	add := func(i int, name, label string) {
		remain -= c.steps[i]
		steps = append(steps, Step{Name: name, Label: label, Removed: c.steps[i], Remain: remain})
	}
	if len(c.exclude) > 0 {
		var names []string
		for _, x := range c.exclude {
			names = append(names, "segment."+x.Name)
		}
		add(fExcluded, "excluded", "excluded ("+strings.Join(names, ", ")+")")
	}
	if c.needConsent {
		add(fConsent, "no_consent", "no "+channelLabel+" consent")
	}
	if c.capLimit > 0 {
		fc := c.campaign.FrequencyCap
		add(fCap, "frequency_cap", fmt.Sprintf("frequency cap (%d per %s)", fc.Limit, fmtDuration(fc.Per)))
	}
	add(fSuppressed, "suppressed", "suppressed")
	if c.campaign != nil && c.campaign.Holdout > 0 {
		add(fHoldout, "holdout", fmt.Sprintf("holdout %g%%", c.campaign.Holdout*100))
	}
	return steps
}

func campaignPlan(c *consumer, now time.Time) *CampaignPlan {
	cp := c.campaign
	out := &CampaignPlan{Channel: cp.Channel, Funnel: funnel(c, cp.Channel), Recipients: c.rec, Deferred: c.defer_,
		Evaluation: c.evaluation, Sample: c.sample}
	if cp.Via != nil {
		out.Provider = cp.Via.Address()
	}
	for _, v := range cp.Variants {
		out.Variants = append(out.Variants, VariantCount{Name: v.Name, Count: c.byVar[v.Name]})
	}
	var first int64
	for _, r := range c.rec {
		if r.SendAt > 0 && (first == 0 || r.SendAt < first) {
			first = r.SendAt
		}
	}
	if first > 0 && cp.Schedule != nil {
		t := time.Unix(first, 0).UTC()
		out.Scheduled = &t
	}
	return out
}

func audiencePlan(ctx context.Context, st state.Backend, c *consumer) (*AudiencePlan, error) {
	ap := &AudiencePlan{Funnel: funnel(c, "ads"), Members: int64(len(c.members)), Evaluation: c.evaluation}
	if c.audience.To != nil {
		ap.Provider = c.audience.To.Address()
	}
	want := make(map[string]struct{}, len(c.members))
	for _, id := range c.members {
		want[id] = struct{}{}
	}
	have := map[string]struct{}{}
	err := st.AudienceMembers(ctx, c.audience.Name, func(id string) error {
		have[id] = struct{}{}
		if _, ok := want[id]; !ok {
			ap.RemoveIDs = append(ap.RemoveIDs, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range c.members {
		if _, ok := have[id]; !ok {
			ap.AddIDs = append(ap.AddIDs, id)
		}
	}
	sort.Strings(ap.RemoveIDs)
	ap.Add, ap.Remove = int64(len(ap.AddIDs)), int64(len(ap.RemoveIDs))
	return ap, nil
}

// fmtDuration renders a duration the way it is usually written in HCL.
func fmtDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	if s == "" {
		return "0s"
	}
	return s
}

// scanSource evaluates the consumers of one source. A files source is read
// once for all of them. For a postgres source each consumer's segment is
// compiled to SQL and run in the database, one query per consumer, falling
// back to one streaming scan for those whose condition SQL cannot express.
func (e *evaluator) scanSource(ctx context.Context, src *lang.Source, cons []*consumer) error {
	if src.From == nil || src.From.Type != "postgres" || e.noPushdown {
		for _, c := range cons {
			c.evaluation = "in memory"
		}
		return e.scan(ctx, src, cons)
	}
	var stream []*consumer
	for _, c := range cons {
		if c.segment.Where == nil {
			c.evaluation = "in the database (the whole table)"
			stream = append(stream, c)
			continue
		}
		res, ok := pushdown.Compile(c.segment.Where.AST, "customer", src.Schema, e.now, 1)
		if !ok {
			c.evaluation = "in memory: " + res.Reason
			stream = append(stream, c)
			continue
		}
		c.evaluation = "pushed down to SQL"
		if res.Partial {
			c.evaluation = "partly pushed down to SQL, the rest in memory: " + res.Reason
		}
		err := e.scanWhere(ctx, src, []*consumer{c}, &res)
		if err != nil && pushdown.Fallback(err) {
			// A data exception (an overflow PostgreSQL raises for the whole
			// query, where CEL fails one row): evaluate in memory instead.
			*c = consumer{name: c.name, campaign: c.campaign, audience: c.audience, segment: c.segment, exclude: c.exclude,
				channel: c.channel, chName: c.chName, needConsent: c.needConsent, capLimit: c.capLimit, counts: c.counts, quiet: c.quiet,
				evaluation: "in memory: the database could not evaluate the condition (" + err.Error() + ")"}
			stream = append(stream, c)
			continue
		}
		if err != nil {
			return err
		}
	}
	if len(stream) > 0 {
		return e.scan(ctx, src, stream)
	}
	return nil
}

// addressField is the field a message on channel goes to: the first field
// marked pii "email" (e-mail) or "phone" (SMS).
func addressField(s *lang.Schema, channel string) string {
	want := map[string]string{"email": "email", "sms": "phone"}[channel]
	for _, f := range s.Fields {
		if want != "" && f.PII == want {
			return f.Name
		}
	}
	return ""
}

// journeysInFlight counts a trigger's journeys that have not ended.
func journeysInFlight(ctx context.Context, st state.Backend, trigger string, now time.Time) (int, error) {
	counts, err := st.JourneyCounts(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range counts {
		if c.Trigger == trigger && (c.Status == state.JourneyActive || c.Status == "waiting") {
			n += c.N
		}
	}
	return n, nil
}
