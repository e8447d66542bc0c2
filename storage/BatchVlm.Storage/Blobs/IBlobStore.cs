// The one storage interface coordinator and worker read and write images and result files through.
// Implemented by AzureBlobStore (our own Azure Blob REST client) and LocalFolderStore (a folder on disk).
// Keys are '/'-separated paths relative to the store's root (container + optional prefix); they never start
// with '/' and never contain '..' segments (BlobKey.Validate enforces it).
namespace BatchVlm.Storage.Blobs;

/// <summary>One listed blob: its key relative to the store root and its size in bytes.</summary>
public sealed record BlobItem(string Key, long Size, string? ETag = null, DateTimeOffset? LastModified = null);

/// <summary>Blob properties as returned by a HEAD request.</summary>
public sealed record BlobProperties(long Size, string? ETag, string? ContentType, DateTimeOffset? LastModified);

public interface IBlobStore
{
    /// <summary>A human-readable address of the store root (never containing credentials), e.g. az://images/cats.</summary>
    string Describe();

    /// <summary>Create the container (or folder) when missing. Idempotent.</summary>
    Task EnsureContainerAsync(CancellationToken ct = default);

    /// <summary>List every blob whose key starts with <paramref name="prefix"/>, following continuation markers.</summary>
    IAsyncEnumerable<BlobItem> ListAsync(string prefix = "", CancellationToken ct = default);

    /// <summary>Read a whole blob into memory. Throws BlobNotFoundException when it does not exist.</summary>
    Task<byte[]> ReadAllBytesAsync(string key, CancellationToken ct = default);

    /// <summary>Open a blob for streaming reads, optionally a byte range [offset, offset+length).</summary>
    Task<Stream> OpenReadAsync(string key, long offset = 0, long? length = null, CancellationToken ct = default);

    /// <summary>Write a blob, replacing it unless <paramref name="ifNotExists"/> (then returns false when it already existed).
    /// Large content is uploaded in blocks (Put Block + Put Block List).</summary>
    Task<bool> WriteAsync(string key, Stream content, string? contentType = null, bool ifNotExists = false, CancellationToken ct = default);

    /// <summary>Properties of a blob, or null when it does not exist.</summary>
    Task<BlobProperties?> GetPropertiesAsync(string key, CancellationToken ct = default);

    /// <summary>Delete a blob; returns false when it did not exist.</summary>
    Task<bool> DeleteAsync(string key, CancellationToken ct = default);
}

/// <summary>The blob does not exist (HTTP 404 BlobNotFound, or a missing file). Permanent for the item.</summary>
public sealed class BlobNotFoundException(string key, string store)
    : BlobStorageException($"Blob '{key}' not found in {store}", key, statusCode: 404, errorCode: "BlobNotFound", isTransient: false)
{
}
