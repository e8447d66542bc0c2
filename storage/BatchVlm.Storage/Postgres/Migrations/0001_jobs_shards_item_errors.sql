-- Fleet bookkeeping: jobs, their shards (with leases) and per-item errors. Applied once by Migrator (schema_migrations).
-- Job states:   running → completed | completed_with_errors | cancelled
-- Shard states: queued → running → succeeded | failed | cancelled (a re-sent shard goes back to queued with attempt+1)
CREATE TABLE jobs (
    job_id          uuid PRIMARY KEY,
    task            text        NOT NULL,
    model           text        NOT NULL,
    parameters      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    input_address   text        NOT NULL,           -- credential-free (IBlobStore.Describe())
    result_table    text        NOT NULL CHECK (result_table ~ '^[a-z][a-z0-9_]*$'),  -- the task's result table
    state           text        NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'completed', 'completed_with_errors', 'cancelled')),
    shard_size      integer     NOT NULL CHECK (shard_size > 0),
    max_attempts    integer     NOT NULL CHECK (max_attempts > 0),
    total_items     bigint      NOT NULL,
    succeeded_items bigint      NOT NULL DEFAULT 0,  -- items with a result row (kept exact by CommitShard deltas)
    failed_items    bigint      NOT NULL DEFAULT 0,  -- items with an item_errors row
    total_shards    integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX jobs_created ON jobs (created_at DESC);
CREATE INDEX jobs_running ON jobs (job_id) WHERE state = 'running';

CREATE TABLE shards (
    job_id            uuid        NOT NULL REFERENCES jobs ON DELETE CASCADE,
    shard_index       integer     NOT NULL,
    state             text        NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempt           integer     NOT NULL DEFAULT 1,
    item_keys         text[]      NOT NULL,
    item_count        integer     NOT NULL,
    lease_owner       text,
    lease_expires_at  timestamptz,
    sent_at           timestamptz,                   -- null: not (yet) sent for this attempt; the monitor sends it
    started_at        timestamptz,
    finished_at       timestamptz,
    succeeded_count   integer,
    failed_count      integer,
    skipped_count     integer,
    last_error        text,
    PRIMARY KEY (job_id, shard_index)
);
CREATE INDEX shards_open ON shards (job_id) WHERE state IN ('queued', 'running');
CREATE INDEX shards_lease ON shards (lease_expires_at) WHERE state = 'running';
CREATE INDEX shards_unsent ON shards (job_id) WHERE state = 'queued' AND sent_at IS NULL;

-- One row per item that ended in a permanent failure (or whose shard failed for good). An item has either a row in
-- its task's result table or a row here, never both: CommitShard moves it from one to the other.
CREATE TABLE item_errors (
    job_id       uuid        NOT NULL REFERENCES jobs ON DELETE CASCADE,
    item_key     text        NOT NULL,
    shard_index  integer     NOT NULL,
    attempt      integer     NOT NULL,
    kind         text        NOT NULL,   -- truncated, zero_bytes, not_an_image, too_many_pixels, not_found, shard_failed, ...
    reason       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, item_key)
);
