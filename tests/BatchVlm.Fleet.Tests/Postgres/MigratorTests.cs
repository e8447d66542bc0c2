// Migrations on a fresh database: applied once, in order, recorded in schema_migrations; applying again (or from
// several processes at once, serialised by the advisory lock) changes nothing.
using BatchVlm.Storage.Postgres;
using Npgsql;

namespace BatchVlm.Fleet.Tests.Postgres;

[Collection(FleetStackCollection.Name)]
public sealed class MigratorTests(FleetTestStack stack)
{
    [Fact]
    public void All_EmbeddedMigrations_NumberedWithoutGaps()
    {
        var all = Migrator.All();
        Assert.True(all.Count >= 3);
        Assert.Equal(Enumerable.Range(1, all.Count), all.Select(m => m.Version));
    }

    [Fact]
    public async Task ApplyAsync_ConcurrentlyThenAgain_AppliesEachMigrationOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        var cs = await stack.Fresh("batchvlm_fleet_migrations");
        await using var dataSource = NpgsqlDataSource.Create(cs);
        var first = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => new Migrator(dataSource).ApplyAsync(ct)));
        Assert.Equal(Migrator.All().Select(m => m.Version), first.SelectMany(v => v).Order());
        Assert.Empty(await new Migrator(dataSource).ApplyAsync(ct));

        await using var cmd = dataSource.CreateCommand("SELECT count(*) FROM schema_migrations");
        Assert.Equal((long)Migrator.All().Count, (long)(await cmd.ExecuteScalarAsync(ct))!);
        await using var tables = dataSource.CreateCommand(
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('jobs', 'shards', 'item_errors', 'inspect_results')");
        Assert.Equal(4L, (long)(await tables.ExecuteScalarAsync(ct))!);
    }
}
