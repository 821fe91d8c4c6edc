-- Herald state, version 2 (SQLite): what `herald run` keeps between
-- restarts. Times are INTEGER microseconds since the Unix epoch, UTC, as in
-- version 1. Work is handed out through leases (lease_owner, lease_until)
-- claimed inside a write transaction, so two runners on one file never
-- claim the same row.

-- Small values under short path keys: the approved configuration, secrets
-- made once, source offsets.
CREATE TABLE kv (
    key        TEXT    PRIMARY KEY,
    value      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Dedupe keys of each trigger, with the event that recorded the key first,
-- so that replaying that event after a crash is not taken for a duplicate.
CREATE TABLE trigger_seen (
    trigger  TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    event_id TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (trigger, key)
) WITHOUT ROWID;
-- Pruning by age deletes only what it removes instead of scanning the
-- trigger's keys while it holds the write lock.
CREATE INDEX trigger_seen_at ON trigger_seen (trigger, at);

-- Events counted toward a trigger's threshold. key is the event's id: the
-- primary key makes adding one twice count it once.
CREATE TABLE window_events (
    trigger     TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (trigger, key)
) WITHOUT ROWID;
-- Counting and clearing a customer's window: a covering index.
CREATE INDEX window_events_customer ON window_events (trigger, customer_id, at);
-- Pruning by age, as for trigger_seen.
CREATE INDEX window_events_at ON window_events (trigger, at);

CREATE TABLE journeys (
    id          TEXT    PRIMARY KEY,
    trigger     TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    status      TEXT    NOT NULL, -- active | exited | completed
    step        INTEGER NOT NULL,
    start_key   TEXT    NOT NULL DEFAULT '',
    event       BLOB,             -- the starting event as JSON, byte for byte
    exit_reason TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- At most one active journey per trigger and customer, whatever a runner
-- does: StartJourney checks first, this makes a mistake there fail loudly.
CREATE UNIQUE INDEX journeys_active ON journeys (trigger, customer_id) WHERE status = 'active';
-- Re-entry checks; listing by trigger and start time.
CREATE INDEX journeys_customer ON journeys (trigger, customer_id, started_at);
CREATE INDEX journeys_trigger_started ON journeys (trigger, started_at, id);

-- When each journey's next step falls due, and which runner has leased it.
CREATE TABLE timers (
    journey_id  TEXT    NOT NULL,
    step        INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    lease_owner TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER,
    PRIMARY KEY (journey_id, step)
);
CREATE INDEX timers_due ON timers (due_at);

-- Scheduler leadership: one lease row per name, renewed by its owner and
-- free to take once until has passed.
CREATE TABLE leaders (
    name  TEXT    PRIMARY KEY,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL
) WITHOUT ROWID;

-- Append-only; seq orders records as they were added.
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    customer_id TEXT    NOT NULL DEFAULT '',
    subject     TEXT    NOT NULL DEFAULT '',
    channel     TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_customer ON audit (customer_id, seq);

-- Leases on deferred ledger rows, so that one runner sends each when due.
ALTER TABLE sends ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE sends ADD COLUMN lease_until INTEGER;
CREATE INDEX sends_status_due ON sends (status, due_at);

-- UpdateSends ends a row's lease: whatever it wrote (sent, failed, or
-- deferred again for a retry) is the outcome of the claim. A trigger does
-- it so that every writer of the ledger's outcome columns ends the lease,
-- and only when there is one: the UPDATE of a claim sets the lease columns
-- alone and does not fire it.
CREATE TRIGGER sends_end_lease
AFTER UPDATE OF status, provider_message_id, error, updated_at ON sends
FOR EACH ROW WHEN NEW.lease_until IS NOT NULL OR NEW.lease_owner <> ''
BEGIN
    UPDATE sends SET lease_owner = '', lease_until = NULL WHERE rowid = NEW.rowid;
END;
