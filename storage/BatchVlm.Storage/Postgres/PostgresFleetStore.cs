// The fleet's state in PostgreSQL (schema: Migrations/). Every public method runs as one retried unit (PostgresRetry:
// transient errors get a fresh connection and transaction, for up to PostgresOptions.RetryBudget), every statement is
// parameterised (table names come only from ResultTable, validated identifiers). Idempotency rules:
//  - results and item errors are upserted by key, and a commit moves an item between its result table and
//    item_errors, so an item has exactly one outcome however often its shard is delivered;
//  - job counters change by the *net* effect of each commit (rows newly inserted vs. moved), computed from
//    INSERT ... ON CONFLICT ... RETURNING (xmax = 0), inside the same transaction;
//  - shard transitions are guarded by (state, attempt) so stale messages change nothing.
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using Polly;

namespace BatchVlm.Storage.Postgres;

public sealed class PostgresFleetStore : IFleetStore, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ResiliencePipeline _retry;
    private readonly ILogger? _logger;
    private readonly bool _ownsDataSource;

    public PostgresFleetStore(NpgsqlDataSource dataSource, PostgresOptions options, ILogger? logger = null, bool ownsDataSource = false)
    {
        _dataSource = dataSource;
        _logger = logger;
        _ownsDataSource = ownsDataSource;
        _retry = PostgresRetry.Create(options, (ex, attempt, delay) =>
            _logger?.LogWarning("Transient database error (attempt {Attempt}, retrying in {Delay} ms): {Error}",
                attempt, (int)delay.TotalMilliseconds, Configuration.Secrets.Redact(ex.Message)));
    }

    /// <summary>Open the pooled data source for <paramref name="options"/> and apply pending migrations (retried
    /// while the server is unreachable, within the retry budget).</summary>
    public static async Task<PostgresFleetStore> OpenAsync(PostgresOptions options, ILogger? logger = null, CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
            throw new InvalidOperationException("No PostgreSQL connection string: set ConnectionStrings:Postgres (run `./batchvlm stack up`, or set BATCHVLM_ConnectionStrings__Postgres).");
        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString)
        {
            MaxPoolSize = options.MaxPoolSize,
            CommandTimeout = options.CommandTimeoutSeconds,
        };
        var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        var store = new PostgresFleetStore(dataSource, options, logger, ownsDataSource: true);
        if (options.MigrateOnStart)
            await store._retry.ExecuteAsync(async t => { await new Migrator(dataSource, logger).ApplyAsync(t); }, ct);
        return store;
    }

    public NpgsqlDataSource DataSource => _dataSource;

    public async ValueTask DisposeAsync()
    {
        if (_ownsDataSource)
            await _dataSource.DisposeAsync();
    }

    private ValueTask<T> Retry<T>(Func<CancellationToken, ValueTask<T>> action, CancellationToken ct) => _retry.ExecuteAsync(action, ct);

    private static NpgsqlCommand Cmd(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var (name, value) in parameters)
            cmd.Parameters.AddWithValue(name, value);
        return cmd;
    }

    // ------------------------------------------------------------------ jobs

    public Task CreateJobAsync(NewJob job, CancellationToken ct = default) => Retry<bool>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var tx = await conn.BeginTransactionAsync(t);
        await using (var insert = Cmd(conn, tx, """
            INSERT INTO jobs (job_id, task, model, parameters, input_address, result_table, shard_size, max_attempts, total_items, total_shards)
            VALUES (@id, @task, @model, @params::jsonb, @input, @table, @size, @max, @total, @shards)
            """, ("id", job.JobId), ("task", job.Task), ("table", job.ResultTable), ("model", job.Model), ("params", job.ParametersJson),
            ("input", job.InputAddress), ("size", job.ShardSize), ("max", job.MaxAttempts), ("total", job.TotalItems),
            ("shards", job.Shards.Count)))
            await insert.ExecuteNonQueryAsync(t);

        await using (var importer = await conn.BeginBinaryImportAsync(
            "COPY shards (job_id, shard_index, item_keys, item_count) FROM STDIN (FORMAT BINARY)", t))
        {
            for (var i = 0; i < job.Shards.Count; i++)
            {
                await importer.StartRowAsync(t);
                await importer.WriteAsync(job.JobId, NpgsqlDbType.Uuid, t);
                await importer.WriteAsync(i, NpgsqlDbType.Integer, t);
                await importer.WriteAsync(job.Shards[i] as string[] ?? job.Shards[i].ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, t);
                await importer.WriteAsync(job.Shards[i].Count, NpgsqlDbType.Integer, t);
            }
            await importer.CompleteAsync(t);
        }
        await tx.CommitAsync(t);
        return true;
    }, ct).AsTask();

    public Task MarkSentAsync(IReadOnlyList<ShardToSend> shards, CancellationToken ct = default) => Retry<bool>(async t =>
    {
        if (shards.Count == 0)
            return true;
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var cmd = Cmd(conn, null, """
            UPDATE shards s SET sent_at = now()
            FROM unnest(@job, @idx, @att, @disp) AS u(job_id, shard_index, attempt, dispatch)
            WHERE s.job_id = u.job_id AND s.shard_index = u.shard_index AND s.attempt = u.attempt AND s.dispatch = u.dispatch
              AND s.sent_at IS NULL
            """, ("job", shards.Select(s => s.JobId).ToArray()), ("idx", shards.Select(s => s.ShardIndex).ToArray()),
            ("att", shards.Select(s => s.Attempt).ToArray()), ("disp", shards.Select(s => s.Dispatch).ToArray()));
        await cmd.ExecuteNonQueryAsync(t);
        return true;
    }, ct).AsTask();

    private const string JobSelect = """
        SELECT j.job_id, j.task, j.model, j.parameters::text, j.input_address, j.state, j.total_items, j.succeeded_items,
               j.failed_items, j.total_shards,
               (SELECT count(*) FILTER (WHERE state = 'queued')    FROM shards s WHERE s.job_id = j.job_id)::int,
               (SELECT count(*) FILTER (WHERE state = 'running')   FROM shards s WHERE s.job_id = j.job_id)::int,
               (SELECT count(*) FILTER (WHERE state = 'succeeded') FROM shards s WHERE s.job_id = j.job_id)::int,
               (SELECT count(*) FILTER (WHERE state = 'failed')    FROM shards s WHERE s.job_id = j.job_id)::int,
               j.shard_size, j.max_attempts, j.created_at, j.updated_at, j.finished_at
        FROM jobs j
        """;

    private static JobSnapshot ReadJob(NpgsqlDataReader r) => new(
        r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
        r.GetInt64(6), r.GetInt64(7), r.GetInt64(8), r.GetInt32(9), r.GetInt32(10), r.GetInt32(11), r.GetInt32(12),
        r.GetInt32(13), r.GetInt32(14), r.GetInt32(15), r.GetFieldValue<DateTimeOffset>(16), r.GetFieldValue<DateTimeOffset>(17),
        r.IsDBNull(18) ? null : r.GetFieldValue<DateTimeOffset>(18));

    public Task<JobSnapshot?> GetJobAsync(Guid jobId, CancellationToken ct = default) => Retry<JobSnapshot?>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var cmd = Cmd(conn, null, JobSelect + " WHERE j.job_id = @id", ("id", jobId));
        await using var r = await cmd.ExecuteReaderAsync(t);
        return await r.ReadAsync(t) ? ReadJob(r) : null;
    }, ct).AsTask();

    public Task<IReadOnlyList<JobSnapshot>> ListJobsAsync(int limit, CancellationToken ct = default) => Retry<IReadOnlyList<JobSnapshot>>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var cmd = Cmd(conn, null, JobSelect + " ORDER BY j.created_at DESC LIMIT @n", ("n", limit));
        await using var r = await cmd.ExecuteReaderAsync(t);
        var list = new List<JobSnapshot>();
        while (await r.ReadAsync(t))
            list.Add(ReadJob(r));
        return list;
    }, ct).AsTask();

    // ------------------------------------------------------------------ worker side

    public Task<ShardClaim> ClaimShardAsync(Guid jobId, int shardIndex, int attempt, string workerId, TimeSpan lease,
        ResultTable table, IReadOnlyList<string> itemKeys, CancellationToken ct = default) => Retry<ShardClaim>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using (var claim = Cmd(conn, null, """
            UPDATE shards s
            SET state = 'running', lease_owner = @w, lease_expires_at = now() + @lease, started_at = coalesce(s.started_at, now())
            FROM jobs j
            WHERE s.job_id = @job AND s.shard_index = @idx AND s.attempt = @att AND j.job_id = s.job_id AND j.state = 'running'
              AND (s.state = 'queued'
                   OR (s.state = 'running' AND (s.lease_owner = @w OR s.lease_expires_at IS NULL OR s.lease_expires_at < now())))
            """, ("w", workerId), ("lease", lease), ("job", jobId), ("idx", shardIndex), ("att", attempt)))
        {
            if (await claim.ExecuteNonQueryAsync(t) == 1)
            {
                var done = new HashSet<string>(StringComparer.Ordinal);
                await using var doneCmd = Cmd(conn, null,
                    $"SELECT DISTINCT item_key FROM {table.Name} WHERE job_id = @job AND item_key = ANY(@keys)",
                    ("job", jobId), ("keys", itemKeys as string[] ?? itemKeys.ToArray()));
                await using var r = await doneCmd.ExecuteReaderAsync(t);
                while (await r.ReadAsync(t))
                    done.Add(r.GetString(0));
                return new ShardClaim(ShardClaimStatus.Claimed, done);
            }
        }

        await using var why = Cmd(conn, null, """
            SELECT s.state, s.attempt, s.lease_owner, j.state
            FROM shards s JOIN jobs j ON j.job_id = s.job_id WHERE s.job_id = @job AND s.shard_index = @idx
            """, ("job", jobId), ("idx", shardIndex));
        await using var w = await why.ExecuteReaderAsync(t);
        var empty = new HashSet<string>();
        if (!await w.ReadAsync(t))
            return new ShardClaim(ShardClaimStatus.NotFound, empty, "no such shard");
        var (shardState, currentAttempt, owner, jobState) = (w.GetString(0), w.GetInt32(1), w.IsDBNull(2) ? null : w.GetString(2), w.GetString(3));
        if (jobState != JobStates.Running && shardState is ShardStates.Queued or ShardStates.Running or ShardStates.Cancelled)
            return new ShardClaim(ShardClaimStatus.JobNotRunning, empty, $"job is {jobState}");
        if (shardState is ShardStates.Succeeded or ShardStates.Failed or ShardStates.Cancelled)
            return new ShardClaim(ShardClaimStatus.AlreadyFinished, empty, $"shard is {shardState}");
        if (currentAttempt != attempt)
            return new ShardClaim(ShardClaimStatus.StaleAttempt, empty, $"shard is at attempt {currentAttempt}");
        return new ShardClaim(ShardClaimStatus.LeasedElsewhere, empty, $"leased by {owner}");
    }, ct).AsTask();

    public Task<bool> ExtendLeaseAsync(Guid jobId, int shardIndex, int attempt, string workerId, TimeSpan lease, CancellationToken ct = default) => Retry<bool>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var cmd = Cmd(conn, null, """
            UPDATE shards s SET lease_expires_at = now() + @lease
            FROM jobs j
            WHERE s.job_id = @job AND s.shard_index = @idx AND s.attempt = @att AND s.state = 'running' AND s.lease_owner = @w
              AND j.job_id = s.job_id AND j.state = 'running'
            """, ("lease", lease), ("job", jobId), ("idx", shardIndex), ("att", attempt), ("w", workerId));
        return await cmd.ExecuteNonQueryAsync(t) == 1;
    }, ct).AsTask();

    public Task<CommitOutcome> CommitShardAsync(ShardCommit c, CancellationToken ct = default) => Retry<CommitOutcome>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var tx = await conn.BeginTransactionAsync(t);
        long succeededDelta = 0, failedDelta = 0;
        var table = c.Table.Name;
        var okKeys = c.Rows.Select(r => r.ItemKey).Distinct(StringComparer.Ordinal).ToArray();
        var failedKeys = c.Errors.Select(e => e.ItemKey).Distinct(StringComparer.Ordinal).ToArray();

        if (c.Rows.Count > 0)
        {
            var stage = "stage_" + table;
            await using (var create = Cmd(conn, tx, $"CREATE TEMP TABLE {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"))
                await create.ExecuteNonQueryAsync(t);
            var columns = string.Join(", ", c.Table.CopyColumns);
            await using (var importer = await conn.BeginBinaryImportAsync($"COPY {stage} ({columns}) FROM STDIN (FORMAT BINARY)", t))
            {
                foreach (var row in c.Rows)
                {
                    await importer.StartRowAsync(t);
                    await importer.WriteAsync(c.JobId, NpgsqlDbType.Uuid, t);
                    await importer.WriteAsync(row.ItemKey, NpgsqlDbType.Text, t);
                    await importer.WriteAsync(c.ShardIndex, NpgsqlDbType.Integer, t);
                    await importer.WriteAsync(c.Attempt, NpgsqlDbType.Integer, t);
                    c.Table.WriteRow(importer, row);
                }
                await importer.CompleteAsync(t);
            }
            var keys = string.Join(", ", new[] { "job_id", "item_key" }.Concat(c.Table.ExtraKeyColumns));
            var updates = string.Join(", ", c.Table.CopyColumns.Skip(2).Append("created_at").Select(col => $"{col} = EXCLUDED.{col}"));
            // Rows go in key order so that two transactions writing the same keys lock them in the same order.
            await using (var upsert = Cmd(conn, tx, $"""
                WITH up AS (
                    INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} ORDER BY {keys}
                    ON CONFLICT ({keys}) DO UPDATE SET {updates}
                    RETURNING item_key, (xmax = 0) AS inserted)
                SELECT count(DISTINCT item_key) FILTER (WHERE inserted) FROM up
                """))
                succeededDelta += (long)(await upsert.ExecuteScalarAsync(t))!;
            await using (var moved = Cmd(conn, tx, "DELETE FROM item_errors WHERE job_id = @job AND item_key = ANY(@keys)",
                ("job", c.JobId), ("keys", okKeys)))
                failedDelta -= await moved.ExecuteNonQueryAsync(t);
        }

        if (c.Errors.Count > 0)
        {
            var errors = c.Errors.GroupBy(e => e.ItemKey, StringComparer.Ordinal).Select(g => g.Last()).OrderBy(e => e.ItemKey, StringComparer.Ordinal).ToArray();
            await using (var upsert = Cmd(conn, tx, """
                WITH up AS (
                    INSERT INTO item_errors (job_id, item_key, shard_index, attempt, kind, reason)
                    SELECT @job, k, @idx, @att, kind, reason FROM unnest(@keys, @kinds, @reasons) AS u(k, kind, reason)
                    ON CONFLICT (job_id, item_key) DO UPDATE
                    SET shard_index = EXCLUDED.shard_index, attempt = EXCLUDED.attempt, kind = EXCLUDED.kind,
                        reason = EXCLUDED.reason, created_at = now()
                    RETURNING (xmax = 0) AS inserted)
                SELECT count(*) FILTER (WHERE inserted) FROM up
                """, ("job", c.JobId), ("idx", c.ShardIndex), ("att", c.Attempt),
                ("keys", errors.Select(e => e.ItemKey).ToArray()), ("kinds", errors.Select(e => e.Kind).ToArray()),
                ("reasons", errors.Select(e => e.Reason).ToArray())))
                failedDelta += (long)(await upsert.ExecuteScalarAsync(t))!;
            await using (var moved = Cmd(conn, tx, $"""
                WITH gone AS (DELETE FROM {table} WHERE job_id = @job AND item_key = ANY(@keys) RETURNING item_key)
                SELECT count(DISTINCT item_key) FROM gone
                """, ("job", c.JobId), ("keys", failedKeys)))
                succeededDelta -= (long)(await moved.ExecuteScalarAsync(t))!;
        }

        var markedDone = false;
        if (c.Final)
        {
            await using var done = Cmd(conn, tx, """
                UPDATE shards SET state = 'succeeded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                       succeeded_count = @ok, failed_count = @bad, skipped_count = @skipped, last_error = NULL
                WHERE job_id = @job AND shard_index = @idx AND state IN ('queued', 'running')
                """, ("ok", okKeys.Length + c.Skipped), ("bad", failedKeys.Length), ("skipped", c.Skipped),
                ("job", c.JobId), ("idx", c.ShardIndex));
            markedDone = await done.ExecuteNonQueryAsync(t) == 1;
        }
        else
        {
            // Hand-back: release the lease and queue the shard again at the same attempt; the sender re-sends it.
            await using var release = Cmd(conn, tx, """
                UPDATE shards SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, sent_at = NULL,
                       dispatch = dispatch + 1, last_error = @why
                WHERE job_id = @job AND shard_index = @idx AND attempt = @att AND state = 'running' AND lease_owner = @w
                """, ("why", c.HandBackReason ?? "handed back"), ("job", c.JobId), ("idx", c.ShardIndex), ("att", c.Attempt), ("w", c.WorkerId));
            await release.ExecuteNonQueryAsync(t);
        }

        var state = await UpdateJobAsync(conn, tx, c.JobId, succeededDelta, failedDelta, t);
        await tx.CommitAsync(t);
        return new CommitOutcome(succeededDelta, failedDelta, markedDone, state);
    }, ct).AsTask();

    /// <summary>Apply counter deltas and finish the job when no shard is open; returns the job state. The job row is
    /// locked by the first UPDATE, so concurrent commits of one job finish it exactly once.</summary>
    private static async Task<string> UpdateJobAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid jobId, long succeededDelta, long failedDelta, CancellationToken t)
    {
        await using (var counters = Cmd(conn, tx, """
            UPDATE jobs SET succeeded_items = succeeded_items + @ok, failed_items = failed_items + @bad, updated_at = now()
            WHERE job_id = @job
            """, ("ok", succeededDelta), ("bad", failedDelta), ("job", jobId)))
            await counters.ExecuteNonQueryAsync(t);
        await using var finish = Cmd(conn, tx, """
            UPDATE jobs SET state = CASE WHEN failed_items = 0 THEN 'completed' ELSE 'completed_with_errors' END,
                   finished_at = now(), updated_at = now()
            WHERE job_id = @job AND state = 'running'
              AND NOT EXISTS (SELECT 1 FROM shards WHERE job_id = @job AND state IN ('queued', 'running'));
            SELECT state FROM jobs WHERE job_id = @job;
            """, ("job", jobId));
        return (string)(await finish.ExecuteScalarAsync(t))!;
    }

    // ------------------------------------------------------------------ coordinator side

    public Task<ShardToSend?> RequeueShardAsync(Guid jobId, int shardIndex, int fromAttempt, string reason,
        Action<bool>? limitReached = null, CancellationToken ct = default) => Retry<ShardToSend?>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var cmd = Cmd(conn, null, """
            WITH open AS (
                SELECT s.job_id, s.shard_index, s.attempt < j.max_attempts AS can_retry
                FROM shards s JOIN jobs j ON j.job_id = s.job_id
                WHERE s.job_id = @job AND s.shard_index = @idx AND s.attempt = @att AND s.state IN ('queued', 'running')
                  AND j.state = 'running'
                FOR UPDATE OF s),
            moved AS (
                UPDATE shards s SET attempt = s.attempt + 1, state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
                       sent_at = NULL, dispatch = s.dispatch + 1, last_error = @why
                FROM open o WHERE s.job_id = o.job_id AND s.shard_index = o.shard_index AND o.can_retry
                RETURNING s.attempt, s.item_keys, s.dispatch)
            SELECT (SELECT can_retry FROM open), m.attempt, m.item_keys, j.task, j.model, j.parameters::text, j.input_address, m.dispatch
            FROM jobs j LEFT JOIN moved m ON true WHERE j.job_id = @job
            """, ("job", jobId), ("idx", shardIndex), ("att", fromAttempt), ("why", reason));
        await using var r = await cmd.ExecuteReaderAsync(t);
        if (!await r.ReadAsync(t) || r.IsDBNull(0))
            return null;                                   // no longer open at that attempt: someone moved it on
        if (!r.GetBoolean(0))
        {
            limitReached?.Invoke(true);
            return null;
        }
        return new ShardToSend(jobId, shardIndex, r.GetInt32(1), r.GetString(3), r.GetString(4), r.GetString(5), r.GetString(6),
            r.GetFieldValue<string[]>(2), r.GetInt32(7));
    }, ct).AsTask();

    public Task<bool> FailShardAsync(Guid jobId, int shardIndex, int attempt, string reason, CancellationToken ct = default) => Retry<bool>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var tx = await conn.BeginTransactionAsync(t);
        string[] keys;
        string resultTable;
        await using (var mark = Cmd(conn, tx, """
            UPDATE shards s SET state = 'failed', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, last_error = @why
            FROM jobs j
            WHERE s.job_id = @job AND s.shard_index = @idx AND s.attempt = @att AND s.state IN ('queued', 'running') AND j.job_id = s.job_id
            RETURNING s.item_keys, j.result_table
            """, ("why", reason), ("job", jobId), ("idx", shardIndex), ("att", attempt)))
        await using (var r = await mark.ExecuteReaderAsync(t))
        {
            if (!await r.ReadAsync(t))
                return false;
            keys = r.GetFieldValue<string[]>(0);
            resultTable = r.GetString(1);
        }
        // Items that already have an outcome (a result from a handed-back part, or an error) keep it.
        var notDone = $"AND NOT EXISTS (SELECT 1 FROM {resultTable} x WHERE x.job_id = @job AND x.item_key = k)";
        long failed;
        await using (var errors = Cmd(conn, tx, $"""
            WITH ins AS (
                INSERT INTO item_errors (job_id, item_key, shard_index, attempt, kind, reason)
                SELECT @job, k, @idx, @att, 'shard_failed', @why FROM unnest(@keys) AS u(k)
                WHERE true {notDone}
                ON CONFLICT (job_id, item_key) DO NOTHING
                RETURNING 1)
            SELECT count(*) FROM ins
            """, ("job", jobId), ("idx", shardIndex), ("att", attempt), ("why", reason), ("keys", keys)))
            failed = (long)(await errors.ExecuteScalarAsync(t))!;
        await UpdateJobAsync(conn, tx, jobId, 0, failed, t);
        await tx.CommitAsync(t);
        return true;
    }, ct).AsTask();

    public Task<IReadOnlyList<ExpiredShard>> FindExpiredLeasesAsync(int limit, CancellationToken ct = default) => Retry<IReadOnlyList<ExpiredShard>>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var cmd = Cmd(conn, null, """
            SELECT job_id, shard_index, attempt, lease_owner FROM shards
            WHERE state = 'running' AND lease_expires_at < now() ORDER BY lease_expires_at LIMIT @n
            """, ("n", limit));
        await using var r = await cmd.ExecuteReaderAsync(t);
        var list = new List<ExpiredShard>();
        while (await r.ReadAsync(t))
            list.Add(new ExpiredShard(r.GetGuid(0), r.GetInt32(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetString(3)));
        return list;
    }, ct).AsTask();

    public Task<IReadOnlyList<ShardToSend>> FindUnsentShardsAsync(int limit, CancellationToken ct = default) => Retry<IReadOnlyList<ShardToSend>>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var cmd = Cmd(conn, null, """
            SELECT s.job_id, s.shard_index, s.attempt, j.task, j.model, j.parameters::text, j.input_address, s.item_keys, s.dispatch
            FROM shards s JOIN jobs j ON j.job_id = s.job_id
            WHERE s.state = 'queued' AND s.sent_at IS NULL AND j.state = 'running'
            ORDER BY j.created_at, s.shard_index LIMIT @n
            """, ("n", limit));
        await using var r = await cmd.ExecuteReaderAsync(t);
        var list = new List<ShardToSend>();
        while (await r.ReadAsync(t))
            list.Add(new ShardToSend(r.GetGuid(0), r.GetInt32(1), r.GetInt32(2), r.GetString(3), r.GetString(4), r.GetString(5),
                r.GetString(6), r.GetFieldValue<string[]>(7), r.GetInt32(8)));
        return list;
    }, ct).AsTask();

    public Task<IReadOnlyList<Guid>> FinishIdleJobsAsync(CancellationToken ct = default) => Retry<IReadOnlyList<Guid>>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var cmd = Cmd(conn, null, """
            UPDATE jobs j SET state = CASE WHEN failed_items = 0 THEN 'completed' ELSE 'completed_with_errors' END,
                   finished_at = now(), updated_at = now()
            WHERE j.state = 'running' AND NOT EXISTS (SELECT 1 FROM shards s WHERE s.job_id = j.job_id AND s.state IN ('queued', 'running'))
            RETURNING j.job_id
            """);
        await using var r = await cmd.ExecuteReaderAsync(t);
        var list = new List<Guid>();
        while (await r.ReadAsync(t))
            list.Add(r.GetGuid(0));
        return list;
    }, ct).AsTask();

    public Task<bool> CancelJobAsync(Guid jobId, CancellationToken ct = default) => Retry<bool>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var tx = await conn.BeginTransactionAsync(t);
        await using (var job = Cmd(conn, tx, "UPDATE jobs SET state = 'cancelled', finished_at = now(), updated_at = now() WHERE job_id = @job AND state = 'running'", ("job", jobId)))
        {
            if (await job.ExecuteNonQueryAsync(t) == 0)
                return false;
        }
        await using (var shards = Cmd(conn, tx, """
            UPDATE shards SET state = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
            WHERE job_id = @job AND state IN ('queued', 'running')
            """, ("job", jobId)))
            await shards.ExecuteNonQueryAsync(t);
        await tx.CommitAsync(t);
        return true;
    }, ct).AsTask();

    public Task<IReadOnlyList<ShardToSend>> RetryFailedItemsAsync(Guid jobId, int shardSize, CancellationToken ct = default) => Retry<IReadOnlyList<ShardToSend>>(async t =>
    {
        await using var conn = await _dataSource.OpenConnectionAsync(t);
        await using var tx = await conn.BeginTransactionAsync(t);
        string task, model, parameters, input;
        await using (var job = Cmd(conn, tx, "SELECT task, model, parameters::text, input_address FROM jobs WHERE job_id = @job FOR UPDATE", ("job", jobId)))
        await using (var r = await job.ExecuteReaderAsync(t))
        {
            if (!await r.ReadAsync(t))
                throw new KeyNotFoundException($"Job {jobId} not found");
            (task, model, parameters, input) = (r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3));
        }
        var failed = new List<string>();
        await using (var keys = Cmd(conn, tx, """
            SELECT e.item_key FROM item_errors e
            WHERE e.job_id = @job
              AND NOT EXISTS (SELECT 1 FROM shards s WHERE s.job_id = e.job_id AND s.state IN ('queued', 'running') AND e.item_key = ANY(s.item_keys))
            ORDER BY e.item_key
            """, ("job", jobId)))
        await using (var r = await keys.ExecuteReaderAsync(t))
        {
            while (await r.ReadAsync(t))
                failed.Add(r.GetString(0));
        }
        if (failed.Count == 0)
            return Array.Empty<ShardToSend>();
        int next;
        await using (var max = Cmd(conn, tx, "SELECT coalesce(max(shard_index), -1) + 1 FROM shards WHERE job_id = @job", ("job", jobId)))
            next = (int)(await max.ExecuteScalarAsync(t))!;
        var chunks = failed.Chunk(Math.Max(1, shardSize)).ToArray();
        var result = new List<ShardToSend>(chunks.Length);
        await using (var importer = await conn.BeginBinaryImportAsync(
            "COPY shards (job_id, shard_index, item_keys, item_count) FROM STDIN (FORMAT BINARY)", t))
        {
            foreach (var chunk in chunks)
            {
                await importer.StartRowAsync(t);
                await importer.WriteAsync(jobId, NpgsqlDbType.Uuid, t);
                await importer.WriteAsync(next, NpgsqlDbType.Integer, t);
                await importer.WriteAsync(chunk, NpgsqlDbType.Array | NpgsqlDbType.Text, t);
                await importer.WriteAsync(chunk.Length, NpgsqlDbType.Integer, t);
                result.Add(new ShardToSend(jobId, next, 1, task, model, parameters, input, chunk));
                next++;
            }
            await importer.CompleteAsync(t);
        }
        await using (var reopen = Cmd(conn, tx, """
            UPDATE jobs SET state = 'running', finished_at = NULL, updated_at = now(), total_shards = total_shards + @n WHERE job_id = @job
            """, ("n", chunks.Length), ("job", jobId)))
            await reopen.ExecuteNonQueryAsync(t);
        await tx.CommitAsync(t);
        return result;
    }, ct).AsTask();

    // ------------------------------------------------------------------ results

    public async IAsyncEnumerable<JsonObject> ReadResultsAsync(Guid jobId, ResultTable table, [EnumeratorCancellation] CancellationToken ct = default)
    {
        // Read both sides fully (with retries) before yielding, so a transient error never yields a line twice.
        var rows = await Retry<List<JsonObject>>(async t =>
        {
            await using var conn = await _dataSource.OpenConnectionAsync(t);
            var list = new List<JsonObject>();
            var order = string.Join(", ", new[] { "item_key COLLATE \"C\"" }.Concat(table.ExtraKeyColumns));
            await using (var cmd = Cmd(conn, null, $"SELECT item_key, {string.Join(", ", table.ColumnNames)} FROM {table.Name} WHERE job_id = @job ORDER BY {order}", ("job", jobId)))
            await using (var r = await cmd.ExecuteReaderAsync(t))
            {
                while (await r.ReadAsync(t))
                {
                    var o = new JsonObject { ["item_key"] = r.GetString(0), ["status"] = "succeeded" };
                    for (var i = 1; i < r.FieldCount; i++)
                        o[r.GetName(i)] = r.IsDBNull(i) ? null : JsonValueOf(r.GetValue(i));
                    list.Add(o);
                }
            }
            var errors = new List<JsonObject>();
            await using (var cmd = Cmd(conn, null, "SELECT item_key, kind, reason FROM item_errors WHERE job_id = @job ORDER BY item_key COLLATE \"C\"", ("job", jobId)))
            await using (var r = await cmd.ExecuteReaderAsync(t))
            {
                while (await r.ReadAsync(t))
                    errors.Add(new JsonObject { ["item_key"] = r.GetString(0), ["status"] = "failed", ["error_kind"] = r.GetString(1), ["error"] = r.GetString(2) });
            }
            return Merge(list, errors);
        }, ct);
        foreach (var row in rows)
            yield return row;
    }

    internal static List<JsonObject> Merge(List<JsonObject> a, List<JsonObject> b)
    {
        var merged = new List<JsonObject>(a.Count + b.Count);
        int i = 0, j = 0;
        while (i < a.Count || j < b.Count)
        {
            if (j >= b.Count || (i < a.Count && string.CompareOrdinal((string)a[i]["item_key"]!, (string)b[j]["item_key"]!) <= 0))
                merged.Add(a[i++]);
            else
                merged.Add(b[j++]);
        }
        return merged;
    }

    private static JsonNode? JsonValueOf(object value) => value switch
    {
        string s => JsonValue.Create(s),
        int n => JsonValue.Create(n),
        long n => JsonValue.Create(n),
        short n => JsonValue.Create(n),
        double d => JsonValue.Create(d),
        float f => JsonValue.Create(f),
        decimal m => JsonValue.Create(m),
        bool b => JsonValue.Create(b),
        Guid g => JsonValue.Create(g),
        DateTime dt => JsonValue.Create(dt),
        DateTimeOffset dto => JsonValue.Create(dto),
        float[] fs => new JsonArray(fs.Select(f => (JsonNode?)JsonValue.Create(f)).ToArray()),
        double[] ds => new JsonArray(ds.Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
        string[] ss => new JsonArray(ss.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
        byte[] bytes => JsonValue.Create(Convert.ToBase64String(bytes)),
        _ => JsonValue.Create(value.ToString()),
    };
}
