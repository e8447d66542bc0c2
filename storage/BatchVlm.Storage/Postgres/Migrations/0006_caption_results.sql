-- Results of the `caption` task (PaliGemma, BLIP-2 OPT/T5): one row per (item, prompt). prompt is the prompt used for
-- the item ('' for a plain BLIP-2 caption; with per-item questions, the job prompt plus the item's question).
-- Same pattern as inspect_results (see 0002), keyed by prompt too.
CREATE TABLE caption_results (
    job_id        uuid             NOT NULL REFERENCES jobs ON DELETE CASCADE,
    item_key      text             NOT NULL,
    shard_index   integer          NOT NULL,
    attempt       integer          NOT NULL,
    prompt        text             NOT NULL,
    text          text             NOT NULL,
    token_count   integer          NOT NULL,   -- new tokens generated (the eos token included when it stopped there)
    finish_reason text             NOT NULL,   -- eos | length
    boxes         jsonb,                       -- PaliGemma detect: [{label, x_min, y_min, x_max, y_max}] in original-image pixels
    image_width   integer          NOT NULL,
    image_height  integer          NOT NULL,
    batch_size    integer          NOT NULL,   -- items in the model batch this item ran in
    prefill_ms    double precision NOT NULL,   -- the batch's image + prompt prefill
    decode_ms     double precision NOT NULL,   -- the batch's generation loop
    created_at    timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, item_key, prompt)
);
