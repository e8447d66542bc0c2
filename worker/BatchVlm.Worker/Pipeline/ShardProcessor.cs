// The shard service: everything a worker does with one ProcessShard delivery, in one place.
//   claim (lease in PostgreSQL) → fetch items (bounded concurrency) → Prepare on a bounded pool of CPU threads →
//   RunBatch in batches → commit rows + item errors + "done" in one transaction → outcome.
// While it works, a heartbeat extends the lease every LeaseRenewInterval; losing the lease (the coordinator re-sent
// the shard, or the job was cancelled) aborts the work without committing. A soft stop (host shutting down, the
// consumer's token cancelled, or MaxShardDuration reached) stops fetching, lets items in flight finish, commits them
// and hands the shard back — nothing is lost and nothing is written twice (results are upserted by key).
using System.Diagnostics;
using System.Threading.Channels;
using BatchVlm.Contracts;
using BatchVlm.Imaging;
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Configuration;
using BatchVlm.Storage.Postgres;
using BatchVlm.Worker.Tasks;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Worker.Pipeline;

public sealed class ShardProcessor(
    IFleetStore store,
    TaskRegistry tasks,
    IInputStores inputs,
    WorkerOptions options,
    WorkerIdentity identity,
    ILogger<ShardProcessor> logger)
{
    /// <summary>Process one delivery. <paramref name="softStop"/> asks for a hand-back (shutdown); transient
    /// infrastructure failures are thrown (the consumer's retry policy decides), bad items never are.</summary>
    public async Task<ShardOutcome> ProcessAsync(ProcessShard shard, CancellationToken softStop)
    {
        var started = Stopwatch.StartNew();
        var task = tasks.Find(shard.Task);
        if (task is null)
            return new ShardOutcome.Failed($"this worker does not know task '{shard.Task}'", Transient: false);

        IBlobStore input;
        try
        {
            input = inputs.Open(shard.InputAddress);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or NotSupportedException)
        {
            return new ShardOutcome.Failed($"input '{shard.InputAddress}' cannot be opened: {Secrets.Redact(ex.Message)}", Transient: false);
        }

        var claim = await store.ClaimShardAsync(shard.JobId, shard.ShardIndex, shard.Attempt, identity.Id, options.LeaseDuration,
            task.ResultTable, shard.ItemKeys, CancellationToken.None);
        if (claim.Status != ShardClaimStatus.Claimed)
        {
            logger.LogInformation("Skipping shard {Job}/{Shard} attempt {Attempt}: {Status} ({Detail})",
                shard.JobId, shard.ShardIndex, shard.Attempt, claim.Status, claim.Detail);
            return new ShardOutcome.Skipped($"{claim.Status}: {claim.Detail}");
        }

        logger.LogInformation("Shard {Job}/{Shard} attempt {Attempt}: {Items} items ({Done} already done) from {Input}",
            shard.JobId, shard.ShardIndex, shard.Attempt, shard.ItemKeys.Count, claim.DoneKeys.Count, input.Describe());

        using var abort = new CancellationTokenSource();              // lease lost / job cancelled: stop, commit nothing
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(softStop, abort.Token);  // stop fetching
        stop.CancelAfter(options.MaxShardDuration);
        var heartbeat = HeartbeatAsync(shard, abort);

        WorkResult work;
        try
        {
            var todo = shard.ItemKeys.Where(k => !claim.DoneKeys.Contains(k)).ToList();
            work = await RunAsync(task, shard, input, todo, claim.DoneKeys.Count, stop.Token, abort.Token);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            await StopHeartbeat(heartbeat, abort);
            logger.LogWarning("Shard {Job}/{Shard} attempt {Attempt}: lease lost or job cancelled; abandoned without writing",
                shard.JobId, shard.ShardIndex, shard.Attempt);
            return new ShardOutcome.Skipped("lease lost or job cancelled");
        }
        catch
        {
            await StopHeartbeat(heartbeat, abort);
            throw;
        }

        if (abort.IsCancellationRequested)
        {
            await StopHeartbeat(heartbeat, abort);
            return new ShardOutcome.Skipped("lease lost or job cancelled");
        }

        var final = work.Unprocessed == 0;
        var reason = softStop.IsCancellationRequested ? "worker shutting down"
            : $"shard ran longer than Worker:MaxShardDuration ({options.MaxShardDuration})";
        try
        {
            var outcome = await store.CommitShardAsync(new ShardCommit(shard.JobId, shard.ShardIndex, shard.Attempt, identity.Id,
                task.ResultTable, work.Rows, work.Errors, final, claim.DoneKeys.Count, final ? null : reason), CancellationToken.None);
            var items = work.Rows.Select(r => r.ItemKey).Distinct(StringComparer.Ordinal).Count();
            if (!final)
            {
                logger.LogWarning("Shard {Job}/{Shard} attempt {Attempt} handed back after {Finished} items: {Reason}",
                    shard.JobId, shard.ShardIndex, shard.Attempt, items + work.Errors.Count, reason);
                return new ShardOutcome.HandedBack(items + work.Errors.Count, reason);
            }
            logger.LogInformation("Shard {Job}/{Shard} attempt {Attempt} done: {Ok} ok, {Bad} failed, {Skipped} skipped in {Seconds:F2} s (job {State})",
                shard.JobId, shard.ShardIndex, shard.Attempt, items, work.Errors.Count, claim.DoneKeys.Count, started.Elapsed.TotalSeconds, outcome.JobState);
            return new ShardOutcome.Completed(items, work.Errors.Count, claim.DoneKeys.Count, started.Elapsed.TotalSeconds);
        }
        finally
        {
            await StopHeartbeat(heartbeat, abort);
        }
    }

    private static async Task StopHeartbeat(Task heartbeat, CancellationTokenSource abort)
    {
        if (!abort.IsCancellationRequested)
            await abort.CancelAsync();
        await heartbeat;
    }

    /// <summary>Extend the lease until aborted; abort when the lease is lost. Database hiccups are retried inside the
    /// store; if the store gives up, the next beat tries again (the lease is 3 beats long).</summary>
    private async Task HeartbeatAsync(ProcessShard shard, CancellationTokenSource abort)
    {
        try
        {
            while (true)
            {
                await Task.Delay(options.LeaseRenewInterval, abort.Token);
                bool held;
                try
                {
                    held = await store.ExtendLeaseAsync(shard.JobId, shard.ShardIndex, shard.Attempt, identity.Id, options.LeaseDuration, abort.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException && TransientErrors.IsTransient(ex))
                {
                    logger.LogWarning("Lease renewal for shard {Job}/{Shard} failed (will retry): {Error}", shard.JobId, shard.ShardIndex, Secrets.Redact(ex.Message));
                    continue;
                }
                if (!held)
                {
                    logger.LogWarning("Lost the lease on shard {Job}/{Shard} attempt {Attempt} (re-sent elsewhere or job cancelled)",
                        shard.JobId, shard.ShardIndex, shard.Attempt);
                    await abort.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed record WorkResult(List<IResultRow> Rows, List<ItemError> Errors, int Unprocessed);

    private abstract record Fetched(string Key);
    private sealed record FetchedOk(FetchedItem Item) : Fetched(Item.Key);
    private sealed record FetchedError(ItemError Error) : Fetched(Error.ItemKey);

    /// <summary>The three stages connected by bounded channels. <paramref name="stop"/> stops taking new items (the
    /// ones in flight finish); <paramref name="abort"/> cancels everything.</summary>
    private async Task<WorkResult> RunAsync(IShardTask task, ProcessShard shard, IBlobStore input, List<string> keys, int doneItems,
        CancellationToken stop, CancellationToken abortShard)
    {
        // Cancelled on the way out too, so that a failing stage never leaves the others blocked on a full channel.
        using var stages = CancellationTokenSource.CreateLinkedTokenSource(abortShard);
        try
        {
            return await RunStagesAsync(task, shard, input, keys, doneItems, stop, stages.Token);
        }
        finally
        {
            await stages.CancelAsync();
        }
    }

    private async Task<WorkResult> RunStagesAsync(IShardTask task, ProcessShard shard, IBlobStore input, List<string> keys, int doneItems,
        CancellationToken stop, CancellationToken abort)
    {
        var request = new TaskRequest(shard.Model, shard.ParametersJson)
        {
            JobId = shard.JobId, ShardIndex = shard.ShardIndex, Attempt = shard.Attempt, DoneItems = doneItems, Stores = inputs,
        };
        await using var session = await task.OpenAsync(request, abort);
        var rows = new List<IResultRow>();
        var errors = new List<ItemError>();
        var batchSize = Math.Max(1, session.BatchSize);
        var fetched = Channel.CreateBounded<Fetched>(new BoundedChannelOptions(options.DownloadConcurrency * 2) { SingleReader = false });
        var prepared = Channel.CreateBounded<Fetched>(new BoundedChannelOptions(batchSize * 2) { SingleReader = true });
        var taken = 0;

        var fetch = Task.Run(async () =>
        {
            try
            {
                await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = options.DownloadConcurrency, CancellationToken = abort },
                    async (key, ct) =>
                    {
                        if (stop.IsCancellationRequested)
                            return;
                        Interlocked.Increment(ref taken);
                        await fetched.Writer.WriteAsync(await FetchAsync(input, key, ct), ct);
                    });
            }
            finally
            {
                fetched.Writer.TryComplete();
            }
        }, abort);

        var prepareWorkers = Enumerable.Range(0, options.EffectiveDecodeThreads).Select(_ => Task.Run(async () =>
        {
            await foreach (var item in fetched.Reader.ReadAllAsync(abort))
            {
                var result = item is FetchedOk ok ? Prepare(session, ok.Item, abort) : item;
                await prepared.Writer.WriteAsync(result, abort);
            }
        }, abort)).ToArray();
        var prepareDone = Task.WhenAll(prepareWorkers).ContinueWith(t => prepared.Writer.TryComplete(t.Exception), TaskScheduler.Default);

        var batch = new List<PreparedItem>(batchSize);
        await foreach (var item in prepared.Reader.ReadAllAsync(abort))
        {
            switch (item)
            {
                case FetchedError e:
                    errors.Add(e.Error);
                    break;
                case PreparedOk p:
                    batch.Add(p.Item);
                    if (batch.Count == batchSize)
                        await RunBatchAsync(session, batch, rows, errors, abort);
                    break;
            }
        }
        if (batch.Count > 0)
            await RunBatchAsync(session, batch, rows, errors, abort);
        await fetch;
        await prepareDone;
        var completed = await session.CompleteAsync(abort);
        rows.AddRange(completed.Rows);
        errors.AddRange(completed.Errors);
        return new WorkResult(rows, errors, keys.Count - taken);
    }

    private sealed record PreparedOk(PreparedItem Item) : Fetched(Item.Key);

    private static async Task<Fetched> FetchAsync(IBlobStore input, string key, CancellationToken ct)
    {
        try
        {
            return new FetchedOk(new FetchedItem(key, await input.ReadAllBytesAsync(key, ct)));
        }
        catch (BlobNotFoundException)
        {
            return new FetchedError(new ItemError(key, "not_found", $"{key}: not found in {input.Describe()}"));
        }
        catch (ArgumentException ex)
        {
            // An invalid key (e.g. '..' in a manifest entry) is the item's fault, not the shard's.
            return new FetchedError(new ItemError(key, "invalid_key", $"{key}: {Secrets.Redact(ex.Message)}"));
        }
    }

    private static Fetched Prepare(IShardTaskSession session, FetchedItem item, CancellationToken ct)
    {
        try
        {
            return new PreparedOk(session.Prepare(item, ct));
        }
        catch (Exception ex) when (ItemErrorOf(item.Key, ex) is { } error)
        {
            return new FetchedError(error);
        }
    }

    private static async Task RunBatchAsync(IShardTaskSession session, List<PreparedItem> batch, List<IResultRow> rows, List<ItemError> errors, CancellationToken ct)
    {
        var output = await session.RunBatchAsync(batch.ToArray(), ct);
        rows.AddRange(output.Rows);
        errors.AddRange(output.Errors);
        batch.Clear();
    }

    /// <summary>The item error for a permanent per-item exception; null for anything else (a shard-level failure).</summary>
    public static ItemError? ItemErrorOf(string key, Exception ex) => ex switch
    {
        ItemFailedException f => new ItemError(key, f.Kind, $"{key}: {f.Message}"),
        ImageDecodeException d => new ItemError(key, DecodeKind(d.Kind), $"{key}: {d.Reason}"),
        _ => null,
    };

    /// <summary>snake_case kinds for decoder errors, as stored in item_errors.kind.</summary>
    public static string DecodeKind(ImageDecodeErrorKind kind) => kind switch
    {
        ImageDecodeErrorKind.Empty => "zero_bytes",
        ImageDecodeErrorKind.Truncated => "truncated",
        ImageDecodeErrorKind.Corrupt => "corrupt",
        ImageDecodeErrorKind.UnsupportedFormat => "not_an_image",
        ImageDecodeErrorKind.UnsupportedFeature => "unsupported_feature",
        ImageDecodeErrorKind.TooManyPixels => "too_many_pixels",
        ImageDecodeErrorKind.InvalidDimensions => "invalid_dimensions",
        _ => kind.ToString().ToLowerInvariant(),
    };
}

/// <summary>This process's worker id, written as lease owner: host:pid:random.</summary>
public sealed class WorkerIdentity
{
    public string Id { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";
}
