// `batchvlm retry JOB [--shard-size N]`: re-runs only the job's failed items (item_errors) as new shards; items that
// succeed move from item_errors to the result table. Prints the job id alone on the last line.
using System.CommandLine;
using BatchVlm.Cli.Commands.Hosting;
using BatchVlm.Coordinator;
using Microsoft.Extensions.DependencyInjection;

namespace BatchVlm.Cli.Commands;

public static class RetryCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("JOB") { Description = "Job id" };
        var shardSize = new Option<int?>("--shard-size") { Description = "Items per new shard (default: the job's shard size)" };
        var command = new Command("retry", "Re-run a job's failed items") { job, shardSize };
        command.AllowConfigFlags().SetAction((parse, ct) => CliCommon.Guard(async () =>
        {
            var id = CliCommon.ParseJob(parse.GetValue(job)!);
            var config = CliCommon.Configuration();
            await using var store = await FleetHost.OpenStoreAsync(config, ct: ct);
            using var host = FleetHost.Build(config, FleetRoles.SenderOnly, store);
            await host.StartAsync(ct);
            try
            {
                var items = await host.Services.GetRequiredService<JobSubmitter>().RetryAsync(id, parse.GetValue(shardSize), ct);
                Console.WriteLine(items == 0 ? "No failed items to retry" : $"Retrying {items} failed items");
            }
            finally
            {
                await host.StopAsync(CancellationToken.None);
            }
            Console.WriteLine(id);
            return 0;
        }));
        return command;
    }
}
