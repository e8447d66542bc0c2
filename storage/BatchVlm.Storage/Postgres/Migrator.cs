// Versioned schema migrations: the embedded Migrations/NNNN_name.sql files are applied in order, each in its own
// transaction together with its row in schema_migrations, under a session advisory lock so that processes starting
// together (coordinator, several workers) never race. Applying twice is a no-op.
using System.Reflection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BatchVlm.Storage.Postgres;

public sealed class Migrator(NpgsqlDataSource dataSource, ILogger? logger = null)
{
    /// <summary>Advisory lock key ("BVLMMIGR" as ASCII bytes); any fixed 64-bit number works.</summary>
    public const long AdvisoryLockKey = 0x42564C4D4D494752;

    /// <summary>An embedded migration: version number, name, SQL text.</summary>
    public sealed record Migration(int Version, string Name, string Sql);

    /// <summary>Every embedded migration in version order.</summary>
    public static IReadOnlyList<Migration> All()
    {
        var assembly = typeof(Migrator).Assembly;
        const string marker = ".Postgres.Migrations.";
        var list = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            var at = resource.IndexOf(marker, StringComparison.Ordinal);
            if (at < 0 || !resource.EndsWith(".sql", StringComparison.Ordinal))
                continue;
            var file = resource[(at + marker.Length)..^4];            // 0001_jobs_shards_item_errors
            var underscore = file.IndexOf('_');
            if (underscore <= 0 || !int.TryParse(file[..underscore], out var version))
                throw new InvalidOperationException($"Migration resource '{resource}' is not named NNNN_name.sql");
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            list.Add(new Migration(version, file[(underscore + 1)..], reader.ReadToEnd()));
        }
        list.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < list.Count; i++)
        {
            if (list[i].Version == list[i - 1].Version)
                throw new InvalidOperationException($"Two migrations share version {list[i].Version}");
        }
        return list;
    }

    /// <summary>Apply every pending migration; returns the versions applied by this call.</summary>
    public async Task<IReadOnlyList<int>> ApplyAsync(CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_lock(@k)", conn))
        {
            lockCmd.Parameters.AddWithValue("k", AdvisoryLockKey);
            await lockCmd.ExecuteNonQueryAsync(ct);
        }
        try
        {
            await using (var create = new NpgsqlCommand(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", conn))
                await create.ExecuteNonQueryAsync(ct);

            var applied = new HashSet<int>();
            await using (var select = new NpgsqlCommand("SELECT version FROM schema_migrations", conn))
            await using (var reader = await select.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                    applied.Add(reader.GetInt32(0));
            }

            var done = new List<int>();
            foreach (var migration in All())
            {
                if (applied.Contains(migration.Version))
                    continue;
                await using var tx = await conn.BeginTransactionAsync(ct);
                await using (var apply = new NpgsqlCommand(migration.Sql, conn, tx))
                    await apply.ExecuteNonQueryAsync(ct);
                await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (version, name) VALUES (@v, @n)", conn, tx))
                {
                    record.Parameters.AddWithValue("v", migration.Version);
                    record.Parameters.AddWithValue("n", migration.Name);
                    await record.ExecuteNonQueryAsync(ct);
                }
                await tx.CommitAsync(ct);
                logger?.LogInformation("Applied migration {Version:D4}_{Name}", migration.Version, migration.Name);
                done.Add(migration.Version);
            }
            return done;
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@k)", conn);
            unlock.Parameters.AddWithValue("k", AdvisoryLockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }
}
