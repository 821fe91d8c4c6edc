-- Herald state, version 2 (PostgreSQL): what `herald run` keeps between
-- restarts. Several runners may share this database, so work is handed out
-- through leases (lease_owner, lease_until) claimed with FOR UPDATE SKIP
-- LOCKED. Text keys use the "C" collation, as in version 1.

-- Small values under short path keys: the approved configuration, secrets
-- made once, source offsets.
CREATE TABLE kv (
    key        text COLLATE "C" PRIMARY KEY,
    value      bytea       NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Dedupe keys of each trigger, with the event that recorded the key first,
-- so that replaying that event after a crash is not taken for a duplicate.
CREATE TABLE trigger_seen (
    trigger  text COLLATE "C" NOT NULL,
    key      text COLLATE "C" NOT NULL,
    event_id text        NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (trigger, key)
);
-- For pruning by age.
CREATE INDEX trigger_seen_at ON trigger_seen (trigger, at);

-- Events counted toward a trigger's threshold. key is the event's id: the
-- primary key makes adding one twice count it once.
CREATE TABLE window_events (
    trigger     text COLLATE "C" NOT NULL,
    customer_id text COLLATE "C" NOT NULL,
    key         text COLLATE "C" NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (trigger, key)
);
-- Counting and clearing a customer's window; an index-only scan.
CREATE INDEX window_events_customer ON window_events (trigger, customer_id, at);

CREATE TABLE journeys (
    id          text COLLATE "C" PRIMARY KEY,
    trigger     text COLLATE "C" NOT NULL,
    customer_id text COLLATE "C" NOT NULL,
    status      text        NOT NULL, -- active | exited | completed
    step        integer     NOT NULL,
    start_key   text        NOT NULL DEFAULT '',
    event       bytea,                -- the starting event as JSON, byte for byte
    exit_reason text        NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
-- At most one active journey per trigger and customer: of two runners
-- starting the same customer's journey at once, one gets a unique
-- violation, which StartJourney reports as "not started".
CREATE UNIQUE INDEX journeys_active ON journeys (trigger, customer_id) WHERE status = 'active';
-- Re-entry checks, listing by customer; listing by trigger and start time.
CREATE INDEX journeys_customer ON journeys (trigger, customer_id, started_at);
CREATE INDEX journeys_trigger_started ON journeys (trigger, started_at, id);

-- When each journey's next step falls due, and which runner has leased it.
CREATE TABLE timers (
    journey_id  text COLLATE "C" NOT NULL,
    step        integer     NOT NULL,
    due_at      timestamptz NOT NULL,
    lease_owner text        NOT NULL DEFAULT '',
    lease_until timestamptz,
    PRIMARY KEY (journey_id, step)
);
CREATE INDEX timers_due ON timers (due_at);

-- Scheduler leadership as lease rows. PostgreSQL keeps leadership in an
-- advisory lock instead; the table is here so that both backends have the
-- same tables.
CREATE TABLE leaders (
    name  text COLLATE "C" PRIMARY KEY,
    owner text        NOT NULL,
    until timestamptz NOT NULL
);

-- Append-only; seq orders records as they were added.
CREATE TABLE audit (
    seq         bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL,
    kind        text        NOT NULL,
    customer_id text COLLATE "C" NOT NULL DEFAULT '',
    subject     text        NOT NULL DEFAULT '',
    channel     text        NOT NULL DEFAULT '',
    detail      text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_customer ON audit (customer_id, seq);

-- Leases on deferred ledger rows, so that one runner sends each when due.
ALTER TABLE sends
    ADD COLUMN lease_owner text NOT NULL DEFAULT '',
    ADD COLUMN lease_until timestamptz;
CREATE INDEX sends_status_due ON sends (status, due_at);
