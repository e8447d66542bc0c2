// The retry pipeline every blob request runs through (Polly v8, Polly.Core 8.9.1): an outer retry with exponential
// backoff and jitter that honours Retry-After, around an inner per-attempt timeout. Only transient failures are
// retried (STYLE.md: classify every failure): 408, 429, 500, 502, 503, 504, attempt timeouts, connection resets and
// other HttpRequestException/IOException. Permanent errors (400, 403, 404, 409 ...) surface at once.
using BatchVlm.Storage.Blobs;
using BatchVlm.Storage.Configuration;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace BatchVlm.Storage.Resilience;

public static class BlobResilience
{
    /// <summary>Whether an HTTP status from Azure Blob storage is worth retrying.</summary>
    public static bool IsTransientStatus(int status) => status is 408 or 429 or 500 or 502 or 503 or 504;

    /// <summary>Whether an exception thrown by one attempt is worth retrying.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        BlobStorageException e => e.IsTransient,
        TimeoutRejectedException => true,
        HttpRequestException => true,
        IOException => true,
        _ => false,
    };

    /// <summary>Build the pipeline: retry (outer, <see cref="BlobRetryOptions.MaxRetries"/>) around a timeout (inner,
    /// <see cref="BlobRetryOptions.AttemptTimeout"/>). The caller's cancellation is never retried.</summary>
    public static ResiliencePipeline CreatePipeline(BlobRetryOptions options, ILogger logger, TimeProvider? timeProvider = null)
    {
        var builder = new ResiliencePipelineBuilder();
        if (timeProvider is not null)
            builder.TimeProvider = timeProvider;
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e && !args.Context.CancellationToken.IsCancellationRequested && IsTransient(e)),
                DelayGenerator = args =>
                {
                    if (args.Outcome.Exception is BlobStorageException { RetryAfter: { } asked })
                    {
                        var delay = asked < TimeSpan.Zero ? TimeSpan.Zero : asked > options.MaxRetryAfter ? options.MaxRetryAfter : asked;
                        return ValueTask.FromResult<TimeSpan?>(delay);
                    }
                    return ValueTask.FromResult<TimeSpan?>(null);
                },
                OnRetry = args =>
                {
                    logger.LogWarning("Blob request failed (attempt {Attempt}), retrying in {Delay} ms: {Reason}",
                        args.AttemptNumber + 1, (int)args.RetryDelay.TotalMilliseconds,
                        Secrets.Redact(args.Outcome.Exception?.Message));
                    return ValueTask.CompletedTask;
                },
            });
        }
        builder.AddTimeout(options.AttemptTimeout);
        return builder.Build();
    }

    /// <summary>Parse a Retry-After header value: delta seconds or an HTTP date.</summary>
    public static TimeSpan? ParseRetryAfter(System.Net.Http.Headers.RetryConditionHeaderValue? header, DateTimeOffset now)
    {
        if (header is null)
            return null;
        if (header.Delta is { } delta)
            return delta;
        if (header.Date is { } date)
            return date - now;
        return null;
    }
}
