-- Herald state, version 1 (PostgreSQL). Text keys use the "C" collation so
-- that they sort by bytes, as in SQLite and Go, whatever the database's
-- locale.

CREATE TABLE meta (
    id      integer PRIMARY KEY CHECK (id = 1),
    lineage text    NOT NULL,
    serial  bigint  NOT NULL
);

-- At most one row: who holds the state lock. pid is the backend of the
-- session holding the advisory lock, so that force-unlock can end it.
CREATE TABLE locks (
    id        integer     PRIMARY KEY CHECK (id = 1),
    lock_id   text        NOT NULL,
    who       text        NOT NULL,
    operation text        NOT NULL,
    created   timestamptz NOT NULL,
    pid       integer     NOT NULL DEFAULT 0
);

CREATE TABLE objects (
    address     text COLLATE "C" PRIMARY KEY,
    kind        text        NOT NULL,
    attrs       jsonb       NOT NULL DEFAULT '{}',
    status      text        NOT NULL DEFAULT '',
    provider_id text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL
);

-- The send ledger: one row per message, keyed by its idempotency key.
CREATE TABLE sends (
    key                 text COLLATE "C" PRIMARY KEY,
    campaign            text COLLATE "C" NOT NULL,
    variant             text        NOT NULL DEFAULT '',
    customer_id         text COLLATE "C" NOT NULL,
    channel             text COLLATE "C" NOT NULL,
    provider            text        NOT NULL DEFAULT '',
    status              text        NOT NULL,
    provider_message_id text        NOT NULL DEFAULT '',
    error               text        NOT NULL DEFAULT '',
    due_at              timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX sends_campaign_key ON sends (campaign, key);
CREATE INDEX sends_channel_created ON sends (channel, created_at);

CREATE TABLE suppressions (
    customer_id text COLLATE "C" NOT NULL,
    channel     text COLLATE "C" NOT NULL, -- '' = every channel
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, channel)
);

CREATE TABLE audience_members (
    audience    text COLLATE "C" NOT NULL,
    customer_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (audience, customer_id)
);
