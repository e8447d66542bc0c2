-- Results of the `score` task: one row per (item, text of the job). logit is the model's raw score; probability is
-- sigmoid(logit) for SigLIP, softmax over the job's texts for CLIP/AltCLIP, BLIP-2 ITM P(match); null for BLIP-2 ITC
-- (cosine similarity, no calibrated probability). Same pattern as inspect_results (see 0002), keyed by text_index too.
CREATE TABLE score_results (
    job_id       uuid             NOT NULL REFERENCES jobs ON DELETE CASCADE,
    item_key     text             NOT NULL,
    shard_index  integer          NOT NULL,
    attempt      integer          NOT NULL,
    text_index   integer          NOT NULL,   -- index into the job's texts (jobs.parameters->'texts')
    text         text             NOT NULL,
    logit        double precision NOT NULL,
    probability  double precision,
    score_kind   text             NOT NULL,   -- sigmoid | softmax_over_texts | blip2_itm | blip2_itc
    created_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, item_key, text_index)
);
