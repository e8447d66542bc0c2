-- Results of the `inspect` task. Every per-task result table follows the same pattern, which ResultTable relies on:
--   (job_id, item_key, shard_index, attempt, <task columns...>, created_at), primary key (job_id, item_key[, more keys]),
-- e.g. score_results keyed (job_id, item_key, text_index), caption_results keyed (job_id, item_key, prompt).
CREATE TABLE inspect_results (
    job_id       uuid             NOT NULL REFERENCES jobs ON DELETE CASCADE,
    item_key     text             NOT NULL,
    shard_index  integer          NOT NULL,
    attempt      integer          NOT NULL,
    format       text             NOT NULL,
    width        integer          NOT NULL,
    height       integer          NOT NULL,
    bands        integer          NOT NULL,
    orientation  integer          NOT NULL,   -- EXIF orientation 1..8 (1 when absent)
    byte_size    bigint           NOT NULL,
    sha256       text             NOT NULL,   -- lower-case hex of the blob's bytes
    decode_ms    double precision NOT NULL,
    created_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, item_key)
);
