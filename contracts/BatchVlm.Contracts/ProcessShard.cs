// The command the coordinator sends to a worker queue (`batchvlm.process-shard.<task>.<model-slug>`): process one
// shard of a job. Carries ids and blob keys only, never image bytes, and never credentials: InputAddress is the
// store's credential-free address (IBlobStore.Describe(), e.g. az://images/cats or a local folder) and each worker
// resolves the credentials for it from its own configuration.
// The namespace BatchVlm.Contracts never moves: MassTransit routes by namespace + type name.
namespace BatchVlm.Contracts;

/// <summary>Process the items of one shard. A shard is identified by (JobId, ShardIndex); Attempt grows each time
/// the coordinator re-sends it (lease expired, transient failure), and a worker ignores a message whose attempt is
/// older than the shard's current attempt.</summary>
/// <param name="JobId">The job the shard belongs to.</param>
/// <param name="ShardIndex">Index of the shard inside its job (0-based; retries append new indexes).</param>
/// <param name="Attempt">1 for the first send; incremented on every re-send.</param>
/// <param name="Task">Task name, e.g. "inspect", "embed", "score", "caption".</param>
/// <param name="Model">Model id, or "none" for tasks without a model (inspect).</param>
/// <param name="ParametersJson">Task parameters as a JSON object ("{}" when none).</param>
/// <param name="InputAddress">Credential-free address of the input store root.</param>
/// <param name="ItemKeys">Blob keys, relative to the input store root, in processing order.</param>
public sealed record ProcessShard(
    Guid JobId,
    int ShardIndex,
    int Attempt,
    string Task,
    string Model,
    string ParametersJson,
    string InputAddress,
    IReadOnlyList<string> ItemKeys);
