-- Results of the `embed` task: where each item's embedding is. The vectors themselves are in blob storage as .npy
-- shard files with an ids file and a per-job manifest (worker/BatchVlm.Worker/Tasks/README.md); a row per item so
-- `results` lists them. Same pattern as inspect_results (see 0002): primary key (job_id, item_key).
CREATE TABLE embed_results (
    job_id       uuid        NOT NULL REFERENCES jobs ON DELETE CASCADE,
    item_key     text        NOT NULL,
    shard_index  integer     NOT NULL,
    attempt      integer     NOT NULL,
    shard_file   text        NOT NULL,   -- address of the .npy file (output address + <job id>/shard-NNNNN[-from-K].npy)
    row_index    integer     NOT NULL,   -- the item's row in that file (first axis); its key is line row_index+1 of the .ids.txt
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, item_key)
);
