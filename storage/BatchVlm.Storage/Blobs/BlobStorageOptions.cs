// Options of the blob stores, bound to the configuration section "Storage" (the section team/BRIEF.md fixed for
// Storage:ConnectionString, so credentials and tuning live together). Every default is documented where it is set.
namespace BatchVlm.Storage.Blobs;

public sealed record BlobStorageOptions
{
    /// <summary>Configuration section these options are bound to.</summary>
    public const string SectionName = "Storage";

    /// <summary>Azure Storage connection string: AccountName/AccountKey[/BlobEndpoint], SharedAccessSignature, or
    /// UseDevelopmentStorage=true. `./batchvlm stack up` writes one for the local Azurite. Default: none.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Blob service URL for Azure AD (bearer token) access when no connection string is given, e.g.
    /// https://myaccount.blob.core.windows.net; the token comes from DefaultAzureCredential. Default: none.</summary>
    public string? AccountUrl { get; init; }

    /// <summary>x-ms-version sent with every request. Default 2025-01-05 (Azurite 3.35 accepts up to 2025-11-05).</summary>
    public string ApiVersion { get; init; } = "2025-01-05";

    /// <summary>Content up to this size is sent with one Put Blob; larger content with Put Block + Put Block List.
    /// Default 8 MiB (images are far smaller; result files may not be).</summary>
    public long SingleUploadThreshold { get; init; } = 8L * 1024 * 1024;

    /// <summary>Size of each block of a block upload. Default 4 MiB (Azure allows up to 4,000 MiB and 50,000 blocks).</summary>
    public int BlockSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>Blocks of one upload sent at the same time; memory held is this × BlockSize. Default 4.</summary>
    public int MaxParallelBlockUploads { get; init; } = 4;

    /// <summary>maxresults of each List Blobs page; null = the service's default (5,000). Default null.</summary>
    public int? ListPageSize { get; init; }

    /// <summary>Connections kept per server by the HTTP handler. Default 64.</summary>
    public int MaxConnectionsPerServer { get; init; } = 64;

    /// <summary>Retry and timeout policy for every request.</summary>
    public BlobRetryOptions Retry { get; init; } = new();
}

/// <summary>Retry policy (Polly v8) for blob requests, bound to "Storage:Retry".</summary>
public sealed record BlobRetryOptions
{
    /// <summary>Retries after the first attempt; 0 disables retrying. Default 6 (≈ 25 s of backoff in the worst case
    /// with the defaults below, enough to ride out an Azurite or network restart).</summary>
    public int MaxRetries { get; init; } = 6;

    /// <summary>First backoff delay; doubles each retry, with jitter. Default 200 ms.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Upper bound of one backoff delay. Default 10 s.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A Retry-After longer than this is cut to it. Default 60 s.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Time limit of one attempt (until the response headers for streaming reads, the whole exchange
    /// otherwise); an attempt that runs out is retried. Default 100 s.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(100);
}
