// Where a model's files come from: a local folder, a hub cache snapshot, or a hub download into the cache.
// `ModelSource.Resolve("google/siglip-base-patch16-224")` behaves like transformers' from_pretrained: an existing
// folder is used as is; otherwise the id is looked up on the hub (HF_ENDPOINT, HF_TOKEN) and cached
// (HF_HUB_CACHE / HF_HOME), or taken from the cache alone under HF_HUB_OFFLINE=1.
namespace BatchVlm.Engine.Loading;

/// <summary>A folder holding config.json and the weights, plus where it came from.</summary>
public sealed class ModelSource
{
    public ModelSource(string directory, string? repoId = null, string? revision = null, string? commitHash = null)
    {
        Directory = Path.GetFullPath(directory);
        RepoId = repoId;
        Revision = revision;
        CommitHash = commitHash;
    }

    public string Directory { get; }
    /// <summary>"ORG/NAME" when the files came from the hub or its cache.</summary>
    public string? RepoId { get; }
    public string? Revision { get; }
    public string? CommitHash { get; }

    public override string ToString() => RepoId is null ? Directory : $"{RepoId}@{Revision} ({CommitHash?[..Math.Min(12, CommitHash.Length)]}) in {Directory}";

    /// <summary>A local folder; it must exist and hold config.json.</summary>
    public static ModelSource FromDirectory(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new ModelLoadException($"Model folder not found: {directory}");
        if (!File.Exists(Path.Combine(directory, "config.json")))
            throw new ModelLoadException($"Model folder {directory} has no config.json");
        return new ModelSource(directory);
    }

    /// <summary>A cached snapshot only (no network), e.g. for HF_HUB_OFFLINE.</summary>
    public static ModelSource FromCache(string repoId, string revision = "main", HubOptions? options = null)
    {
        options ??= HubOptions.FromEnvironment();
        string? snap = HubCache.TryGetSnapshotDir(options.CacheDir, repoId, revision);
        if (snap is null || !HubCache.TargetExists(Path.Combine(snap, "config.json")))
            throw new ModelLoadException($"{repoId} (revision {revision}) is not in the hub cache {options.CacheDir}");
        return new ModelSource(snap, repoId, revision, Path.GetFileName(snap));
    }

    /// <summary>Downloads (or reuses from the cache) config.json, the weights and the tokenizer/processor files.</summary>
    public static async Task<ModelSource> FromHubAsync(string repoId, string revision = "main", HubOptions? options = null,
        IEnumerable<string>? extraFiles = null, CancellationToken ct = default)
    {
        using var client = new HubClient(options ?? HubOptions.FromEnvironment());
        return await client.DownloadModelAsync(repoId, revision, extraFiles, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A folder path if one exists there; otherwise a hub repo id ("ORG/NAME", optionally "ORG/NAME@REVISION"),
    /// taken from the cache or downloaded into it.
    /// </summary>
    public static ModelSource Resolve(string pathOrRepoId, HubOptions? options = null, CancellationToken ct = default)
    {
        if (System.IO.Directory.Exists(pathOrRepoId))
            return FromDirectory(pathOrRepoId);
        string repo = pathOrRepoId, revision = "main";
        int at = pathOrRepoId.LastIndexOf('@');
        if (at > 0) { repo = pathOrRepoId[..at]; revision = pathOrRepoId[(at + 1)..]; }
        if (!HubCache.IsValidRepoId(repo) || pathOrRepoId.StartsWith('.') || pathOrRepoId.StartsWith('/'))
            throw new ModelLoadException($"'{pathOrRepoId}' is neither an existing folder nor a hub repo id (ORG/NAME)");
        options ??= HubOptions.FromEnvironment();
        return options.Offline
            ? FromCache(repo, revision, options)
            : FromHubAsync(repo, revision, options, null, ct).GetAwaiter().GetResult();
    }

    /// <summary>Full path of a file in the model folder, or null when absent.</summary>
    public string? TryGetFile(string name)
    {
        string p = Path.Combine(Directory, name);
        return HubCache.TargetExists(p) ? p : null;
    }

    public HfConfig LoadConfig() => HfConfig.Load(Path.Combine(Directory, "config.json"));

    /// <summary>Memory-maps the weights (sharded or single file). Dispose it when the model is released.</summary>
    public SafetensorsCheckpoint OpenCheckpoint() => SafetensorsCheckpoint.Open(Directory);
}
