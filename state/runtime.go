package state

import (
	"context"
	"time"
)

// Runtime is what `herald run` keeps between restarts: the configuration
// apply approved, trigger windows and dedupe keys, journeys and their
// timers, leases on due work, the scheduler's leadership, source offsets
// and an audit trail. Both backends implement it; several runners may
// share one PostgreSQL state, so every method that hands out work does so
// to one runner at a time.
//
// Every write is idempotent where a runner may repeat it after a crash:
// adding the same window event or dedupe key twice, starting the same
// journey twice, or advancing the same step twice changes nothing the
// second time.
type Runtime interface {
	// Value returns the value stored under key, or nil, false when there
	// is none. Keys are short paths: "config", "link_key",
	// "offset/source.events/events.jsonl".
	Value(ctx context.Context, key string) ([]byte, bool, error)
	// PutValue stores value under key, replacing what was there.
	PutValue(ctx context.Context, key string, value []byte) error
	// PutValueIfAbsent stores value under key unless the key already has
	// one, and returns the value now stored: for secrets made once and
	// then shared by every runner.
	PutValueIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error)

	// MarkSeen records that trigger saw an event with the dedupe key key.
	// It reports true when the key is new, or was recorded by the same
	// eventID (a runner replaying events after a crash), and false when
	// another event recorded it first: a duplicate.
	MarkSeen(ctx context.Context, trigger, key, eventID string, at time.Time) (bool, error)

	// AddWindowEvent records a matching event toward a trigger's
	// threshold and returns how many of the customer's events for that
	// trigger have At at or after since, this one included. An event whose
	// Key is already recorded for the trigger is counted once.
	AddWindowEvent(ctx context.Context, e WindowEvent, since time.Time) (int, error)
	// ClearWindow removes a customer's window events for a trigger with
	// At at or before upTo: an `unless` event cancels them, and a journey
	// that starts consumes them.
	ClearWindow(ctx context.Context, trigger, customerID string, upTo time.Time) error
	// PruneRuntime deletes window events and dedupe keys of trigger with
	// At before before: housekeeping once they can no longer count.
	PruneRuntime(ctx context.Context, trigger string, before time.Time) error

	// AddWindowEvents does the state work of a batch of matching events
	// of triggers in one transaction: for each, in order, a dedupe key
	// recorded as MarkSeen does (a duplicate goes no further) and the
	// event added to its window as AddWindowEvent does; then, once all are
	// in, the count of the customer's window events of that trigger with
	// At in [Since, Event.At]: the sliding window that ends at the event,
	// in event time, so that a late event counts where it belongs.
	AddWindowEvents(ctx context.Context, adds []WindowAdd) ([]WindowResult, error)
	// StartJourneys starts journeys as StartJourney does, in order and in
	// one transaction, and clears each customer's window up to ClearTo
	// (when set) whether or not the journey started.
	StartJourneys(ctx context.Context, starts []JourneyStart) ([]bool, error)

	// StartJourney inserts j as active at step 0 together with its first
	// timer, in one transaction, and reports true; it reports false and
	// changes nothing when a journey with j.ID exists, when the trigger
	// has an active journey for the customer, or when one of its journeys
	// for the customer started after notBefore (re-entry).
	StartJourney(ctx context.Context, j Journey, first Timer, notBefore time.Time) (bool, error)
	// Journey returns one journey, or nil, nil when there is none.
	Journey(ctx context.Context, id string) (*Journey, error)
	// Journeys calls fn with each journey that matches f, ordered by
	// trigger, then start time, then id, until fn returns an error.
	Journeys(ctx context.Context, f JourneyFilter, fn func(Journey) error) error
	// JourneyCounts counts journeys by trigger, status and step, with
	// active journeys whose next timer is not yet due counted as waiting.
	JourneyCounts(ctx context.Context, now time.Time) ([]JourneyCount, error)
	// ExitJourney marks an active journey exited with a reason and
	// deletes its timers. It reports false when the journey was not
	// active.
	ExitJourney(ctx context.Context, id, reason string, at time.Time) (bool, error)
	// ClaimTimers leases up to limit timers due at or before now whose
	// lease is free or expired, to owner until now+lease, and returns
	// them. Runners sharing a PostgreSQL state claim disjoint timers (FOR
	// UPDATE SKIP LOCKED); a runner that dies leaves its timers to the
	// others once the lease expires.
	ClaimTimers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Timer, error)
	// AdvanceJourney finishes the timer of journey id at step: it deletes
	// that timer and either inserts next (the journey moves to next.Step)
	// or, when next is nil, marks the journey completed. It reports false
	// and changes nothing when the journey is not active at that step:
	// another runner advanced it, or it exited.
	AdvanceJourney(ctx context.Context, id string, step int, next *Timer, at time.Time) (bool, error)

	// ClaimDueSends leases up to limit ledger rows with status deferred
	// and DueAt at or before now, whose lease is free or expired, to owner
	// until now+lease, and returns them in key order. Rows of the
	// campaigns in skip (paused ones) are left alone, so that they go out
	// as soon as the campaign is resumed. UpdateSends on a row ends its
	// lease.
	ClaimDueSends(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int, skip []string) ([]Send, error)
	// SkipDeferredSends marks up to limit of campaign's deferred ledger rows
	// skipped with reason as their error, and reports how many it marked.
	// Rows a runner holds under an unexpired lease are left alone: that
	// runner records their outcome itself, so an outcome is never
	// overwritten. Call it until it returns 0 to skip them all.
	SkipDeferredSends(ctx context.Context, campaign, reason string, now time.Time, limit int) (int, error)

	// Lead makes owner the one scheduler among the runners that share the
	// state, under name, or keeps it so. It reports whether owner leads.
	// PostgreSQL holds an advisory lock on a connection kept for it (ttl
	// is not needed: the lock goes with the connection); SQLite keeps a
	// lease row that lasts ttl and that Lead renews.
	Lead(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Resign gives up leadership of name held by owner.
	Resign(ctx context.Context, name, owner string) error

	// AddAudit appends audit records.
	AddAudit(ctx context.Context, recs []AuditRecord) error
	// Audit calls fn with each audit record of a customer ("" for all),
	// oldest first, until fn returns an error.
	Audit(ctx context.Context, customerID string, fn func(AuditRecord) error) error
}

// WindowEvent is an event counted toward a trigger's threshold.
type WindowEvent struct {
	Trigger    string    // "trigger.cart_abandon"
	CustomerID string    //
	Key        string    // the event's id: adding it again counts it once
	At         time.Time // event time, not arrival time
}

// Journey statuses.
const (
	JourneyActive    = "active"
	JourneyExited    = "exited"
	JourneyCompleted = "completed"
)

// Journey is one customer's way through a trigger's steps.
type Journey struct {
	// ID is chosen by the runner from the trigger and the starting event,
	// so that starting the same journey after a crash finds it there.
	ID         string
	Trigger    string // "trigger.cart_abandon"
	CustomerID string
	Status     string // active | exited | completed
	// Step is the index of the step to run next; for a completed journey,
	// the number of steps.
	Step int
	// StartKey is the id of the event that started the journey.
	StartKey string
	// Event holds the starting event's fields as JSON, for templates that
	// read event.*; it holds no more than the event did.
	Event      []byte
	ExitReason string
	StartedAt  time.Time // event time of the starting event
	UpdatedAt  time.Time // set to now when zero
}

// JourneyFilter selects journeys; empty fields match everything.
type JourneyFilter struct {
	Trigger, CustomerID, Status string
}

// JourneyCount is how many journeys of a trigger are in one status and
// step.
type JourneyCount struct {
	Trigger string
	Status  string // active | waiting | exited | completed
	Step    int
	N       int
}

// Timer is when a journey's next step falls due.
type Timer struct {
	JourneyID string
	Step      int
	DueAt     time.Time
}

// AuditRecord is one decision or action the privacy team may ask about:
// an unsubscribe, a STOP reply, a click or an open. It names the customer
// by id only.
type AuditRecord struct {
	At         time.Time
	Kind       string // unsubscribe, stop, click, open, …
	CustomerID string
	Subject    string // the campaign or trigger address, when known
	Channel    string
	Detail     string // e.g. the link's host and path for a click; never an address
}

// WindowAdd is one matching event of a batch for AddWindowEvents.
type WindowAdd struct {
	Event WindowEvent
	// DedupeKey is the trigger's dedupe key of the event; "" for none.
	DedupeKey string
	// Window says the trigger has a threshold: the event is added to the
	// window and counted from Since.
	Window bool
	Since  time.Time
}

// WindowResult is what AddWindowEvents did with one event.
type WindowResult struct {
	Duplicate bool // its dedupe key was recorded by another event
	Count     int  // the window's events from Since to the event, itself included
}

// JourneyStart is one journey for StartJourneys.
type JourneyStart struct {
	Journey   Journey
	First     Timer
	NotBefore time.Time
	// ClearTo, when set, clears the customer's window of the trigger up
	// to it: the events that crossed the threshold are spent.
	ClearTo time.Time
}
