-- Herald state, version 1 (SQLite). Times are INTEGER microseconds since
-- the Unix epoch, UTC; NULL for "not set".

CREATE TABLE meta (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    lineage TEXT    NOT NULL,
    serial  INTEGER NOT NULL
);

-- At most one row: who holds the state lock.
CREATE TABLE locks (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    lock_id   TEXT    NOT NULL,
    who       TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    created   INTEGER NOT NULL,
    pid       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE objects (
    address     TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    attrs       TEXT    NOT NULL DEFAULT '{}', -- JSON object of strings
    status      TEXT    NOT NULL DEFAULT '',
    provider_id TEXT    NOT NULL DEFAULT '',
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- The send ledger: one row per message, keyed by its idempotency key.
CREATE TABLE sends (
    key                 TEXT    PRIMARY KEY,
    campaign            TEXT    NOT NULL,
    variant             TEXT    NOT NULL DEFAULT '',
    customer_id         TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    provider            TEXT    NOT NULL DEFAULT '',
    status              TEXT    NOT NULL,
    provider_message_id TEXT    NOT NULL DEFAULT '',
    error               TEXT    NOT NULL DEFAULT '',
    due_at              INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX sends_campaign_key ON sends (campaign, key);
CREATE INDEX sends_channel_created ON sends (channel, created_at);

CREATE TABLE suppressions (
    customer_id TEXT    NOT NULL,
    channel     TEXT    NOT NULL, -- '' = every channel
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (customer_id, channel)
) WITHOUT ROWID;

CREATE TABLE audience_members (
    audience    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (audience, customer_id)
) WITHOUT ROWID;
