// Job submission: cut the listed input into shards, record the job and all its shards in one transaction, then send
// one ProcessShard per shard. If the process dies between the two steps the shards are still in PostgreSQL,
// marked unsent, and the coordinator's monitor sends them.
using BatchVlm.Storage.Postgres;
using Microsoft.Extensions.Logging;

namespace BatchVlm.Coordinator;

/// <summary>What to run: task, model ("none" for model-free tasks), parameters (JSON object), the input's
/// credential-free address, the listed item keys (relative to that address) and the shard size.</summary>
public sealed record JobRequest(
    string Task,
    string Model,
    string ParametersJson,
    string InputAddress,
    string ResultTable,
    IReadOnlyList<string> ItemKeys,
    int ShardSize);

public sealed class JobSubmitter(IFleetStore store, ShardSender sender, CoordinatorOptions options, ILogger<JobSubmitter> logger)
{
    /// <summary>Create and dispatch the job; returns its id. Throws ArgumentException for an empty input.</summary>
    public async Task<Guid> SubmitAsync(JobRequest request, CancellationToken ct)
    {
        if (request.ItemKeys.Count == 0)
            throw new ArgumentException($"The input {request.InputAddress} holds no items");
        var shards = Sharding.Cut(request.ItemKeys, request.ShardSize);
        var job = new NewJob(Guid.NewGuid(), request.Task, request.Model, request.ParametersJson, request.InputAddress,
            request.ResultTable, request.ShardSize, options.MaxAttempts, shards);
        await store.CreateJobAsync(job, ct);
        logger.LogInformation("Job {Job}: {Task} ({Model}) over {Items} items of {Input} in {Shards} shards of up to {Size}",
            job.JobId, job.Task, job.Model, job.TotalItems, job.InputAddress, shards.Count, job.ShardSize);
        var toSend = shards.Select((keys, i) => new ShardToSend(job.JobId, i, 1, job.Task, job.Model, job.ParametersJson, job.InputAddress, keys)).ToArray();
        var sent = await sender.SendAsync(toSend, ct);
        if (sent < toSend.Length)
            logger.LogWarning("Job {Job}: {Unsent} shards not sent yet; the coordinator's monitor will send them", job.JobId, toSend.Length - sent);
        return job.JobId;
    }

    /// <summary>Re-run the job's failed items as new shards; returns how many items were re-queued.</summary>
    public async Task<int> RetryAsync(Guid jobId, int? shardSize, CancellationToken ct)
    {
        var job = await store.GetJobAsync(jobId, ct) ?? throw new KeyNotFoundException($"Job {jobId} not found");
        var shards = await store.RetryFailedItemsAsync(jobId, shardSize ?? job.ShardSize, ct);
        await sender.SendAsync(shards, ct);
        var items = shards.Sum(s => s.ItemKeys.Count);
        logger.LogInformation("Job {Job}: retrying {Items} failed items in {Shards} new shards", jobId, items, shards.Count);
        return items;
    }
}
