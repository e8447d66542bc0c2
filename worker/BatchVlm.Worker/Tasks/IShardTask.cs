// The task plug-in interface: how inspect, embed, score and caption plug into the worker pipeline without touching
// it. The pipeline (Pipeline/ShardProcessor.cs) owns fetching, decoding concurrency, leases, batching, commits and
// outcomes; a task owns only its result table and two stages:
//   Prepare   — CPU work on one fetched item (decode, preprocess), called concurrently on a bounded pool of threads;
//   RunBatch  — the model on a batch of prepared items (GPU work), called sequentially per shard.
// A permanent per-item failure is signalled by throwing ItemFailedException (or ImageDecodeException, mapped by the
// pipeline) from either stage: the item is recorded in item_errors and the shard goes on. Any other exception is a
// shard-level failure; the pipeline classifies it (TransientErrors) as transient (retried, re-sent) or permanent.
// Adding a task: one file in Tasks/ implementing IShardTask, one migration creating its result table
// (storage/BatchVlm.Storage/Postgres/Migrations/NNNN_<task>_results.sql), one line in TaskRegistry.BuiltIn.
using BatchVlm.Storage.Postgres;

namespace BatchVlm.Worker.Tasks;

/// <summary>A fetched item: its blob key and its bytes.</summary>
public sealed record FetchedItem(string Key, byte[] Bytes);

/// <summary>An item after the CPU stage: its key and whatever the task's model stage needs (e.g. a pixel tensor).</summary>
public sealed record PreparedItem(string Key, object Value);

/// <summary>What the model stage produced for a batch: result rows (one or more per item) and per-item errors.
/// Every item of the batch must appear in exactly one of the two lists.</summary>
public sealed record BatchOutput(IReadOnlyList<IResultRow> Rows, IReadOnlyList<ItemError> Errors)
{
    public static BatchOutput Of(IReadOnlyList<IResultRow> rows) => new(rows, Array.Empty<ItemError>());
}

/// <summary>The job-level request a task session is opened for.</summary>
/// <param name="Model">Model id ("none" for inspect).</param>
/// <param name="ParametersJson">The job's task parameters (JSON object).</param>
public sealed record TaskRequest(string Model, string ParametersJson)
{
    /// <summary>The job this session works for (Guid.Empty outside a shard, e.g. a test opening a session).</summary>
    public Guid JobId { get; init; }

    /// <summary>The shard's index in its job: with JobId, the idempotent name of per-shard output files.</summary>
    public int ShardIndex { get; init; }

    /// <summary>The shard's attempt number.</summary>
    public int Attempt { get; init; }

    /// <summary>Items of this shard that already had a result when this delivery started (an earlier, handed-back
    /// delivery committed them); a task writing per-shard files names this delivery's part by it.</summary>
    public int DoneItems { get; init; }

    /// <summary>Resolves a credential-free address (az://container/prefix, a blob URL, a local folder) to a store, with
    /// this worker's credentials: where tasks write output files (e.g. embed's .npy shards). Null: no output stores.</summary>
    public Pipeline.IInputStores? Stores { get; init; }
}

public interface IShardTask
{
    /// <summary>Task name as used on the command line and in queue names: inspect, embed, score, caption.</summary>
    string Name { get; }

    /// <summary>Whether jobs of this task name a model (inspect does not: its queue uses model slug "none").</summary>
    bool RequiresModel { get; }

    /// <summary>Default shard size (items per shard) when `submit` is not given --shard-size: a shard should be a
    /// few minutes of work at most (see WorkerOptions.MaxShardDuration).</summary>
    int DefaultShardSize { get; }

    /// <summary>The table results are written to (created by the task's migration).</summary>
    ResultTable ResultTable { get; }

    /// <summary>Validate the job parameters at submit time; throw ArgumentException with a clear message if bad.</summary>
    void ValidateParameters(string model, string parametersJson);

    /// <summary>Open a session for one shard (load or reuse the model). Tasks cache loaded models themselves, keyed by
    /// model id, so a worker loads each model once.</summary>
    ValueTask<IShardTaskSession> OpenAsync(TaskRequest request, CancellationToken ct);
}

public interface IShardTaskSession : IAsyncDisposable
{
    /// <summary>Items per model batch.</summary>
    int BatchSize { get; }

    /// <summary>CPU stage, called concurrently from several threads. Throw ItemFailedException / ImageDecodeException
    /// for a bad item.</summary>
    PreparedItem Prepare(FetchedItem item, CancellationToken ct);

    /// <summary>Model stage for up to BatchSize prepared items, called from one thread at a time.</summary>
    ValueTask<BatchOutput> RunBatchAsync(IReadOnlyList<PreparedItem> batch, CancellationToken ct);

    /// <summary>Called once after the last batch of a delivery whose results are about to be committed (also before a
    /// hand-back commit; never when the work is abandoned). Tasks that write one file per shard write it here and may
    /// return their rows now instead of from RunBatchAsync. Default: nothing.</summary>
    ValueTask<BatchOutput> CompleteAsync(CancellationToken ct) => ValueTask.FromResult(BatchOutput.Of(Array.Empty<IResultRow>()));
}

/// <summary>A permanent failure of one item (bad data, unsupported content): recorded, and the shard goes on.</summary>
/// <param name="kind">short snake_case kind, e.g. not_an_image, truncated, too_many_pixels, too_many_tokens</param>
public sealed class ItemFailedException(string kind, string reason, Exception? inner = null) : Exception(reason, inner)
{
    public string Kind { get; } = kind;
}
