-- A shard's dispatch number grows each time it becomes "to be sent" again (re-queued with a new attempt, or handed
-- back by a worker at the same attempt). Recording a send matches (attempt, dispatch), so a send that completes
-- after the shard was already handed back again cannot mark the newer dispatch as sent (it would never go out).
ALTER TABLE shards ADD COLUMN dispatch integer NOT NULL DEFAULT 0;
