package executor

// Ad-audience sync: an audience change of the plan carries the pinned
// membership diff (planner.AudiencePlan.AddIDs and RemoveIDs). Applying
// it opens the audience's provider, makes sure the platform audience
// exists (its platform id is kept in the state object's ProviderID),
// reads the identifiers the audience matches on from the segment's
// source in one streaming scan, and adds and removes members in the
// provider's batches. The state's membership (SetAudienceMembers) is
// written after each batch the platform took, so a failure leaves the
// state matching what the platform was told, and the next plan shows only
// what is left.
//
// At apply time, as for a campaign, a customer to add is skipped (and not
// recorded) when their ads consent was withdrawn or they were suppressed
// since the plan, or when their profile is gone from the source. A member
// to remove whose profile is gone cannot be removed from the platform —
// the platform needs their hashed identifiers, which herald does not
// keep — so they stay members in the state, and the apply warns.
//
// When the plan found the platform audience gone (AudiencePlan.Recreate),
// the state forgets its id and membership first, and the sync creates a
// new audience and uploads every member. A deleted audience block is torn
// down as the plan's Teardown says: the provider deletes the platform
// audience (Mailchimp: the tag), or it is only detached, with a warning;
// then its membership and object leave the state. A failed delete leaves
// both, so the next plan shows the delete again.
//
// The counts go out as an "audience_done" event whose Counts say: Sent,
// the members the platform was sent (added and removed); Failed, those of
// a batch the platform refused; Skipped by reason.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/planner"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

// Audience skip reasons, beside SkipConsent, SkipSuppressed and
// SkipNotFound.
const (
	// SkipNoIdentifier is a member with neither an e-mail address nor a
	// phone number to match on: nothing is sent, and they are recorded
	// as synced so that the plan does not show them again and again.
	SkipNoIdentifier = "no_identifier"
	// SkipRemoveNotFound is a member to remove whose profile is gone.
	SkipRemoveNotFound = "remove_profile_not_found"
)

// audienceResult is what became of one audience's membership changes.
type audienceResult struct {
	Address    string `json:"address"`
	Provider   string `json:"provider"`
	ProviderID string `json:"provider_id"`
	Added      int64  `json:"added"`
	Removed    int64  `json:"removed"`
	Counts     Counts `json:"counts"`
}

// audience writes an audience's object, keeping its ProviderID, and syncs
// its membership changes.
func (x *executor) audience(ctx context.Context, c *planner.Change, obj state.Object) error {
	prev, err := x.st.Object(ctx, c.Address)
	if err != nil {
		return fmt.Errorf("reading the state: %w", err)
	}
	if prev != nil {
		obj.ProviderID = prev.ProviderID
	}
	ap := c.Audience
	name := strings.TrimPrefix(c.Address, "audience.")
	if ap != nil && ap.Recreate && ap.Drift != nil && obj.ProviderID == ap.Drift.ProviderID {
		// The platform audience is gone, and with it every member the
		// state says was sent: the state forgets both before a new one is
		// made, so that a failure from here on leaves a state the next
		// plan reads right. (Resuming this apply finds the new id in the
		// state and keeps it.)
		if err := x.forgetMembers(ctx, name); err != nil {
			return err
		}
		obj.ProviderID = ""
		if err := x.write(ctx, []state.Object{obj}, nil, false); err != nil {
			return err
		}
	}
	if ap == nil || (len(ap.AddIDs)+len(ap.RemoveIDs) == 0 && !ap.Recreate) {
		return x.write(ctx, []state.Object{obj}, nil, false)
	}
	au := x.cfg.Audiences[name]
	if au == nil || au.To == nil || au.Segment == nil || au.Segment.From == nil {
		return errors.New("the audience is not in the configuration")
	}
	r := &audienceRun{x: x, au: au, name: name, res: &audienceResult{Address: c.Address, Provider: "provider." + au.To.Address()}}
	err = r.run(ctx, ap, &obj)
	r.res.ProviderID = obj.ProviderID
	if werr := x.write(ctx, []state.Object{obj}, nil, false); werr != nil && err == nil {
		err = werr
	}
	res := r.res
	x.emit(Event{Type: "audience_done", Address: c.Address, Counts: &res.Counts, Error: errString(err)})
	if n := res.Counts.Skipped[SkipRemoveNotFound]; n > 0 {
		x.res.warn(fmt.Sprintf("%s: %d members to remove are no longer in source.%s: herald cannot tell %s who they are (it keeps no identifiers), so they stay in the platform audience and in the state; remove them in the platform, or restore their profiles and apply again",
			c.Address, n, au.Segment.From.Name, res.Provider))
	}
	if n := res.Counts.Skipped[SkipNoIdentifier]; n > 0 {
		on := "e-mail address or phone number"
		if len(au.MatchOn) > 0 {
			on = strings.Join(au.MatchOn, " or ")
		}
		x.res.warn(fmt.Sprintf("%s: %d of the members have no %s to match on: they were not sent to %s, and are recorded as synced", c.Address, n, on, res.Provider))
	}
	return err
}

// audienceRun is the sync of one audience.
type audienceRun struct {
	x    *executor
	au   *lang.Audience
	name string // the audience's name: the key of its membership in the state
	res  *audienceResult
}

func (r *audienceRun) skip(reason string, n int) {
	if n == 0 {
		return
	}
	if r.res.Counts.Skipped == nil {
		r.res.Counts.Skipped = map[string]int64{}
	}
	r.res.Counts.Skipped[reason] += int64(n)
}

func (r *audienceRun) run(ctx context.Context, ap *planner.AudiencePlan, obj *state.Object) error {
	x, au := r.x, r.au
	p, err := providers.OpenAudience(ctx, providers.AudienceRequest{Dir: x.cfg.Dir, Provider: au.To, Audience: au})
	if err != nil {
		return fmt.Errorf("opening provider.%s: %w", au.To.Address(), err)
	}
	defer p.Close()
	if w, ok := p.(providers.Warner); ok {
		defer func() {
			for _, s := range w.Warnings() {
				x.res.warn("audience." + r.name + ": " + s)
			}
		}()
	}
	id, err := p.Ensure(ctx, au.Name, obj.ProviderID)
	if err != nil {
		return fmt.Errorf("provider.%s: %w", au.To.Address(), err)
	}
	if id != obj.ProviderID {
		// Kept at once: a platform audience made now must not be made
		// again should the sync below fail.
		obj.ProviderID = id
		if err := x.write(ctx, []state.Object{*obj}, nil, false); err != nil {
			return err
		}
	}

	add, err := r.admitted(ctx, ap.AddIDs)
	if err != nil {
		return err
	}
	members, err := r.members(ctx, add, ap.RemoveIDs)
	if err != nil {
		return err
	}
	var addM []providers.Member
	var noID []string
	for _, cid := range add {
		m, ok := members[cid]
		switch {
		case !ok:
			r.skip(SkipNotFound, 1)
		case m.Email == "" && m.Phone == "":
			noID = append(noID, cid)
		default:
			addM = append(addM, m)
		}
	}
	var removeM []providers.Member
	for _, cid := range ap.RemoveIDs {
		m, ok := members[cid]
		switch {
		case !ok:
			r.skip(SkipRemoveNotFound, 1)
		case m.Email == "" && m.Phone == "":
			noID = append(noID, cid)
		default:
			removeM = append(removeM, m)
		}
	}
	// Members without an identifier were never sent: they are recorded as
	// the plan wants them, added or removed, without a call.
	if len(noID) > 0 {
		r.skip(SkipNoIdentifier, len(noID))
		var addNoID, removeNoID []string
		inAdd := make(map[string]bool, len(add))
		for _, cid := range add {
			inAdd[cid] = true
		}
		for _, cid := range noID {
			if inAdd[cid] {
				addNoID = append(addNoID, cid)
			} else {
				removeNoID = append(removeNoID, cid)
			}
		}
		if err := x.st.SetAudienceMembers(ctx, r.name, addNoID, removeNoID); err != nil {
			return fmt.Errorf("writing the audience's members: %w", err)
		}
	}

	size := max(p.BatchSize(), 1)
	batches := func(ms []providers.Member, do func(context.Context, string, []providers.Member) error, record func([]string) error, n *int64) error {
		for start := 0; start < len(ms); start += size {
			if err := ctx.Err(); err != nil {
				r.res.Counts.Pending += int64(len(ms) - start)
				return err
			}
			batch := ms[start:min(start+size, len(ms))]
			if err := do(ctx, id, batch); err != nil {
				r.res.Counts.Failed += int64(len(ms) - start)
				return fmt.Errorf("provider.%s: %w", au.To.Address(), err)
			}
			ids := make([]string, len(batch))
			for i, m := range batch {
				ids[i] = m.CustomerID
			}
			if err := record(ids); err != nil {
				return fmt.Errorf("writing the audience's members: %w", err)
			}
			*n += int64(len(batch))
			r.res.Counts.Sent += int64(len(batch))
		}
		return nil
	}
	// Removals first, so that a member who left is not kept on the
	// platform any longer than needed when the additions fail.
	err = batches(removeM, p.Remove, func(ids []string) error { return x.st.SetAudienceMembers(ctx, r.name, nil, ids) }, &r.res.Removed)
	if err != nil {
		r.res.Counts.Pending += int64(len(addM))
		return err
	}
	return batches(addM, p.Add, func(ids []string) error { return x.st.SetAudienceMembers(ctx, r.name, ids, nil) }, &r.res.Added)
}

// admitted is ids without the customers whose ads consent was withdrawn,
// or who were suppressed, since the plan.
func (r *audienceRun) admitted(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	x := r.x
	var ch *lang.ConsentChannel
	if x.cfg.Consent != nil {
		ch = x.cfg.Consent.Channels["ads"]
	}
	var consent *planner.Consent
	if ch != nil {
		c, err := planner.LoadConsent(ctx, x.cfg, ids)
		if err != nil {
			return nil, fmt.Errorf("re-reading consent: %w", err)
		}
		consent = c
	}
	supp, err := x.st.Suppressions(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the suppressions: %w", err)
	}
	suppressed := map[string]bool{}
	for _, s := range supp {
		if s.Channel == "" || s.Channel == "ads" {
			suppressed[s.CustomerID] = true
		}
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		switch {
		case consent != nil && !consent.Allowed(id, ch):
			r.skip(SkipConsent, 1)
		case suppressed[id]:
			r.skip(SkipSuppressed, 1)
		default:
			out = append(out, id)
		}
	}
	return out, nil
}

// members streams the segment's source once and returns the identifiers
// the audience matches on of the customers in add and remove.
func (r *audienceRun) members(ctx context.Context, add, remove []string) (map[string]providers.Member, error) {
	out := make(map[string]providers.Member, len(add)+len(remove))
	if len(add)+len(remove) == 0 {
		return out, nil
	}
	src := r.au.Segment.From
	if src.Schema == nil {
		return nil, fmt.Errorf("source.%s has no schema: herald cannot tell its e-mail and phone fields", src.Name)
	}
	want := make(map[string]struct{}, len(add)+len(remove))
	for _, id := range add {
		want[id] = struct{}{}
	}
	for _, id := range remove {
		want[id] = struct{}{}
	}
	layout := providers.NewLayout(src.Schema)
	keyIdx := layout.Index(src.Key)
	if keyIdx < 0 {
		keyIdx = layout.Index("id")
	}
	if keyIdx < 0 {
		return nil, fmt.Errorf("source.%s has no key field", src.Name)
	}
	var emailIdx, phoneIdx []int
	match := r.au.MatchOn
	if len(match) == 0 {
		// Not said: every e-mail and phone field of the schema.
		match = src.Schema.FieldNames()
	}
	for _, f := range match {
		fd := src.Schema.Field(f)
		i := layout.Index(f)
		if fd == nil || i < 0 {
			continue
		}
		switch fd.PII {
		case "email":
			emailIdx = append(emailIdx, i)
		case "phone":
			phoneIdx = append(phoneIdx, i)
		}
	}
	first := func(vals []any, idx []int) string {
		for _, i := range idx {
			if s, _ := vals[i].(string); strings.TrimSpace(s) != "" {
				return strings.Clone(s)
			}
		}
		return ""
	}
	s, err := providers.OpenSource(ctx, providers.SourceRequest{Dir: r.x.cfg.Dir, Provider: src.From, Source: src, Layout: layout})
	if err != nil {
		return nil, fmt.Errorf("re-reading source.%s: %w", src.Name, err)
	}
	defer s.Close()
	_, err = s.Scan(ctx, 4096, func(recs []providers.Record) error {
		for i := range recs {
			id, _ := recs[i].Values[keyIdx].(string)
			if _, ok := want[id]; !ok {
				continue
			}
			delete(want, id)
			out[id] = providers.Member{CustomerID: id, Email: first(recs[i].Values, emailIdx), Phone: first(recs[i].Values, phoneIdx)}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("re-reading source.%s: %w", src.Name, err)
	}
	return out, nil
}

// deleteAudience carries out the plan's teardown of a deleted audience
// block: the provider deletes the platform audience (or it is detached,
// as the plan said), then the membership and the object leave the state.
// A failed delete leaves both, so the next plan shows the delete again.
func (x *executor) deleteAudience(ctx context.Context, c *planner.Change) error {
	name := strings.TrimPrefix(c.Address, "audience.")
	prev, err := x.st.Object(ctx, c.Address)
	if err != nil {
		return fmt.Errorf("reading the state: %w", err)
	}
	td := c.Teardown
	if td != nil && td.Action == planner.TeardownDelete && prev != nil && prev.ProviderID != "" {
		if err := x.deletePlatform(ctx, td, prev.ProviderID); err != nil {
			return err
		}
	} else if td != nil && td.ProviderID != "" {
		x.res.warn(fmt.Sprintf("%s: detached, not deleted: %s", c.Address, td.What))
	}
	if err := x.forgetMembers(ctx, name); err != nil {
		return err
	}
	return x.write(ctx, nil, []string{c.Address}, false)
}

// deletePlatform deletes the platform audience id through the provider
// the plan named.
func (x *executor) deletePlatform(ctx context.Context, td *planner.Teardown, id string) error {
	pv := x.cfg.Providers[td.Provider]
	if pv == nil {
		return fmt.Errorf("provider.%s is no longer in the configuration: herald cannot delete %s", td.Provider, id)
	}
	p, err := providers.OpenAudience(ctx, providers.AudienceRequest{Dir: x.cfg.Dir, Provider: pv})
	if err != nil {
		return fmt.Errorf("opening provider.%s: %w", td.Provider, err)
	}
	defer p.Close()
	d, ok := p.(providers.Deleter)
	if !ok {
		return fmt.Errorf("provider.%s cannot delete %s", td.Provider, id)
	}
	if err := d.Delete(ctx, id); err != nil {
		return fmt.Errorf("provider.%s: %w", td.Provider, err)
	}
	return nil
}

// forgetMembers removes every member of the audience from the state, a
// page at a time.
func (x *executor) forgetMembers(ctx context.Context, name string) error {
	var ids []string
	if err := x.st.AudienceMembers(ctx, name, func(id string) error { ids = append(ids, id); return nil }); err != nil {
		return fmt.Errorf("reading the audience's members: %w", err)
	}
	const page = 10000
	for start := 0; start < len(ids); start += page {
		if err := x.st.SetAudienceMembers(ctx, name, nil, ids[start:min(start+page, len(ids))]); err != nil {
			return fmt.Errorf("writing the audience's members: %w", err)
		}
	}
	return nil
}
