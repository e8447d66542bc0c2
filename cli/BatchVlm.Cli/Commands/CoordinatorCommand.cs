// `batchvlm coordinator`: runs the coordinator service until SIGTERM/Ctrl+C — the consumers of ShardCompleted /
// ShardFailed / ShardHandedBack on queue batchvlm.coordinator and the lease monitor (expired leases re-sent up to
// Coordinator:MaxAttempts, unsent shards sent, finished jobs closed). All state is in PostgreSQL, so a restarted
// coordinator resumes where the last one stopped; two can run side by side.
using System.CommandLine;
using BatchVlm.Cli.Commands.Hosting;
using Microsoft.Extensions.Hosting;

namespace BatchVlm.Cli.Commands;

public static class CoordinatorCommand
{
    public static Command Create()
    {
        var command = new Command("coordinator", "Run the coordinator: shard outcomes, lease monitor, job completion");
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var config = CliCommon.Configuration();
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            using var host = FleetHost.Build(config, new FleetRoles(Coordinator: true, Worker: []), store);
            await host.RunAsync(CancellationToken.None);
            return 0;
        }));
        return command;
    }
}
