// Package ingest reads the webhooks that channel platforms post back
// about messages herald sent — Twilio's message status callbacks and
// Mandrill's (Mailchimp Transactional) event webhooks — checks their
// signatures, and turns them into changes to the send ledger and the
// suppression list.
//
// The webhooks come live to herald run (Handler), or as saved HTTP
// requests (ReadRequest) that a proxy, a serverless function or a request
// bin kept for herald ingest. Every request's signature is checked
// (VerifyTwilio, VerifyMandrill) before anything is written; one bad
// signature and nothing is.
//
// A webhook names a message by the platform's id — Twilio's MessageSid
// (SM…), Mandrill's _id — which the ledger keeps as the send's
// ProviderMessageID; Mandrill's events also carry the send's idempotency
// key in metadata.herald_key, which is used when the id is not in the
// ledger. What an event does:
//
//	twilio  undelivered, failed, canceled   send failed (with ErrorCode)
//	twilio  ErrorCode 21610                 send failed; customer suppressed on sms ("stop")
//	twilio  queued … delivered, read        nothing: the ledger already says sent
//	twilio  incoming STOP (no MessageStatus) reported, not applied: see below
//	mandrill hard_bounce                    send failed; customer suppressed on email ("bounce")
//	mandrill soft_bounce, reject            send failed
//	mandrill spam                           customer suppressed on email ("complaint")
//	mandrill unsub                          customer suppressed on email ("unsubscribe")
//	mandrill send                           a pending send is marked sent
//	mandrill deferral, open, click, …       nothing
//
// An incoming "STOP" SMS names a phone number, and the state holds no
// phone numbers (it holds no personal data beyond customer ids), so it
// cannot be tied to a customer here: Apply reports it and changes
// nothing. Twilio itself blocks further messages to that number, and the
// next send to it answers error 21610, which the executor turns into a
// "stop" suppression. Mapping a number to a customer needs the runner's
// customer lookup.
package ingest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/state"
)

// Event is one thing a platform said about one message.
type Event struct {
	// Source says where the event came from, for reports: File and,
	// for Mandrill, the event's index in the batch.
	Source string
	// File is the name of the webhook's file, as given to the parser.
	File string
	// Kind is the platform's name for what happened: a Twilio
	// MessageStatus ("undelivered") or a Mandrill event ("hard_bounce").
	Kind string
	// MessageID is the platform's id of the message (SM…, Mandrill _id).
	MessageID string
	// Key is herald's idempotency key when the platform echoes it
	// (Mandrill's metadata.herald_key); "" otherwise.
	Key string
	// Status is the ledger status the send takes: state.SendFailed,
	// state.SendSent, or "" to leave it as it is.
	Status string
	// Error is what goes in the ledger's error column with a failure.
	Error string
	// Suppress, when set, is the suppression reason for the customer the
	// message went to: bounce, complaint, unsubscribe or stop.
	Suppress string
	// Note explains an event that is reported but cannot be applied
	// (an incoming STOP).
	Note string
	// At is when the platform says the event happened; zero when it does
	// not say.
	At time.Time
}

// Change is what Apply did, or would do, for one event.
type Change struct {
	Event    Event
	Send     *state.Send // the ledger row the event is about; nil when none was found
	Status   string      // the status written, "" when unchanged
	Suppress string      // the suppression added, "" when none
	Skipped  string      // why nothing was done, when nothing was
}

// Result is what Apply did.
type Result struct {
	Changes      []Change
	Updated      int // ledger rows updated
	Suppressions int // suppressions added
}

// Options tune Apply.
type Options struct {
	// DryRun computes the changes without writing them.
	DryRun bool
	// Now stamps the rows written; time.Now when nil.
	Now func() time.Time
}

// Apply finds the ledger rows the events are about — sends through
// provider (its address, "provider.twilio.main") — and writes their new
// statuses in one UpdateSends and the suppressions in one
// AddSuppressions. The ledger is searched campaign by campaign, over the
// campaigns and triggers in the state's objects; an event whose message
// is not in the ledger (sent by something else than herald, or by a
// campaign since removed) is reported as skipped.
func Apply(ctx context.Context, st state.Backend, provider string, events []Event, opts Options) (*Result, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	byID := map[string]*state.Send{}
	byKey := map[string]*state.Send{}
	wantID, wantKey := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		if e.MessageID != "" {
			wantID[e.MessageID] = true
		}
		if e.Key != "" {
			wantKey[e.Key] = true
		}
	}
	if len(wantID)+len(wantKey) > 0 {
		objs, err := st.Objects(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the state: %w", err)
		}
		for _, o := range objs {
			if o.Kind != "campaign" && o.Kind != "trigger" {
				continue
			}
			err := st.Sends(ctx, o.Address, func(s state.Send) error {
				if s.Provider != provider {
					return nil
				}
				if s.ProviderMessageID != "" && wantID[s.ProviderMessageID] {
					c := s
					byID[s.ProviderMessageID] = &c
				}
				if wantKey[s.Key] {
					c := s
					byKey[s.Key] = &c
				}
				return ctx.Err()
			})
			if err != nil {
				return nil, fmt.Errorf("reading the ledger of %s: %w", o.Address, err)
			}
		}
	}

	// Suppressions already there are reported, not added again.
	type supKey struct{ customer, channel string }
	have := map[supKey]string{}
	for _, e := range events {
		if e.Suppress == "" {
			continue
		}
		existing, err := st.Suppressions(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the suppressions: %w", err)
		}
		for _, s := range existing {
			have[supKey{s.CustomerID, s.Channel}] = s.Reason
		}
		break
	}

	res := &Result{}
	updates := map[string]*state.Send{} // by key: the row as it will be written
	var order []string
	sups := map[supKey]state.Suppression{}
	var supOrder []supKey
	for _, e := range events {
		ch := Change{Event: e}
		var s *state.Send
		if e.MessageID != "" {
			s = byID[e.MessageID]
		}
		if s == nil && e.Key != "" {
			s = byKey[e.Key]
		}
		switch {
		case e.Note != "":
			ch.Skipped = e.Note
		case s == nil && e.MessageID == "" && e.Key == "":
			ch.Skipped = "the event names no message"
		case s == nil:
			ch.Skipped = fmt.Sprintf("no send through %s with this message id in the ledger", provider)
		}
		if s != nil {
			cur := updates[s.Key]
			if cur == nil {
				c := *s
				cur = &c
			}
			ch.Send = s
			if st := newStatus(cur.Status, e.Status); st != "" {
				cur.Status = st
				if st == state.SendFailed {
					cur.Error = e.Error
				}
				if cur.ProviderMessageID == "" {
					cur.ProviderMessageID = e.MessageID
				}
				cur.UpdatedAt = now()
				if _, ok := updates[s.Key]; !ok {
					order = append(order, s.Key)
				}
				updates[s.Key] = cur
				ch.Status = st
			}
			if e.Suppress != "" {
				k := supKey{s.CustomerID, s.Channel}
				why, done := have[k]
				if !done {
					why, done = have[supKey{s.CustomerID, ""}]
				}
				switch {
				case done:
					ch.Skipped = fmt.Sprintf("customer %s is already suppressed (%s)", s.CustomerID, why)
				default:
					if _, ok := sups[k]; !ok {
						supOrder = append(supOrder, k)
						sups[k] = state.Suppression{CustomerID: s.CustomerID, Channel: s.Channel, Reason: e.Suppress, CreatedAt: now()}
					}
					ch.Suppress = e.Suppress
				}
			}
			if ch.Status == "" && ch.Suppress == "" && ch.Skipped == "" {
				ch.Skipped = "nothing to change"
			}
		}
		res.Changes = append(res.Changes, ch)
	}
	rows := make([]state.Send, 0, len(order))
	for _, k := range order {
		rows = append(rows, *updates[k])
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	supRows := make([]state.Suppression, 0, len(supOrder))
	for _, k := range supOrder {
		supRows = append(supRows, sups[k])
	}
	res.Updated, res.Suppressions = len(rows), len(supRows)
	if opts.DryRun {
		return res, nil
	}
	if len(rows) > 0 {
		if err := st.UpdateSends(ctx, rows); err != nil {
			return res, fmt.Errorf("updating the ledger: %w", err)
		}
	}
	if len(supRows) > 0 {
		if err := st.AddSuppressions(ctx, supRows); err != nil {
			return res, fmt.Errorf("adding suppressions: %w", err)
		}
	}
	return res, nil
}

// newStatus is the status a send in status cur takes on an event that
// says want, or "" for no change. A failure is final: a later (or
// reordered) "delivered" does not undo it. "sent" only moves a send
// that herald had not yet seen accepted (pending).
func newStatus(cur, want string) string {
	switch want {
	case state.SendFailed:
		if cur != state.SendFailed {
			return state.SendFailed
		}
	case state.SendSent:
		if cur == state.SendPending {
			return state.SendSent
		}
	}
	return ""
}

// Summary is one line per change, for people: no addresses or phone
// numbers, only ids.
func (c Change) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", c.Event.Source, c.Event.Kind)
	if c.Event.MessageID != "" {
		fmt.Fprintf(&b, " %s", c.Event.MessageID)
	}
	if c.Send != nil {
		fmt.Fprintf(&b, " (%s, customer %s)", c.Send.Campaign, c.Send.CustomerID)
	}
	var did []string
	if c.Status != "" {
		did = append(did, "send "+c.Status)
	}
	if c.Suppress != "" {
		did = append(did, fmt.Sprintf("suppressed on %s (%s)", orAll(c.Send.Channel), c.Suppress))
	}
	switch {
	case len(did) > 0 && c.Skipped != "":
		b.WriteString(": " + strings.Join(did, ", ") + "; " + c.Skipped)
	case len(did) > 0:
		b.WriteString(": " + strings.Join(did, ", "))
	case c.Skipped != "":
		b.WriteString(": skipped: " + c.Skipped)
	}
	return b.String()
}

func orAll(channel string) string {
	if channel == "" {
		return "every channel"
	}
	return channel
}
