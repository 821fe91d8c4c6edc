// Package executor carries out a plan: it takes the state lock, refuses a
// stale plan, writes the plan's objects to the state in dependency order,
// and sends each campaign's messages to its pinned recipients through the
// channel providers, with a send ledger that makes a crashed apply
// resumable.
//
// # The graph walk
//
// Objects are written by level: providers, schemas, sources, consent,
// segments, templates, then campaigns, audiences and triggers; deletes go
// first, from the top level down. The changes of one level run in
// parallel (Options.Parallelism), campaign sends one campaign at a time so
// that a frequency cap counts the campaigns sent before it. The state is
// written after every change, so a failure leaves the state matching what
// happened, and the next plan shows only what is left. A failed change
// does not stop the others of its level, but stops the levels above it,
// which are reported as not applied.
//
// A campaign is written with status "sending" before its first message,
// "sent" when every pinned recipient has an outcome, and "scheduled" when
// some are deferred to herald run (a future schedule, or quiet hours).
//
// # The send pipeline
//
// For each campaign, the executor reads the ledger rows of the plan's keys,
// streams the campaign's audience source once and picks the pinned
// customers that have no outcome yet, and re-reads their consent. A
// recipient is then skipped (and recorded as skipped, with the reason) when
// their consent was withdrawn since the plan, their frequency cap is
// reached in the ledger, they are suppressed, their profile is gone, or
// they have no address; deferred (recorded with DueAt) when their send time
// is in the future or they are in quiet hours now; otherwise the message is
// rendered — each template hole is its checked CEL expression, values are
// HTML-escaped in html parts, the campaign's UTM parameters are added to
// every http(s) link, marketing e-mail carries List-Unsubscribe and
// List-Unsubscribe-Post (RFC 8058) headers with a signed unsubscribe link —
// and sent. The provider receives only the message: the address it goes to
// and the rendered parts, not the profile.
//
// Unsubscribe links are PUBLIC_URL/u/TOKEN, TOKEN an HMAC-SHA256 over the
// customer, the campaign and an expiry (a year), keyed by HERALD_LINK_KEY,
// or, when it is not set, by a random key made once and kept in the state
// (package links, which also rewrites the links of campaigns with
// track_clicks and track_opens, and serves them all in herald run).
//
// # The ledger and exactly-once
//
// Every message has an idempotency key: KeyPrefix (8 hex digits of SHA-256
// over the campaign's address and the plan's configuration digest), a dash,
// and the recipient's index in the plan's pinned list. It is the same on
// every retry and every resume of the plan. Before a provider is called the
// row is in the ledger with status pending (RecordSends, in batches of
// 1,000); after, its outcome (sent with the provider's message id, failed
// with the error) is written with UpdateSends.
//
// When an apply is interrupted — killed, Ctrl-C, a provider paused — the
// same plan file is applied again. Messages whose outcome is in the ledger
// (sent, failed, skipped, deferred) are not sent again. Pending messages —
// recorded, but the outcome was not written — are sent again with the same
// idempotency key. So:
//
//   - with a provider that honours idempotency keys (webhook: the
//     Idempotency-Key header; outbox: one record per key), every message is
//     delivered exactly once;
//   - with a provider that does not (SMTP), delivery is at least once for the
//     messages in flight when the apply died: at most the provider's
//     concurrency (8 by default) per crash. For such providers outcomes are
//     written one by one, not in batches, so that bound holds.
//
// A provider that buffers (the outbox, through providers.BufferedChannel)
// is flushed before the outcomes of what it took are written, so the
// ledger never says sent ahead of the file; a crash before the flush
// leaves those rows pending, and their resend is deduplicated by key.
//
// A message is never sent to a customer outside the plan, nor without its
// row in the ledger first.
//
// # Resuming: the apply marker
//
// Each state write bumps the state's serial, so after a crash the plan
// would look stale. To tell "this plan's own apply moved the state" from
// "someone else did", the executor keeps, while it works, an object of kind
// "apply" at address apply.<plan id> (PlanID: the plan's lineage, serial,
// configuration digest and creation time), written in the same transaction
// as every object it writes. Its attributes hold the plan's lineage, serial
// and configuration digest, the serial of the state as the apply left it,
// and its progress. A plan whose marker is in the state, with the same
// lineage and configuration digest, and whose recorded serial is the
// state's current serial, is resumed instead of refused. The marker is
// removed by the last write of a complete apply, after which the plan is
// stale like any applied plan. After a crash, a new plan shows the marker
// as a deletion; applying that plan abandons the interrupted apply (its
// pending messages are not sent).
//
// A killed apply's lock does not block the resume: PostgreSQL releases it
// with the session, and on SQLite the next Lock on the same host sees that
// the holder's process is gone and takes it over (a holder on another host
// needs herald force-unlock).
//
// # Delivery
//
// Each provider has a token bucket (rate_limit and burst; by default no
// limit for outbox, 10/s for smtp and 100/s for webhook), a pool of
// concurrency workers (8 by default), and retries of transient failures
// with exponential backoff and jitter (200ms doubling up to 30s, and never
// sooner than the provider's Retry-After), max_retries times (5 by
// default). A Suppress outcome adds a suppression. A provider that fails
// 20 times in a row is paused: what it has not sent stays pending, the
// apply ends with ErrPaused, and applying the same plan again resumes.
//
// Ad audiences are synced after the plan's consent and suppression are
// checked again: removals first, then additions, in the platform's batch
// size, each batch recorded in the state once the platform accepted it.
// The platform's audience id is kept in the audience object's ProviderID.
//
// # The runner
//
// Runner is herald run. Apply leaves the configuration it applied in the
// state (every HCL file and template, and its digest); the runner loads
// that, never the files on disk, and picks up a new one, a pause or a
// cancel at its next poll. Each poll it claims due journey timers and
// deferred campaign rows under a lease (ClaimTimers, ClaimDueSends), runs
// them through the same send-time checks as apply, and, when it leads,
// reads new events from tailed JSONL tables and PostgreSQL cursors; every
// runner also takes events on the Segment-compatible endpoint. Events go
// through each trigger of their source (exit_when, unless, on, when,
// dedupe, the threshold window in event time, reentry) with their state
// writes batched (AddWindowEvents, StartJourneys), and concurrent batches
// committed together. A journey step's message has the ledger key
// j<journey id>-<step>, recorded pending before the provider is called, so
// a runner killed at any point and restarted sends each step once, with
// the guarantee above for providers without idempotency keys. See
// docs/operations.md.
package executor
