package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/executor/links"
	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

// Ledger status codes of a campaign's pinned recipients, by index.
const (
	stNone byte = iota
	stPending
	stSent
	stFailed
	stSkipped
	stDeferred
)

func statusCode(s string) byte {
	switch s {
	case state.SendPending, state.SendPlanned:
		return stPending
	case state.SendSent:
		return stSent
	case state.SendFailed:
		return stFailed
	case state.SendSkipped:
		return stSkipped
	case state.SendDeferred:
		return stDeferred
	}
	return stNone
}

// KeyPrefix is the first part of the idempotency keys of a campaign's
// messages in a plan: 8 hex digits of SHA-256 over the campaign's address
// and the plan's configuration digest. A key is the prefix, a dash, and
// the recipient's index in the plan's pinned list in 9 digits, so keys
// are the same on every retry and resume, and sort in the order they are
// written.
func KeyPrefix(address, configDigest string) string {
	sum := sha256.Sum256([]byte(address + "\x00" + configDigest))
	return hex.EncodeToString(sum[:4])
}

// Key is the idempotency key of the index-th pinned recipient.
func Key(prefix string, index int) string { return fmt.Sprintf("%s-%09d", prefix, index) }

// campaign writes a campaign as sending, sends to its pinned recipients,
// and writes it as sent, or scheduled when sends wait for the runner.
func (x *executor) campaign(ctx context.Context, c *planner.Change, obj state.Object) error {
	cp := x.cfg.Campaigns[strings.TrimPrefix(c.Address, "campaign.")]
	if cp == nil {
		return errors.New("the campaign is not in the configuration")
	}
	if c.Campaign == nil || len(c.Campaign.Recipients) == 0 {
		obj.Status = "sent"
		return x.write(ctx, []state.Object{obj}, nil, false)
	}
	obj.Status = "sending"
	if err := x.write(ctx, []state.Object{obj}, nil, false); err != nil {
		return err
	}
	run := &campaignRun{x: x, addr: c.Address, cp: cp, recips: c.Campaign.Recipients,
		prefix: KeyPrefix(c.Address, x.plan.ConfigDigest), now: x.opts.Now().UTC(),
		byVariant: map[string]*Counts{}}
	run.status = make([]byte, len(run.recips))
	err := run.run(ctx)
	cr := run.result()
	switch {
	case cr.Counts.Pending > 0 || err != nil:
		cr.Status = "sending"
	case cr.Counts.Deferred > 0:
		cr.Status = "scheduled"
	default:
		cr.Status = "sent"
	}
	x.res.mu.Lock()
	x.res.Campaigns = append(x.res.Campaigns, cr)
	run.mu.Lock()
	x.res.LedgerTime += run.ledgerDur
	run.mu.Unlock()
	x.res.mu.Unlock()
	if cr.Status != "sending" {
		obj.Status = cr.Status
		if werr := x.write(ctx, []state.Object{obj}, nil, false); werr != nil && err == nil {
			err = werr
		}
	}
	x.emit(Event{Type: "campaign_done", Address: c.Address, Campaign: cr, Error: errString(err)})
	return err
}

// campaignRun is the send pipeline of one campaign: it reads the ledger,
// re-reads profiles and consent, decides each pinned recipient's fate,
// records it, and hands the messages to the provider's workers.
type campaignRun struct {
	x      *executor
	addr   string
	cp     *lang.Campaign
	recips []planner.Recipient
	prefix string
	status []byte
	now    time.Time
	del    *deliverer
	tmpls  map[string]*compiledTemplate

	consent  *planner.Consent
	consentC *lang.ConsentChannel
	caps     map[string]int
	supp     map[string][]string
	quiet    *lang.QuietHours
	utm      url.Values
	tzF      string
	env      *msgEnv

	mu        sync.Mutex
	counts    Counts
	byVariant map[string]*Counts
	outcomes  chan outcome
	inflight  sync.WaitGroup
	writeErr  error
	ledgerDur time.Duration
}

type job struct {
	run *campaignRun
	idx int
	rec *providers.Record
	to  string
}

type outcome struct {
	idx    int
	res    providers.SendResult
	left   bool
	render error
}

func (r *campaignRun) count(variant string, f func(c *Counts)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.counts)
	vc := r.byVariant[variant]
	if vc == nil {
		vc = &Counts{}
		r.byVariant[variant] = vc
	}
	f(vc)
}

func skip(reason string) func(c *Counts) {
	return func(c *Counts) {
		if c.Skipped == nil {
			c.Skipped = map[string]int64{}
		}
		c.Skipped[reason]++
	}
}

func (r *campaignRun) result() *CampaignResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	cr := &CampaignResult{Address: r.addr, Total: int64(len(r.recips)), Counts: r.counts.clone()}
	if r.cp.Via != nil {
		cr.Provider = "provider." + r.cp.Via.Address()
	}
	for _, v := range r.cp.Variants {
		vr := VariantResult{Name: v.Name}
		if c := r.byVariant[v.Name]; c != nil {
			vr.Counts = c.clone()
		}
		cr.Variants = append(cr.Variants, vr)
	}
	return cr
}

func (r *campaignRun) progress() {
	r.mu.Lock()
	c := r.counts.clone()
	r.mu.Unlock()
	r.x.emit(Event{Type: "send_progress", Address: r.addr, Total: int64(len(r.recips)), Counts: &c})
}

func (r *campaignRun) run(ctx context.Context) error {
	x := r.x
	// What an interrupted apply of this plan already did.
	err := x.st.Sends(ctx, r.addr, func(s state.Send) error {
		rest, ok := strings.CutPrefix(s.Key, r.prefix+"-")
		if !ok {
			return nil
		}
		i, err := strconv.Atoi(rest)
		if err != nil || i < 0 || i >= len(r.recips) {
			return nil
		}
		code := statusCode(s.Status)
		r.status[i] = code
		v := r.recips[i].Variant
		earlier := func(f func(*Counts)) {
			r.count(v, func(c *Counts) { f(c); c.Earlier++ })
		}
		switch code {
		case stSent:
			earlier(func(c *Counts) { c.Sent++ })
		case stFailed:
			earlier(func(c *Counts) { c.Failed++ })
		case stDeferred:
			earlier(func(c *Counts) { c.Deferred++ })
		case stSkipped:
			earlier(skip(s.Error))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the send ledger: %w", err)
	}
	pinned := map[string]int{}
	var ids []string
	for i, rc := range r.recips {
		if s := r.status[i]; s == stNone || s == stPending {
			pinned[rc.CustomerID] = i
			ids = append(ids, rc.CustomerID)
		}
	}
	if len(pinned) == 0 {
		r.progress()
		return nil
	}
	if err := r.prepare(ctx, ids); err != nil {
		return err
	}
	// Outcomes are written to the ledger by one goroutine, in batches.
	r.outcomes = make(chan outcome, 1024)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		r.writeOutcomes(ctx)
	}()
	stopTick := make(chan struct{})
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopTick:
				return
			case <-t.C:
				r.progress()
			}
		}
	}()
	err = r.scan(ctx, pinned)
	r.inflight.Wait()
	close(r.outcomes)
	<-writerDone
	close(stopTick)
	<-tickDone
	r.progress()
	r.mu.Lock()
	if err == nil && r.writeErr != nil {
		err = r.writeErr
	}
	r.mu.Unlock()
	if err == nil && r.del.paused.Load() {
		err = fmt.Errorf("%w: provider.%s", ErrPaused, r.del.addr)
	}
	return err
}

// prepare reads what the decisions need: consent of the pinned customers,
// the ledger's counts for the frequency cap, the suppression list; and
// opens the provider and compiles the templates.
func (r *campaignRun) prepare(ctx context.Context, ids []string) error {
	x, cp := r.x, r.cp
	if cp.Purpose == "marketing" {
		c, err := planner.LoadConsent(ctx, x.cfg, ids)
		if err != nil {
			return fmt.Errorf("re-reading consent: %w", err)
		}
		r.consent = c
		if x.cfg.Consent != nil {
			r.consentC = x.cfg.Consent.Channels[cp.Channel]
		}
	}
	if x.cfg.Consent != nil {
		if ch := x.cfg.Consent.Channels[cp.Channel]; ch != nil {
			r.quiet = ch.QuietHours
		}
	}
	if fc := cp.FrequencyCap; fc != nil {
		counts, err := x.st.SendCounts(ctx, cp.Channel, r.now.Add(-fc.Per))
		if err != nil {
			return fmt.Errorf("reading the send ledger: %w", err)
		}
		// This campaign's own pending sends (an interrupted apply) are
		// counted by SendCounts, but are the very messages to send now.
		for i, s := range r.status {
			if s == stPending {
				counts[r.recips[i].CustomerID]--
			}
		}
		r.caps = counts
	}
	supp, err := x.st.Suppressions(ctx)
	if err != nil {
		return fmt.Errorf("reading the suppression list: %w", err)
	}
	r.supp = map[string][]string{}
	for _, s := range supp {
		r.supp[s.CustomerID] = append(r.supp[s.CustomerID], s.Channel)
	}
	if cp.Via == nil {
		return errors.New("the campaign has no provider")
	}
	r.del, err = x.deliverer(cp.Via)
	if err != nil {
		return err
	}
	x.delMu.Lock()
	defer x.delMu.Unlock()
	if x.render == nil {
		if x.render, err = newRenderer(x.cfg); err != nil {
			return err
		}
	}
	r.tmpls = map[string]*compiledTemplate{}
	for _, v := range cp.Variants {
		if v.Template == nil {
			return fmt.Errorf("variant %s has no template", v.Name)
		}
		ct, err := x.render.compile(v.Template)
		if err != nil {
			return err
		}
		r.tmpls[v.Name] = ct
	}
	r.tzF = "timezone"
	r.utm = utmValues(cp)
	// Templates see the plan's now, so that a plan is reproducible;
	// unsubscribe links last a year from the send.
	r.env = newMsgEnv(x.cfg, x.plan.Now)
	r.env.linksFrom = r.now
	if x.cfg.Herald.PublicURL != "" {
		r.env.base = x.cfg.Herald.PublicURL
		if x.linkKey == nil {
			if x.linkKey, err = linkKey(ctx, x.cfg, x.st, x.opts.LookupEnv); err != nil {
				return err
			}
		}
		r.env.signer = links.NewSigner(x.linkKey, nil)
	}
	return nil
}

// linkKey is the key that signs links: links.Key — HERALD_LINK_KEY, or a
// key made once and kept in the state, shared with herald run.
func linkKey(ctx context.Context, cfg *lang.Config, st state.Backend, lookup func(string) (string, bool)) ([]byte, error) {
	if k, ok := lookup(links.EnvKey); ok && k != "" {
		return []byte(k), nil
	}
	// herald before the key moved into the state kept it in link.key
	// beside an SQLite state; the links it signed are still in inboxes, so
	// that key becomes the state's.
	legacy := legacyKeyPath(cfg)
	old, _ := os.ReadFile(legacy)
	if len(old) >= 32 {
		if _, err := st.PutValueIfAbsent(ctx, links.StateKey, old); errors.Is(err, errors.ErrUnsupported) {
			return old, nil
		}
	}
	key, err := links.Key(ctx, lookup, st)
	if errors.Is(err, errors.ErrUnsupported) && legacy != "" {
		// A state whose runtime cannot keep values yet keeps the key
		// beside it, as before.
		return legacyKeyFile(legacy)
	}
	if err != nil && cfg.Herald.State.Backend == "postgres" {
		return nil, fmt.Errorf("%w (or set HERALD_LINK_KEY, the same on every machine that shares the PostgreSQL state)", err)
	}
	return key, err
}

// legacyKeyPath is where herald kept the link key beside an SQLite
// state; "" for PostgreSQL.
func legacyKeyPath(cfg *lang.Config) string {
	st := cfg.Herald.State
	if st.Backend == "postgres" {
		return ""
	}
	p := st.Path
	if p == "" {
		p = ".herald/state.db"
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(cfg.Dir, p)
	}
	return filepath.Join(filepath.Dir(p), "link.key")
}

// legacyKeyFile reads the key at path, or makes it (mode 0600).
func legacyKeyFile(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	key := []byte(strings.ReplaceAll(newKey(), "-", ""))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("making the link signing key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

func newKey() string {
	return state.NewLockInfo("").ID + state.NewLockInfo("").ID
}

// scan streams the campaign's audience source once and picks the pinned
// customers; profiles that are gone are skipped.
func (r *campaignRun) scan(ctx context.Context, pinned map[string]int) error {
	src := r.cp.Audience.From
	layout := providers.NewLayout(src.Schema)
	s, err := providers.OpenSource(ctx, providers.SourceRequest{Dir: r.x.cfg.Dir, Provider: src.From, Source: src, Layout: layout})
	if err != nil {
		return fmt.Errorf("re-reading source.%s: %w", src.Name, err)
	}
	defer s.Close()
	keyIdx := layout.Index(src.Key)
	if keyIdx < 0 {
		keyIdx = layout.Index("id")
	}
	if keyIdx < 0 {
		return fmt.Errorf("source.%s has no key field", src.Name)
	}
	n := r.x.opts.LedgerBatch
	batch := make([]*job, 0, n)
	_, err = s.Scan(ctx, 4096, func(recs []providers.Record) error {
		for i := range recs {
			id, _ := recs[i].Values[keyIdx].(string)
			idx, ok := pinned[id]
			if !ok {
				continue
			}
			delete(pinned, id)
			batch = append(batch, &job{run: r, idx: idx, rec: recordOf(&recs[i])})
			if len(batch) >= n {
				if err := r.decide(ctx, batch); err != nil {
					return err
				}
				batch = make([]*job, 0, n)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("re-reading source.%s: %w", src.Name, err)
	}
	if len(batch) > 0 {
		if err := r.decide(ctx, batch); err != nil {
			return err
		}
	}
	// Customers no longer in the source.
	batch = batch[:0]
	for _, idx := range pinned {
		batch = append(batch, &job{run: r, idx: idx})
		if len(batch) >= n {
			if err := r.decide(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		return r.decide(ctx, batch)
	}
	return nil
}

func (r *campaignRun) suppressed(id string) bool {
	for _, c := range r.supp[id] {
		if c == "" || c == r.cp.Channel {
			return true
		}
	}
	return false
}

// decide runs the send-time checks on a batch of pinned recipients,
// records every decision in the ledger, and hands the messages to send to
// the provider's workers.
func (r *campaignRun) decide(ctx context.Context, batch []*job) error {
	var record, update []state.Send
	var send []*job
	via := ""
	if r.cp.Via != nil {
		via = "provider." + r.cp.Via.Address()
	}
	for _, j := range batch {
		rc := r.recips[j.idx]
		id := rc.CustomerID
		row := state.Send{Key: Key(r.prefix, j.idx), Campaign: r.addr, Variant: rc.Variant, CustomerID: id,
			Channel: r.cp.Channel, Provider: via, Status: state.SendPending}
		reason := ""
		var due time.Time
		switch {
		case j.rec == nil:
			reason = SkipNotFound
		case r.consent != nil && !r.consent.Allowed(id, r.consentC):
			reason = SkipConsent
		case r.caps != nil && r.caps[id] >= r.cp.FrequencyCap.Limit:
			reason = SkipCap
		case r.suppressed(id):
			reason = SkipSuppressed
		default:
			j.to = r.env.address(j.rec, r.cp.Channel, id)
			if j.to == "" {
				reason = SkipNoAddress
				break
			}
			if rc.SendAt > r.now.Unix() {
				due = time.Unix(rc.SendAt, 0).UTC()
			} else if r.quiet != nil {
				// Quiet hours are checked again at send time, in the
				// recipient's zone as the profile says now.
				if at, deferred := planner.SendTime(r.now, nil, r.quiet, r.location(j.rec)); deferred {
					due = at.UTC()
				}
			}
		}
		switch {
		case reason != "":
			row.Status, row.Error = state.SendSkipped, reason
			r.count(rc.Variant, skip(reason))
		case !due.IsZero():
			row.Status, row.DueAt = state.SendDeferred, due
			r.count(rc.Variant, func(c *Counts) { c.Deferred++ })
		default:
			if r.caps != nil {
				r.caps[id]++
			}
			send = append(send, j)
		}
		if r.status[j.idx] == stPending {
			if row.Status != state.SendPending {
				update = append(update, row)
			}
		} else {
			record = append(record, row)
		}
	}
	start := time.Now()
	if len(record) > 0 {
		if err := r.x.st.RecordSends(ctx, record); err != nil {
			return fmt.Errorf("writing the send ledger: %w", err)
		}
	}
	if len(update) > 0 {
		if err := r.x.st.UpdateSends(ctx, update); err != nil {
			return fmt.Errorf("writing the send ledger: %w", err)
		}
	}
	r.mu.Lock()
	r.ledgerDur += time.Since(start)
	r.mu.Unlock()
	for _, j := range send {
		if r.del.paused.Load() {
			r.count(r.recips[j.idx].Variant, func(c *Counts) { c.Pending++ })
			continue
		}
		r.inflight.Add(1)
		select {
		case r.del.work <- j:
		case <-ctx.Done():
			r.inflight.Done()
			return ctx.Err()
		}
	}
	return nil
}

func (r *campaignRun) location(rec *providers.Record) *time.Location {
	if tz := rec.String(r.tzF); tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			return l
		}
	}
	return time.UTC
}

// message renders the message of one job.
func (r *campaignRun) message(j *job) (*providers.Message, error) {
	rc := r.recips[j.idx]
	ct := r.tmpls[rc.Variant]
	if ct == nil {
		return nil, fmt.Errorf("the plan names variant %q, which the campaign does not have", rc.Variant)
	}
	return r.env.render(msgSpec{key: Key(r.prefix, j.idx), addr: r.addr, variant: rc.Variant, customer: rc.CustomerID,
		channel: r.cp.Channel, purpose: r.cp.Purpose, to: j.to, tmpl: ct, rec: j.rec, utm: r.utm,
		clicks: r.cp.TrackClicks, opens: r.cp.TrackOpens})
}

// deliver renders and sends one job on a provider worker. For a provider
// that takes idempotency keys the outcome goes to the batching writer; for
// one that does not, the worker writes it before it takes another message,
// so that a crash can lose the outcome of at most the messages in flight.
func (r *campaignRun) deliver(ctx context.Context, d *deliverer, j *job) {
	var o outcome
	if m, err := r.message(j); err != nil {
		o = outcome{idx: j.idx, render: err}
	} else {
		res, left := d.send(ctx, m)
		o = outcome{idx: j.idx, res: res, left: left}
	}
	if d.idempotent {
		r.outcomes <- o
		return
	}
	if row, supp, ok := r.outcomeRow(o); ok {
		r.writeRows(ctx, []state.Send{row}, supp)
	}
	r.inflight.Done()
}

// outcomeRow counts an outcome and returns its ledger row, and the
// suppression it adds; ok is false for a message left pending.
func (r *campaignRun) outcomeRow(o outcome) (row state.Send, supp []state.Suppression, ok bool) {
	rc := r.recips[o.idx]
	row = state.Send{Key: Key(r.prefix, o.idx)}
	switch {
	case o.render != nil:
		row.Status, row.Error = state.SendFailed, o.render.Error()
		r.count(rc.Variant, func(c *Counts) { c.Failed++ })
	case o.left:
		r.count(rc.Variant, func(c *Counts) { c.Pending++ })
		return row, nil, false
	default:
		row.Status, row.ProviderMessageID, row.Error, supp = outcomeOf(o.res, rc.CustomerID, r.cp.Channel)
		if row.Status == state.SendSent {
			r.count(rc.Variant, func(c *Counts) { c.Sent++ })
		} else {
			r.count(rc.Variant, func(c *Counts) { c.Failed++ })
		}
	}
	return row, supp, true
}

// outcomeOf is what a provider's answer to a send means for the ledger:
// sent with its message id, or failed with the reason; a hard bounce, a
// complaint or an unsubscribed number also suppresses the customer on
// the channel.
func outcomeOf(res providers.SendResult, customer, channel string) (status, msgID, errMsg string, supp []state.Suppression) {
	switch res.Outcome {
	case providers.Sent:
		return state.SendSent, res.ProviderMessageID, "", nil
	case providers.Suppress:
		reason := res.SuppressReason
		if reason == "" {
			reason = "bounce"
		}
		return state.SendFailed, "", "suppressed (" + reason + "): " + errString(res.Err),
			[]state.Suppression{{CustomerID: customer, Channel: channel, Reason: reason}}
	}
	return state.SendFailed, "", errString(res.Err), nil
}

// writeRows writes outcomes to the ledger. The write is not cancelled with
// the apply: an outcome that happened is recorded.
func (r *campaignRun) writeRows(ctx context.Context, rows []state.Send, supp []state.Suppression) {
	if len(rows) == 0 {
		return
	}
	r.mu.Lock()
	failed := r.writeErr != nil
	r.mu.Unlock()
	if failed {
		return
	}
	// A buffered send counts once flushed: a row that says sent is
	// never ahead of the message. When the flush fails the rows stay
	// pending, and the next apply sends them again.
	if err := r.del.flush(); err != nil {
		r.mu.Lock()
		if r.writeErr == nil {
			r.writeErr = err
		}
		r.mu.Unlock()
		return
	}
	start := time.Now()
	ctx = context.WithoutCancel(ctx)
	err := r.x.st.UpdateSends(ctx, rows)
	if err == nil && len(supp) > 0 {
		err = r.x.st.AddSuppressions(ctx, supp)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil && r.writeErr == nil {
		r.writeErr = fmt.Errorf("writing the send ledger: %w", err)
	}
	r.ledgerDur += time.Since(start)
}

// writeOutcomes writes the outcomes of an idempotent provider's messages to
// the ledger in batches: of LedgerBatch rows, or what came in 100ms.
func (r *campaignRun) writeOutcomes(ctx context.Context) {
	n := r.x.opts.LedgerBatch
	var rows []state.Send
	var supp []state.Suppression
	var done int
	flush := func() {
		r.writeRows(ctx, rows, supp)
		rows, supp = rows[:0], supp[:0]
		for range done {
			r.inflight.Done()
		}
		done = 0
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case o, ok := <-r.outcomes:
			if !ok {
				flush()
				return
			}
			done++
			if row, sp, ok := r.outcomeRow(o); ok {
				rows = append(rows, row)
				supp = append(supp, sp...)
			}
			if len(rows) >= n {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}
