package executor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/common/types"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/executor/links"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

// due claims and runs one batch of due journey steps and one of
// scheduled sends, and reports how many items it handled.
func (r *Runner) due(ctx context.Context) (int, error) {
	rc := r.config()
	if rc == nil {
		return 0, nil
	}
	now := r.opts.Now().UTC()
	timers, err := r.st.ClaimTimers(ctx, r.opts.Owner, now, r.opts.Lease, r.opts.Batch)
	if err != nil {
		return 0, fmt.Errorf("claiming due journey steps: %w", err)
	}
	var paused []string
	for addr, o := range rc.objects {
		if o.Kind == "campaign" && o.Status == "paused" {
			paused = append(paused, addr)
		}
	}
	sends, err := r.st.ClaimDueSends(ctx, r.opts.Owner, now, r.opts.Lease, r.opts.Batch, paused)
	if err != nil {
		return len(timers), fmt.Errorf("claiming scheduled sends: %w", err)
	}
	r.m.queue.WithLabelValues("timers").Set(float64(len(timers)))
	r.m.queue.WithLabelValues("sends").Set(float64(len(sends)))
	if len(timers)+len(sends) == 0 {
		r.m.lag.Set(0)
		return 0, nil
	}
	oldest := now
	for _, t := range timers {
		if t.DueAt.Before(oldest) {
			oldest = t.DueAt
		}
	}
	for _, s := range sends {
		if s.DueAt.Before(oldest) {
			oldest = s.DueAt
		}
	}
	r.m.lag.Set(now.Sub(oldest).Seconds())
	// Claimed work is finished even when ctx ends: stopping takes no new
	// work, but what was taken is sent or handed back by its lease.
	wctx := context.WithoutCancel(ctx)
	bc, err := r.batchContext(wctx, rc, timers, sends, now)
	if err != nil {
		return 0, err
	}
	g, gctx := errgroup.WithContext(wctx)
	g.SetLimit(r.opts.Workers)
	for _, t := range timers {
		g.Go(func() error { return r.step(gctx, rc, bc, t, now) })
	}
	for _, s := range sends {
		g.Go(func() error { return r.scheduled(gctx, rc, bc, s, now) })
	}
	return len(timers) + len(sends), g.Wait()
}

// batchCtx is what the send-time checks of one batch read once: consent
// of its customers, the suppression list, and the ledger's counts for
// frequency caps.
type batchCtx struct {
	consent  *planner.Consent
	supp     map[string][]string
	journeys map[string]*state.Journey

	mu   sync.Mutex
	caps map[string]map[string]int // "channel|per" → customer → count
}

func (r *Runner) batchContext(ctx context.Context, rc *runConfig, timers []state.Timer, sends []state.Send, now time.Time) (*batchCtx, error) {
	bc := &batchCtx{supp: map[string][]string{}, journeys: map[string]*state.Journey{}, caps: map[string]map[string]int{}}
	ids := map[string]bool{}
	for _, t := range timers {
		j, err := r.st.Journey(ctx, t.JourneyID)
		if err != nil {
			return nil, fmt.Errorf("reading journey %s: %w", t.JourneyID, err)
		}
		if j != nil {
			bc.journeys[j.ID] = j
			ids[j.CustomerID] = true
		}
	}
	for _, s := range sends {
		ids[s.CustomerID] = true
	}
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	if rc.cfg.Consent != nil && len(list) > 0 {
		c, err := planner.LoadConsent(ctx, rc.cfg, list)
		if err != nil {
			return nil, fmt.Errorf("reading consent: %w", err)
		}
		bc.consent = c
	}
	supp, err := r.st.Suppressions(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the suppression list: %w", err)
	}
	for _, s := range supp {
		if ids[s.CustomerID] {
			bc.supp[s.CustomerID] = append(bc.supp[s.CustomerID], s.Channel)
		}
	}
	return bc, nil
}

func (bc *batchCtx) suppressed(id, channel string) bool {
	for _, c := range bc.supp[id] {
		if c == "" || c == channel {
			return true
		}
	}
	return false
}

// capCount is how many messages on channel the customer got in the cap's
// period, counting those this batch sent.
func (r *Runner) capCount(ctx context.Context, bc *batchCtx, channel string, fc *lang.FrequencyCap, id string, now time.Time) (int, error) {
	k := channel + "|" + fc.Per.String()
	bc.mu.Lock()
	defer bc.mu.Unlock()
	m, ok := bc.caps[k]
	if !ok {
		var err error
		if m, err = r.st.SendCounts(ctx, channel, now.Add(-fc.Per)); err != nil {
			return 0, err
		}
		bc.caps[k] = m
	}
	return m[id], nil
}

func (bc *batchCtx) sentOne(channel string, fc *lang.FrequencyCap, id string) {
	if fc == nil {
		return
	}
	bc.mu.Lock()
	if m := bc.caps[channel+"|"+fc.Per.String()]; m != nil {
		m[id]++
	}
	bc.mu.Unlock()
}

// step runs one due journey step: exit_when with the customer's current
// profile, the step's if, and its send; then the journey moves on.
func (r *Runner) step(ctx context.Context, rc *runConfig, bc *batchCtx, tm state.Timer, now time.Time) error {
	j := bc.journeys[tm.JourneyID]
	if j == nil || j.Status != state.JourneyActive {
		return nil // exited meanwhile: ExitJourney deleted the timer
	}
	rt := rc.triggers[j.Trigger]
	if rt == nil {
		if _, err := r.st.ExitJourney(ctx, j.ID, "the trigger was removed or is no longer applied", now); err != nil {
			return err
		}
		r.m.exits.WithLabelValues(j.Trigger).Inc()
		r.count(func(s *RunStats) { s.Exited++ })
		return nil
	}
	steps := rt.t.Steps
	if tm.Step >= len(steps) {
		_, err := r.st.AdvanceJourney(ctx, j.ID, tm.Step, nil, now)
		return err
	}
	st := steps[tm.Step]
	cust, err := r.profile(ctx, rc, j.CustomerID)
	if err != nil {
		return err
	}
	ev := eventRecord(rt.lay, j.Event)
	act := &condActivation{event: ev, now: types.Timestamp{Time: now}}
	if cust != nil {
		act.customer = cust
	}
	if rt.exit != nil {
		if exit, _ := evalBool(rt.exit, act); exit {
			if ok, err := r.st.ExitJourney(ctx, j.ID, "exit_when (at step "+st.Name+")", now); err != nil || !ok {
				return err
			}
			r.m.exits.WithLabelValues(rt.addr).Inc()
			r.count(func(s *RunStats) { s.Exited++ })
			return nil
		}
	}
	outcome := "skipped_if"
	run := true
	if p := rt.ifs[tm.Step]; p != nil {
		run, _ = evalBool(p, act)
	}
	if run && st.Send != nil {
		o := outgoing{
			key: JourneySendKey(j.ID, tm.Step), addr: rt.addr, variant: st.Name, customer: j.CustomerID,
			channel: channelOf(st.Send), purpose: rt.t.Purpose, via: st.Send.Via, tmpl: rt.tmpls[tm.Step], event: ev,
		}
		res, err := r.deliverJourney(ctx, rc, bc, o, cust, now)
		if err != nil {
			return err
		}
		switch {
		case res.left:
			return nil // the provider is paused: the lease hands the step back later
		case !res.deferTo.IsZero():
			// Quiet hours: the same step, later.
			r.m.steps.WithLabelValues(rt.addr, st.Name, "deferred").Inc()
			r.count(func(s *RunStats) { s.Deferred++ })
			_, err := r.st.AdvanceJourney(ctx, j.ID, tm.Step, &state.Timer{JourneyID: j.ID, Step: tm.Step, DueAt: res.deferTo}, now)
			return err
		}
		outcome = res.row.Status
		if res.row.Status == state.SendSkipped {
			outcome = "skipped_" + res.row.Error
		}
	}
	r.m.steps.WithLabelValues(rt.addr, st.Name, outcome).Inc()
	r.count(func(s *RunStats) { s.Steps++ })
	var next *state.Timer
	if tm.Step+1 < len(steps) {
		next = &state.Timer{JourneyID: j.ID, Step: tm.Step + 1, DueAt: now.Add(steps[tm.Step+1].Wait)}
	}
	ok, err := r.st.AdvanceJourney(ctx, j.ID, tm.Step, next, now)
	if err == nil && ok && next == nil {
		r.count(func(s *RunStats) { s.Completed++ })
	}
	return err
}

func channelOf(s *lang.Send) string {
	if s.Template != nil {
		return s.Template.Channel
	}
	return ""
}

// outgoing is one message the runner is about to decide on.
type outgoing struct {
	key, addr, variant, customer, channel, purpose string
	via                                            *lang.Provider
	tmpl                                           *compiledTemplate
	event                                          lang.Record
	campaign                                       *lang.Campaign // nil for a journey step
}

// sendResult is how a send ended: its ledger row, or a later time to try
// (quiet hours), or left untouched (the provider is paused).
type sendResult struct {
	row     state.Send
	deferTo time.Time
	left    bool
}

// deliverJourney sends a journey step's message once: the ledger row is
// recorded before the provider is called, and a step run again after a
// crash finds its row and does not send again what was acknowledged.
func (r *Runner) deliverJourney(ctx context.Context, rc *runConfig, bc *batchCtx, o outgoing, cust *providers.Record, now time.Time) (sendResult, error) {
	prev, err := r.st.SendsByKey(ctx, []string{o.key})
	if err != nil {
		return sendResult{}, err
	}
	if row, ok := prev[o.key]; ok && row.Status != state.SendPending {
		return sendResult{row: row}, nil
	}
	via := ""
	if o.via != nil {
		via = "provider." + o.via.Address()
	}
	row := state.Send{Key: o.key, Campaign: o.addr, Variant: o.variant, CustomerID: o.customer, Channel: o.channel, Provider: via}
	res, msg := r.decide(ctx, rc, bc, o, cust, now)
	if res.deferTo.IsZero() && msg == nil {
		row.Status, row.Error = res.row.Status, res.row.Error
		if err := r.st.RecordSends(ctx, []state.Send{row}); err != nil {
			return sendResult{}, err
		}
		// A pending row from a crashed attempt is closed as skipped too.
		if err := r.st.UpdateSends(ctx, []state.Send{row}); err != nil {
			return sendResult{}, err
		}
		return sendResult{row: row}, nil
	}
	if msg == nil {
		return res, nil
	}
	row.Status = state.SendPending
	if err := r.st.RecordSends(ctx, []state.Send{row}); err != nil {
		return sendResult{}, err
	}
	return r.transmit(ctx, rc, o, msg, row)
}

// scheduled sends one deferred ledger row of a campaign that fell due.
func (r *Runner) scheduled(ctx context.Context, rc *runConfig, bc *batchCtx, s state.Send, now time.Time) error {
	name := strings.TrimPrefix(s.Campaign, "campaign.")
	cp := rc.cfg.Campaigns[name]
	obj, applied := rc.objects[s.Campaign]
	skip := func(reason string) error {
		s.Status, s.Error = state.SendSkipped, reason
		r.m.skipped.WithLabelValues(s.Campaign, reason).Inc()
		r.m.sends.WithLabelValues(s.Provider, "skipped").Inc()
		r.count(func(st *RunStats) { st.Skipped++ })
		return r.st.UpdateSends(ctx, []state.Send{s})
	}
	switch {
	case !applied || cp == nil:
		return skip(SkipRemoved)
	case obj.Status == "paused":
		return nil // its lease runs out and it is looked at again
	case obj.Status == "cancelled":
		return skip(SkipCancelled)
	}
	if ml := maxLate(cp); ml > 0 && now.Sub(s.DueAt) > ml {
		return skip(SkipLate)
	}
	var tmpl *lang.Template
	for _, v := range cp.Variants {
		if v.Name == s.Variant {
			tmpl = v.Template
		}
	}
	if tmpl == nil {
		return skip(SkipRemoved)
	}
	ct, err := rc.template(tmpl)
	if err != nil {
		return err
	}
	cust, err := r.profile(ctx, rc, s.CustomerID)
	if err != nil {
		return err
	}
	o := outgoing{key: s.Key, addr: s.Campaign, variant: s.Variant, customer: s.CustomerID, channel: cp.Channel,
		purpose: cp.Purpose, via: cp.Via, tmpl: ct, campaign: cp}
	res, msg := r.decide(ctx, rc, bc, o, cust, now)
	switch {
	case !res.deferTo.IsZero():
		// Quiet hours: the row stays deferred, and is looked at again when
		// its lease runs out.
		r.count(func(st *RunStats) { st.Deferred++ })
		return nil
	case msg == nil:
		return skip(res.row.Error)
	}
	_, err = r.transmit(ctx, rc, o, msg, s)
	return err
}

func maxLate(cp *lang.Campaign) time.Duration {
	if cp.Schedule == nil {
		return 0
	}
	return cp.Schedule.MaxLate
}

// Reasons a runner skips a send, besides apply's.
const (
	SkipLate      = "late"      // due longer ago than the schedule's max_late
	SkipCancelled = "cancelled" // herald campaign cancel
	SkipRemoved   = "removed"   // the campaign, variant or trigger is no longer applied
)

// decide runs the send-time checks and renders the message; msg is nil
// when it is not to be sent now, and res says why.
func (r *Runner) decide(ctx context.Context, rc *runConfig, bc *batchCtx, o outgoing, cust *providers.Record, now time.Time) (res sendResult, msg *providers.Message) {
	cfg := rc.cfg
	skip := func(reason string) (sendResult, *providers.Message) {
		return sendResult{row: state.Send{Status: state.SendSkipped, Error: reason}}, nil
	}
	var chCfg *lang.ConsentChannel
	if cfg.Consent != nil {
		chCfg = cfg.Consent.Channels[o.channel]
	}
	switch {
	case cust == nil:
		return skip(SkipNotFound)
	case o.purpose == "marketing" && bc.consent != nil && !bc.consent.Allowed(o.customer, chCfg):
		return skip(SkipConsent)
	case bc.suppressed(o.customer, o.channel):
		return skip(SkipSuppressed)
	}
	if o.campaign != nil && o.campaign.FrequencyCap != nil {
		n, err := r.capCount(ctx, bc, o.channel, o.campaign.FrequencyCap, o.customer, now)
		if err == nil && n >= o.campaign.FrequencyCap.Limit {
			return skip(SkipCap)
		}
	}
	env, err := r.msgEnv(ctx, rc, now)
	if err != nil {
		return sendResult{row: state.Send{Status: state.SendFailed, Error: err.Error()}}, nil
	}
	to := env.address(cust, o.channel, o.customer)
	if to == "" {
		return skip(SkipNoAddress)
	}
	if chCfg != nil && chCfg.QuietHours != nil {
		loc := time.UTC
		if tz := cust.String("timezone"); tz != "" {
			if l, err := time.LoadLocation(tz); err == nil {
				loc = l
			}
		}
		if at, deferred := planner.SendTime(now, nil, chCfg.QuietHours, loc); deferred {
			return sendResult{deferTo: at.UTC()}, nil
		}
	}
	var utm url.Values
	if o.campaign != nil {
		utm = utmValues(o.campaign)
	}
	m, err := env.render(msgSpec{key: o.key, addr: o.addr, variant: o.variant, customer: o.customer, channel: o.channel,
		purpose: o.purpose, to: to, tmpl: o.tmpl, rec: cust, event: o.event, utm: utm,
		clicks: o.campaign != nil && o.campaign.TrackClicks, opens: o.campaign != nil && o.campaign.TrackOpens})
	if err != nil {
		return sendResult{row: state.Send{Status: state.SendFailed, Error: err.Error()}}, nil
	}
	if o.campaign != nil {
		bc.sentOne(o.channel, o.campaign.FrequencyCap, o.customer)
	}
	return sendResult{}, m
}

// msgEnv is the message environment of a send at now.
func (r *Runner) msgEnv(ctx context.Context, rc *runConfig, now time.Time) (*msgEnv, error) {
	env := newMsgEnv(rc.cfg, now)
	if base := rc.cfg.Herald.PublicURL; base != "" {
		key, err := r.key(ctx, rc.cfg)
		if err != nil {
			return nil, err
		}
		env.base, env.signer = base, links.NewSigner(key, r.opts.Now)
	}
	return env, nil
}

// transmit hands a message to its provider and writes the outcome over
// row (the pending journey row, or the claimed deferred campaign row).
func (r *Runner) transmit(ctx context.Context, rc *runConfig, o outgoing, m *providers.Message, row state.Send) (sendResult, error) {
	if o.via == nil {
		return sendResult{}, errors.New("no provider to send with")
	}
	d, err := rc.deliverer(ctx, r, o.via)
	if err != nil {
		return sendResult{}, err
	}
	res, left := d.send(ctx, m)
	prov := "provider." + o.via.Address()
	if left {
		return sendResult{left: true}, nil
	}
	var supp []state.Suppression
	row.Status, row.ProviderMessageID, row.Error, supp = outcomeOf(res, o.customer, o.channel)
	if row.Status == state.SendSent {
		r.count(func(s *RunStats) { s.Sent++ })
	} else {
		r.count(func(s *RunStats) { s.Failed++ })
	}
	r.m.sends.WithLabelValues(prov, row.Status).Inc()
	// The outcome happened: it is written even when the runner is
	// stopping.
	wctx := context.WithoutCancel(ctx)
	if err := r.st.UpdateSends(wctx, []state.Send{row}); err != nil {
		return sendResult{}, fmt.Errorf("writing the send ledger: %w", err)
	}
	if len(supp) > 0 {
		if err := r.st.AddSuppressions(wctx, supp); err != nil {
			return sendResult{}, err
		}
	}
	return sendResult{row: row}, nil
}

// deliverer opens a provider once per applied configuration.
func (rc *runConfig) deliverer(ctx context.Context, r *Runner, p *lang.Provider) (*deliverer, error) {
	rc.delMu.Lock()
	defer rc.delMu.Unlock()
	if d, ok := rc.dels[p.Address()]; ok {
		return d, nil
	}
	addr := "provider." + p.Address()
	d, err := openDeliverer(ctx, rc.cfg, p, r.opts.Delivery, func() {
		r.log.Error("provider paused after failing repeatedly; its sends wait for a restart", "provider", addr)
	})
	if err != nil {
		return nil, err
	}
	rc.dels[p.Address()] = d
	return d, nil
}

// template compiles a campaign template once per applied configuration.
func (rc *runConfig) template(t *lang.Template) (*compiledTemplate, error) {
	rc.delMu.Lock()
	defer rc.delMu.Unlock()
	return rc.render.compile(t)
}

// key is the link signing key, as apply has it: HERALD_LINK_KEY, or one
// made once and kept in the state, so links survive restarts and every
// runner shares it.
func (r *Runner) key(ctx context.Context, cfg *lang.Config) ([]byte, error) {
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	if r.linkKey != nil {
		return r.linkKey, nil
	}
	k, err := linkKey(ctx, cfg, r.st, r.opts.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("the link signing key: %w", err)
	}
	r.linkKey = k
	return k, nil
}
