// Queue names shared by coordinator and workers (team/BRIEF.md): a queue per task and model, so a worker only
// receives shards for a model it has loaded, and one outcome queue for the coordinator.
namespace BatchVlm.Contracts;

public static class QueueNames
{
    /// <summary>The coordinator's queue for ShardCompleted / ShardFailed / ShardHandedBack.</summary>
    public const string Coordinator = "batchvlm.coordinator";

    /// <summary>Model slug used by tasks without a model (inspect).</summary>
    public const string NoModel = "none";

    /// <summary><c>batchvlm.process-shard.&lt;task&gt;.&lt;model-slug&gt;</c>.</summary>
    public static string ProcessShard(string task, string model) =>
        $"batchvlm.process-shard.{Slug(task)}.{Slug(string.IsNullOrWhiteSpace(model) ? NoModel : model)}";

    /// <summary>Lower-case letters, digits, '-' and '.' only: "google/siglip-base-patch16-224" → "google-siglip-base-patch16-224".</summary>
    public static string Slug(string value)
    {
        var chars = value.Trim().ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '-').ToArray();
        var slug = new string(chars).Trim('-', '.');
        while (slug.Contains("--", StringComparison.Ordinal))
            slug = slug.Replace("--", "-", StringComparison.Ordinal);
        return slug.Length == 0 ? NoModel : slug;
    }
}
