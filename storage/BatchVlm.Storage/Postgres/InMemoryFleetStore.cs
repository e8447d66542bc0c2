// The fleet store for `batchvlm run` without a database: the same semantics as PostgresFleetStore (claims guarded by
// state and attempt, leases, idempotent results keyed by item, net counters, job finishing) held in process memory
// under one lock. State is lost with the process — which is what an embedded one-shot run wants.
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchVlm.Storage.Postgres;

public sealed class InMemoryFleetStore : IFleetStore
{
    private sealed class Job
    {
        public required NewJob Spec;
        public string State = JobStates.Running;
        public long Succeeded, Failed;
        public int TotalShards;
        public DateTimeOffset Created = DateTimeOffset.UtcNow, Updated = DateTimeOffset.UtcNow;
        public DateTimeOffset? Finished;
        public readonly List<Shard> Shards = [];
        public readonly SortedDictionary<string, List<IResultRow>> Results = new(StringComparer.Ordinal);
        public readonly SortedDictionary<string, ItemError> Errors = new(StringComparer.Ordinal);
    }

    private sealed class Shard
    {
        public required string[] Keys;
        public string State = ShardStates.Queued;
        public int Attempt = 1;
        public string? Owner;
        public DateTimeOffset? LeaseExpires;
        public bool Sent;
        public int Dispatch;
    }

    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private readonly Dictionary<Guid, Job> _jobs = [];
    private readonly Lock _lock = new();

    private Job Get(Guid id) => _jobs.TryGetValue(id, out var j) ? j : throw new KeyNotFoundException($"Job {id} not found");

    public Task CreateJobAsync(NewJob job, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var j = new Job { Spec = job, TotalShards = job.Shards.Count };
            j.Shards.AddRange(job.Shards.Select(s => new Shard { Keys = s.ToArray() }));
            _jobs.Add(job.JobId, j);
        }
        return Task.CompletedTask;
    }

    public Task MarkSentAsync(IReadOnlyList<ShardToSend> shards, CancellationToken ct = default)
    {
        lock (_lock)
        {
            foreach (var s in shards)
            {
                var shard = Get(s.JobId).Shards[s.ShardIndex];
                if (shard.Attempt == s.Attempt && shard.Dispatch == s.Dispatch)
                    shard.Sent = true;
            }
        }
        return Task.CompletedTask;
    }

    private static JobSnapshot Snapshot(Job j) => new(
        j.Spec.JobId, j.Spec.Task, j.Spec.Model, j.Spec.ParametersJson, j.Spec.InputAddress, j.State, j.Spec.TotalItems,
        j.Succeeded, j.Failed, j.TotalShards,
        j.Shards.Count(s => s.State == ShardStates.Queued), j.Shards.Count(s => s.State == ShardStates.Running),
        j.Shards.Count(s => s.State == ShardStates.Succeeded), j.Shards.Count(s => s.State == ShardStates.Failed),
        j.Spec.ShardSize, j.Spec.MaxAttempts, j.Created, j.Updated, j.Finished);

    public Task<JobSnapshot?> GetJobAsync(Guid jobId, CancellationToken ct = default)
    {
        lock (_lock)
            return Task.FromResult(_jobs.TryGetValue(jobId, out var j) ? Snapshot(j) : null);
    }

    public Task<IReadOnlyList<JobSnapshot>> ListJobsAsync(int limit, CancellationToken ct = default)
    {
        lock (_lock)
            return Task.FromResult<IReadOnlyList<JobSnapshot>>(_jobs.Values.OrderByDescending(j => j.Created).Take(limit).Select(Snapshot).ToList());
    }

    public Task<ShardClaim> ClaimShardAsync(Guid jobId, int shardIndex, int attempt, string workerId, TimeSpan lease,
        ResultTable table, IReadOnlyList<string> itemKeys, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var empty = new HashSet<string>();
            if (!_jobs.TryGetValue(jobId, out var j) || shardIndex < 0 || shardIndex >= j.Shards.Count)
                return Task.FromResult(new ShardClaim(ShardClaimStatus.NotFound, empty, "no such shard"));
            var s = j.Shards[shardIndex];
            var now = DateTimeOffset.UtcNow;
            if (j.State != JobStates.Running && s.State is ShardStates.Queued or ShardStates.Running or ShardStates.Cancelled)
                return Task.FromResult(new ShardClaim(ShardClaimStatus.JobNotRunning, empty, $"job is {j.State}"));
            if (s.State is ShardStates.Succeeded or ShardStates.Failed or ShardStates.Cancelled)
                return Task.FromResult(new ShardClaim(ShardClaimStatus.AlreadyFinished, empty, $"shard is {s.State}"));
            if (s.Attempt != attempt)
                return Task.FromResult(new ShardClaim(ShardClaimStatus.StaleAttempt, empty, $"shard is at attempt {s.Attempt}"));
            if (s.State == ShardStates.Running && s.Owner != workerId && s.LeaseExpires > now)
                return Task.FromResult(new ShardClaim(ShardClaimStatus.LeasedElsewhere, empty, $"leased by {s.Owner}"));
            s.State = ShardStates.Running;
            s.Owner = workerId;
            s.LeaseExpires = now + lease;
            var done = itemKeys.Where(j.Results.ContainsKey).ToHashSet(StringComparer.Ordinal);
            return Task.FromResult(new ShardClaim(ShardClaimStatus.Claimed, done));
        }
    }

    public Task<bool> ExtendLeaseAsync(Guid jobId, int shardIndex, int attempt, string workerId, TimeSpan lease, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var j = Get(jobId);
            var s = j.Shards[shardIndex];
            if (j.State != JobStates.Running || s.State != ShardStates.Running || s.Attempt != attempt || s.Owner != workerId)
                return Task.FromResult(false);
            s.LeaseExpires = DateTimeOffset.UtcNow + lease;
            return Task.FromResult(true);
        }
    }

    public Task<CommitOutcome> CommitShardAsync(ShardCommit c, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var j = Get(c.JobId);
            long ok = 0, bad = 0;
            foreach (var group in c.Rows.GroupBy(r => r.ItemKey, StringComparer.Ordinal))
            {
                if (!j.Results.ContainsKey(group.Key))
                    ok++;
                j.Results[group.Key] = group.ToList();
                if (j.Errors.Remove(group.Key))
                    bad--;
            }
            foreach (var e in c.Errors)
            {
                if (!j.Errors.ContainsKey(e.ItemKey))
                    bad++;
                j.Errors[e.ItemKey] = e;
                if (j.Results.Remove(e.ItemKey))
                    ok--;
            }
            var s = j.Shards[c.ShardIndex];
            var marked = false;
            if (c.Final && s.State is ShardStates.Queued or ShardStates.Running)
            {
                s.State = ShardStates.Succeeded;
                s.Owner = null;
                marked = true;
            }
            else if (!c.Final && s.State == ShardStates.Running && s.Attempt == c.Attempt && s.Owner == c.WorkerId)
            {
                s.State = ShardStates.Queued;
                s.Owner = null;
                s.Sent = false;
                s.Dispatch++;
            }
            j.Succeeded += ok;
            j.Failed += bad;
            FinishIfIdle(j);
            return Task.FromResult(new CommitOutcome(ok, bad, marked, j.State));
        }
    }

    private static bool FinishIfIdle(Job j)
    {
        j.Updated = DateTimeOffset.UtcNow;
        if (j.State != JobStates.Running || j.Shards.Any(s => s.State is ShardStates.Queued or ShardStates.Running))
            return false;
        j.State = j.Failed == 0 ? JobStates.Completed : JobStates.CompletedWithErrors;
        j.Finished = DateTimeOffset.UtcNow;
        return true;
    }

    public Task<ShardToSend?> RequeueShardAsync(Guid jobId, int shardIndex, int fromAttempt, string reason,
        Action<bool>? limitReached = null, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var j = Get(jobId);
            var s = j.Shards[shardIndex];
            if (j.State != JobStates.Running || s.Attempt != fromAttempt || s.State is not (ShardStates.Queued or ShardStates.Running))
                return Task.FromResult<ShardToSend?>(null);
            if (s.Attempt >= j.Spec.MaxAttempts)
            {
                limitReached?.Invoke(true);
                return Task.FromResult<ShardToSend?>(null);
            }
            s.Attempt++;
            s.State = ShardStates.Queued;
            s.Owner = null;
            s.Sent = false;
            s.Dispatch++;
            return Task.FromResult<ShardToSend?>(ToSend(j, shardIndex));
        }
    }

    private static ShardToSend ToSend(Job j, int index) =>
        new(j.Spec.JobId, index, j.Shards[index].Attempt, j.Spec.Task, j.Spec.Model, j.Spec.ParametersJson, j.Spec.InputAddress,
            j.Shards[index].Keys, j.Shards[index].Dispatch);

    public Task<bool> FailShardAsync(Guid jobId, int shardIndex, int attempt, string reason, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var j = Get(jobId);
            var s = j.Shards[shardIndex];
            if (s.Attempt != attempt || s.State is not (ShardStates.Queued or ShardStates.Running))
                return Task.FromResult(false);
            s.State = ShardStates.Failed;
            s.Owner = null;
            foreach (var key in s.Keys)
            {
                if (!j.Results.ContainsKey(key) && j.Errors.TryAdd(key, new ItemError(key, "shard_failed", reason)))
                    j.Failed++;
            }
            FinishIfIdle(j);
            return Task.FromResult(true);
        }
    }

    public Task<IReadOnlyList<ExpiredShard>> FindExpiredLeasesAsync(int limit, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var now = DateTimeOffset.UtcNow;
            return Task.FromResult<IReadOnlyList<ExpiredShard>>(_jobs.Values
                .SelectMany(j => j.Shards.Select((s, i) => (j, s, i)))
                .Where(x => x.s.State == ShardStates.Running && x.s.LeaseExpires < now)
                .Take(limit).Select(x => new ExpiredShard(x.j.Spec.JobId, x.i, x.s.Attempt, x.s.Owner)).ToList());
        }
    }

    public Task<IReadOnlyList<ShardToSend>> FindUnsentShardsAsync(int limit, CancellationToken ct = default)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<ShardToSend>>(_jobs.Values.Where(j => j.State == JobStates.Running)
                .SelectMany(j => j.Shards.Select((s, i) => (j, s, i)))
                .Where(x => x.s.State == ShardStates.Queued && !x.s.Sent)
                .Take(limit).Select(x => ToSend(x.j, x.i)).ToList());
        }
    }

    public Task<IReadOnlyList<Guid>> FinishIdleJobsAsync(CancellationToken ct = default)
    {
        lock (_lock)
            return Task.FromResult<IReadOnlyList<Guid>>(_jobs.Values.Where(FinishIfIdle).Select(j => j.Spec.JobId).ToList());
    }

    public Task<bool> CancelJobAsync(Guid jobId, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var j = Get(jobId);
            if (j.State != JobStates.Running)
                return Task.FromResult(false);
            j.State = JobStates.Cancelled;
            j.Finished = DateTimeOffset.UtcNow;
            foreach (var s in j.Shards.Where(s => s.State is ShardStates.Queued or ShardStates.Running))
                s.State = ShardStates.Cancelled;
            return Task.FromResult(true);
        }
    }

    public Task<IReadOnlyList<ShardToSend>> RetryFailedItemsAsync(Guid jobId, int shardSize, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var j = Get(jobId);
            var open = j.Shards.Where(s => s.State is ShardStates.Queued or ShardStates.Running).SelectMany(s => s.Keys).ToHashSet(StringComparer.Ordinal);
            var failed = j.Errors.Keys.Where(k => !open.Contains(k)).ToArray();
            var list = new List<ShardToSend>();
            foreach (var chunk in failed.Chunk(Math.Max(1, shardSize)))
            {
                j.Shards.Add(new Shard { Keys = chunk });
                list.Add(ToSend(j, j.Shards.Count - 1));
            }
            if (list.Count > 0)
            {
                j.TotalShards += list.Count;
                j.State = JobStates.Running;
                j.Finished = null;
            }
            return Task.FromResult<IReadOnlyList<ShardToSend>>(list);
        }
    }

    public async IAsyncEnumerable<JsonObject> ReadResultsAsync(Guid jobId, ResultTable table, [EnumeratorCancellation] CancellationToken ct = default)
    {
        List<JsonObject> rows = [], errors = [];
        lock (_lock)
        {
            var j = Get(jobId);
            foreach (var (key, list) in j.Results)
            {
                foreach (var row in list)
                {
                    var node = JsonSerializer.SerializeToNode(row, row.GetType(), s_json)!.AsObject();
                    var o = new JsonObject { ["item_key"] = key, ["status"] = "succeeded" };
                    foreach (var (name, value) in node.ToList())
                    {
                        if (name == "item_key")
                            continue;
                        node.Remove(name);
                        o[name] = value;
                    }
                    rows.Add(o);
                }
            }
            foreach (var (key, e) in j.Errors)
                errors.Add(new JsonObject { ["item_key"] = key, ["status"] = "failed", ["error_kind"] = e.Kind, ["error"] = e.Reason });
        }
        await Task.CompletedTask;
        foreach (var o in PostgresFleetStore.Merge(rows, errors))
            yield return o;
    }
}
