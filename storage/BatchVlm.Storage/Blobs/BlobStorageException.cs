// A failed blob operation, classified transient (retry with backoff: 408, 429, 5xx, timeouts, connection resets) or
// permanent (403, 404, 400 ...: record for the item and go on). The message names the operation, the blob key, the
// store (never a key, SAS or token) and Azure's x-ms-error-code. Classification follows STYLE.md ("classify every
// failure") and Npgsql's NpgsqlException.IsTransient.
namespace BatchVlm.Storage.Blobs;

public class BlobStorageException : Exception
{
    public BlobStorageException(string message, string? key = null, int? statusCode = null, string? errorCode = null,
        bool isTransient = false, TimeSpan? retryAfter = null, Exception? inner = null)
        : base(message, inner)
    {
        Key = key;
        StatusCode = statusCode;
        ErrorCode = errorCode;
        IsTransient = isTransient;
        RetryAfter = retryAfter;
    }

    /// <summary>The blob key the operation was about (relative to the store root), when there was one.</summary>
    public string? Key { get; }

    /// <summary>HTTP status of the failed response; null when no response came (timeout, connection reset, local I/O).</summary>
    public int? StatusCode { get; }

    /// <summary>Azure's x-ms-error-code (BlobNotFound, AuthorizationFailure, ServerBusy ...), when the service sent one.</summary>
    public string? ErrorCode { get; }

    /// <summary>True when retrying the same operation later may succeed.</summary>
    public bool IsTransient { get; }

    /// <summary>The delay the service asked for (Retry-After), when it did.</summary>
    public TimeSpan? RetryAfter { get; }
}
