// Transient-versus-permanent classification for database errors and the Polly v8 retry pipeline every database call
// goes through. Transient: Npgsql's own IsTransient (network errors, timeouts), server shutting down / starting up
// (57P01, 57P02, 57P03), too many connections (53300), connection exceptions (08xxx), serialization failures and
// deadlocks (40001, 40P01). Everything else (syntax, constraint violations, bad data) is permanent and thrown at once.
// Follows Npgsql's NpgsqlException.IsTransient and Polly's ResiliencePipeline docs (Polly.Core 8.x).
using System.Net.Sockets;
using Npgsql;
using Polly;
using Polly.Retry;

namespace BatchVlm.Storage.Postgres;

public static class PostgresRetry
{
    /// <summary>Whether retrying the whole operation (a fresh connection and transaction) may succeed.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException pg => pg.IsTransient
            || pg.SqlState is "57P01" or "57P02" or "57P03" or "53300" or "40001" or "40P01"
            || pg.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is SocketException or IOException or TimeoutException,
        SocketException or TimeoutException => true,
        IOException => true,
        _ => false,
    };

    /// <summary>A retry pipeline that keeps retrying transient errors with exponential backoff + jitter until the
    /// options' RetryBudget is spent (the attempt count is derived from it).</summary>
    public static ResiliencePipeline Create(PostgresOptions options, Action<Exception, int, TimeSpan>? onRetry = null)
    {
        var attempts = 0;
        var total = TimeSpan.Zero;
        for (var d = options.RetryFirstDelay; total < options.RetryBudget; attempts++)
        {
            total += d;
            d = TimeSpan.FromTicks(Math.Min(d.Ticks * 2, options.RetryMaxDelay.Ticks));
        }
        return new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && IsTransient(ex)),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryFirstDelay,
                MaxDelay = options.RetryMaxDelay,
                MaxRetryAttempts = Math.Max(1, attempts),
                OnRetry = args =>
                {
                    onRetry?.Invoke(args.Outcome.Exception!, args.AttemptNumber + 1, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }
}
