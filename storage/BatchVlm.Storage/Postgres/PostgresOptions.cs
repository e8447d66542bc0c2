// Options for the PostgreSQL connection, bound to the "Postgres" section; the connection string itself comes from
// ConnectionStrings:Postgres (written by scripts/stack.sh into the settings file). Follows Npgsql's data-source model:
// one pooled NpgsqlDataSource per process.
using Microsoft.Extensions.Configuration;

namespace BatchVlm.Storage.Postgres;

public sealed record PostgresOptions
{
    public const string SectionName = "Postgres";
    public const string ConnectionStringName = "Postgres";

    /// <summary>Connection string (from ConnectionStrings:Postgres). Null: no database configured.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Maximum pooled connections per process. Default 20.</summary>
    public int MaxPoolSize { get; init; } = 20;

    /// <summary>Command timeout in seconds. Default 60 (a shard commit COPYs a few thousand rows at most).</summary>
    public int CommandTimeoutSeconds { get; init; } = 60;

    /// <summary>How long transient errors (server restarting, connection refused, deadlock) are retried before the
    /// operation fails. Default 90 s: survives a 20 s outage plus restart and crash recovery with margin.</summary>
    public TimeSpan RetryBudget { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>First retry delay; doubles (with jitter) up to <see cref="RetryMaxDelay"/>. Default 200 ms.</summary>
    public TimeSpan RetryFirstDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest delay between two retries. Default 3 s.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Apply pending migrations when a process opens the database. Default true.</summary>
    public bool MigrateOnStart { get; init; } = true;

    public static PostgresOptions From(IConfiguration configuration)
    {
        var options = configuration.GetSection(SectionName).Get<PostgresOptions>() ?? new PostgresOptions();
        var cs = configuration.GetConnectionString(ConnectionStringName);
        return string.IsNullOrWhiteSpace(options.ConnectionString) && !string.IsNullOrWhiteSpace(cs)
            ? options with { ConnectionString = cs }
            : options;
    }
}
